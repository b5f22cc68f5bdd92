# A firmware update's download (evse/ocpp/firmware.py has the update and its states): one try,
# streamed from evse.http into evse.bundle's Stager; loaded for it and dropped after, so that
# the job that waits beside the session (retrieveDate, the transactions' end) holds less. Also
# the download boot's whole work (app.py: boot.fetching()).
import gc

from evse import drop
from evse.files import load_json, save_json
from evse.log import log

_FILE = const("data/fw.json")
_TIMEOUT_MS = const(20000)  # connect and each read of the download
_IMAGE = const(0xE9)  # the first byte of an ESP32 application image
_LINK_MS = const(30000)  # a download boot's wait for Wi-Fi before its one try
# The most bytes a bundle file may have: evse.bundle's 1 MiB of files plus its header lines
# (200 files x 200 bytes) and a margin. A larger Content-Length is refused unread; a body
# passing it ends the read (evse.http's limit).
_LIMIT = const(1114112)
_DEADLINE_MS = const(900000)  # the whole download: a server trickling bytes holds no slot longer


def _sink(stager, bad, error, digest):
    # The download's blocks into the stager, until it finds a fault (kept in bad[0]); bad[2]:
    # the heap's peak use seen at a block (the figure issue 14 asks for, logged at the end).
    # `digest`: a signed update's SHA-256 of the whole file, every block, bad or not.
    def sink(mv):
        a = gc.mem_alloc()
        if a > bad[2]:
            bad[2] = a
        if digest is not None:
            digest.update(mv)
        if bad[0] is None:
            try:
                if bad[1]:
                    bad[1] = False
                    if mv[0] == _IMAGE:  # no OTA writer in this firmware (evse/hal): refused
                        raise error("an ESP32 image")
                stager.feed(mv)
            except error as e:
                bad[0] = e
        if bad[0] is not None and digest is None:
            # an unsigned bundle found bad: the rest is not read (raised out of evse.http,
            # caught by fetch). A signed one is read on (to the limit): its signature is
            # checked first, over the whole file (InvalidSignature before InstallationFailed).
            raise bad[0]
    return sink


def _slot():
    # The slot to stage into, emptied (evse/install.py, loaded for it only: the stager loads it
    # again for an abort).
    from evse import install
    drop("evse.install")
    return install.stage_dir()


def cadata():
    """The CA of the download when it is https:// (wstls.https_ca: the CA store's), else None."""
    from evse.ocpp import wstls
    drop("evse.ocpp.wstls")
    return wstls.https_ca()


async def fetch(st, cadata):
    """One try: the bundle downloaded into the slot -> its version, or "!" and why the bundle was
    refused. HttpError or OSError (the flash, the overall deadline) when the download failed. A
    bundle found bad is not read further, but the fault is the installation's all the same
    (TC_044_3's order: Downloaded, Installing, InstallationFailed)."""
    from evse import bundle, http
    # Held by this call only: http and bundle go with the download (on a 32-bit .mpy build
    # their code is ~7.5 KB of heap, the most of the whole update).
    drop("evse.http")
    drop("evse.bundle")
    st["tries"] -= 1
    save_json(_FILE, st)  # this try counts even if a power cut ends it
    stager = None
    bad = [None, True, 0]  # the bundle's fault, the next block is the first, the heap's peak
    if "requestId" in st:  # a signed update: the signature covers the whole file
        import hashlib
        digest = hashlib.sha256()
    else:
        digest = None
    try:
        try:
            stager = bundle.Stager(_slot())
        except ValueError as e:  # install.stage_dir(): an update still on trial, no slot free
            return "!" + str(e)[:40]
        gc.collect()  # what the imports and the slot's clearing left: a compact heap to start
        import asyncio
        try:
            n = await asyncio.wait_for_ms(http.get(st["loc"], _sink(stager, bad, bundle.BundleError, digest),
                                                   cadata, _TIMEOUT_MS, _LIMIT), _DEADLINE_MS)
        except bundle.BundleError:  # the sink stopped the read at the bundle's fault (bad[0])
            n = -1
        except asyncio.TimeoutError:
            raise OSError("download over %d s" % (_DEADLINE_MS // 1000)) from None
        log("firmware", "downloaded", n, "peak", bad[2], "bad", repr(bad[0]))
        if digest is not None:  # kept with the state: a download boot's session verifies too
            import binascii
            st["sha"] = binascii.hexlify(digest.digest()).decode()
        if bad[0] is not None:
            return "!" + str(bad[0])[:40]
        try:
            v = stager.finish()
        except bundle.BundleError as e:  # ended before its trailer
            return "!" + str(e)[:40]
        stager = None  # complete: kept for the installation
        return v
    except http.HttpError as e:
        raise OSError(str(e)) from None  # one kind of failure for the caller, not the class
    finally:
        if stager is not None:
            stager.abort()


def _signature(st):
    """Whether the download boot may switch: an unsigned update yes; a signed one when its
    signature verifies ("sig": 1) and no installDateTime waits (the session schedules that);
    a bad signature is recorded ("sig": 0) for the session to report InvalidSignature."""
    if "requestId" not in st:
        return True
    from evse.ocpp import signed_firmware
    drop("evse.ocpp.signed_firmware")
    st["sig"] = int(signed_firmware.verified(None, st))
    return st["sig"] == 1 and "inst" not in st


async def link(ms=_LINK_MS):
    """-> whether the Wi-Fi station is connected, waited for up to `ms`. boot.py's _wifi()
    only starts the connection; the session's connect loop retries until it is up, but a
    download boot has one try, which a lookup before the link would waste. No `network`
    module (the unix port) or no active station (no "wifi" in config.json): True, nothing to
    wait for."""
    try:
        import network
    except ImportError:
        return True
    import asyncio
    from time import ticks_diff, ticks_ms
    sta = network.WLAN(network.STA_IF)
    t = ticks_ms()
    while sta.active() and not sta.isconnected():
        if ticks_diff(ticks_ms(), t) >= ms:
            return False  # the try goes ahead: it fails and counts as any other
        await asyncio.sleep_ms(200)
    return True


async def download_boot():
    """The download boot (app.py, when boot.fetching()): one try and, for a good bundle, the
    switch to it too: no transaction runs (the session waited for that before this boot) and
    none can start here, and the session's heap, which had no room for the download, has none
    for install.py either. The outcome is recorded, then Reboot: into the new version, which
    sends the Downloaded and Installing owed ("owe"), or the old one, which goes on from "got"
    or from the tries left. No central system hears of this boot until then."""
    from evse import Reboot
    st = load_json(_FILE)
    if type(st) is dict:
        st.pop("dl", None)
        save_json(_FILE, st)  # first: a crash or a cut below boots the session next
        log("firmware", "download boot", st["tries"])
        try:
            if not await link():
                log("firmware", "wifi", "not connected")
            got = await fetch(st, cadata() if st["loc"].startswith("https://") else None)
            if got[0] != "!" and _signature(st):
                from evse import install
                try:
                    install.switch(got, request_id=st.get("requestId"))
                    st["st"] = "Installing"
                    st["owe"] = 1
                    log("firmware", "installed", got)
                except Exception as e:  # noqa: BLE001 - nothing switched: InstallationFailed
                    got = "!" + str(e)[:40]
            st["got"] = got
            save_json(_FILE, st)
        except Exception as e:  # noqa: BLE001 - the try counted; the session goes on from there
            log("firmware", "download", repr(e)[:80], "tries_left", st["tries"])
    raise Reboot("firmware")
