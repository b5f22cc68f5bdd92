# The firmware update under way (UpdateFirmware: operations/UpdateFirmware.py starts it): one
# asyncio task, held in cp.firmware (an attribute set only once an update runs: one more in
# ChargePoint's dict for every session would grow it), that holds this module, evse.http and the bundle stager
# only while an update runs; nothing of it is resident in a normal session.
#
# Its state is on flash, data/fw.json {"loc", "at" (retrieveDate, unix s), "tries" (left),
# "every" (retryInterval, s), "st" (the last status reported)}, written before each step, so a
# power cut anywhere resumes at boot (once BootNotification is Accepted: operations/
# BootNotification.py starts it when the file is there): waiting for
# retrieveDate or downloading = the download again from the start with the tries left (the try
# the cut ended counts: a bundle that crashes the board mid-download must not loop forever);
# Downloaded = the staged files are not trusted after a cut, so downloaded again; Installing =
# the switch was made (or the cut came just before it): the install code (evse/install.py)
# reports Installed or InstallationFailed after the reboot, this job only forgets its file.
#
# The statuses, in order (ocpp16-profiles.md section 5), each through cp.notify:
#   Downloading            once, before the first try (and again after a resume)
#   DownloadFailed         after the last try failed at the HTTP level (no answer, 404, 500,
#                          a body cut short: Content-Length not reached, a reset) or at once
#                          for a location that is not http:// nor https:// (TC_044_2: "instant
#                          failure may skip Downloading")
#   InstallationFailed     the bytes arrived but are not a bundle that verifies (bad sha256 or
#                          size of a file or the whole, a body without Content-Length that ended
#                          early: only the bundle's own sizes tell), or an ESP32 image on a
#                          board without an OTA writer; the old version keeps running
#   Downloaded             all the bytes are staged
#   Installing             no transaction runs (the idle connectors were made Unavailable at
#                          Downloaded so none starts, the others become so when theirs ends:
#                          the errata's "never cut a transaction"); the bundle is verified, the
#                          switch made, the board reboots (through cp.reset: Reset.py's poll
#                          raises Reboot out of the app)
# Retries: `retries` is the number of tries (OCPP: "how many times Charge Point must try to
# download the firmware before giving up"), 0 or absent = one try; `retryInterval` absent: see
# operations/UpdateFirmware.py.
#
# A signed update (SignedUpdateFirmware, security whitepaper) is the same job with its
# "requestId" in the state: its statuses go as SignedFirmwareStatusNotification {status,
# requestId}, and the file is hashed (SHA-256) as it streams in. After Downloaded the signature
# (data/fwsig.json, written by operations/SignedUpdateFirmware.py with the key of the signing
# certificate it checked: no certificate is read then) is verified against that digest by
# ocpp/signed_firmware.py (its code held only for that):
# SignatureVerified, InstallScheduled until installDateTime if there is one, and on to the
# install; or InvalidSignature (+ security event InvalidFirmwareSignature) and the staged files
# go. A power cut after Downloaded downloads (and hashes) again, as above.
import asyncio
import gc
import time

from evse import drop, ocpp
from evse.files import load_json, remove, save_json
from evse.log import log

_FILE = const("data/fw.json")
_WAIT_S = const(10)  # the longest sleep before retrieveDate: the clock may be set meanwhile
_PACE_MS = const(1000)  # the wait for the end of the transactions: the hardware loop's pace is enough
_FLUSH_MS = const(10000)  # at most this long for the notifications before Installing to go
_TIMEOUT_MS = const(20000)  # connect and each read of the download
_IMAGE = const(0xE9)  # the first byte of an ESP32 application image
_SIG = const("data/fwsig.json")  # a signed update's signing key and signature (SignedUpdateFirmware.py)


def state():
    st = load_json(_FILE)
    return st if type(st) is dict and type(st.get("st")) is str else None


def status():
    """The status a triggered FirmwareStatusNotification reports: Idle when nothing runs. A
    signed update's SignatureVerified and InstallScheduled are not in 1.6's enum: Downloaded
    (what they follow) is."""
    st = state()
    if not st:
        return "Idle"
    return "Downloaded" if st["st"] in ("SignatureVerified", "InstallScheduled") else st["st"]


def start(cp, st=None):
    """Start the job (a new UpdateFirmware: st, saved first) or resume the saved one (boot). A
    job already running is cancelled; the new one waits for its end (its staged files gone)."""
    old = getattr(cp, "firmware", None)
    if old is not None:
        old.cancel()
    if st is not None:
        save_json(_FILE, st)
    cp.firmware = asyncio.create_task(run(cp, old))


def _message(st, status):
    # (action, payload) of a status: a signed update's carry its requestId
    if st and "requestId" in st:
        return "SignedFirmwareStatusNotification", {"status": status, "requestId": st["requestId"]}
    return "FirmwareStatusNotification", {"status": status}


def _set(cp, st, status):
    st["st"] = status
    save_json(_FILE, st)
    log("firmware", "status", status)
    cp.notify(*_message(st, status))


def _done(cp, status, st=None):
    # The end of an update that failed: the old version runs on and nothing is pending.
    remove(_FILE)
    remove(_SIG)
    log("firmware", "status", status)
    cp.notify(*_message(st, status))


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
    return sink


def _slot():
    # The slot to stage into, emptied (evse/install.py, loaded for it only: the stager loads it
    # again for an abort).
    from evse import install
    drop("evse.install")
    return install.stage_dir()


async def _download(cp, st):
    """The bundle staged -> (its Stager, None or the BundleError it raised, a signed update's
    SHA-256 digest of the file or None); None when the update ended (its status sent). A bundle found bad is read to its end all the same (and
    dropped): the download worked, and the fault is the installation's (TC_044_3's order)."""
    from evse import bundle, http
    # Held by this call only: http and bundle go with the download (on a 32-bit .mpy build
    # their code is ~7.5 KB of heap, the most of the whole update).
    drop("evse.http")
    drop("evse.bundle")
    url = st["loc"]
    if not url.startswith("http://") and not url.startswith("https://"):
        _done(cp, "DownloadFailed", st)
        return None
    cfg = load_json("config.json", {})
    cadata = cfg.get("ca_cert") if type(cfg) is dict else None
    del cfg
    _set(cp, st, "Downloading")
    while True:
        st["tries"] -= 1
        save_json(_FILE, st)  # this try counts even if a power cut ends it
        stager = None
        bad = [None, True, 0]  # the bundle's fault, the next block is the first, the heap's peak
        if "requestId" in st:
            import hashlib
            digest = hashlib.sha256()  # this try's: the signature covers the whole file
        else:
            digest = None
        try:
            stager = bundle.Stager(_slot())
            gc.collect()  # what the imports and the slot's clearing left: a compact heap to start
            n = await http.get(url, _sink(stager, bad, bundle.BundleError, digest), cadata, _TIMEOUT_MS)
            log("firmware", "downloaded", n, "peak", bad[2], "bad", repr(bad[0]))
            return stager, bad[0], digest and digest.digest()
        except (http.HttpError, OSError) as e:  # OSError: the flash, while staging
            if stager is not None:
                stager.abort()
            log("firmware", "download", repr(e)[:80], "tries_left", st["tries"])
            if st["tries"] <= 0:
                _done(cp, "DownloadFailed", st)
                return None
        except ValueError as e:  # install.stage_dir(): an update still on trial, no slot free
            log("firmware", "stage", repr(e)[:80])
            _done(cp, "InstallationFailed", st)
            return None
        except BaseException:  # cancelled by a new UpdateFirmware: nothing staged stays
            if stager is not None:
                stager.abort()
            raise
        await asyncio.sleep(st["every"])


def _idle(cp):
    """True when no transaction runs; makes every connector Unavailable meanwhile (one with a
    transaction: Scheduled, it becomes so when the transaction ends)."""
    free = True
    for p in cp.ports:
        if p.machine.available and p.machine.scheduled is None:
            p.apply("availability", False)
        if p.machine.tx:
            free = False
    return free


def _restore(cp):
    # The availability the central system set (data/avail.json) again, after a failure.
    for p in cp.ports:
        p.apply("availability", cp.availability.operative[p.id])


async def _installing(cp, st):
    # Installing must reach the central system before the reboot: the notifications queued
    # before it go first (bounded), then this one is sent here and its answer awaited.
    st["st"] = "Installing"
    save_json(_FILE, st)
    log("firmware", "status", "Installing")
    t0 = time.ticks_ms()
    while cp.outbox and time.ticks_diff(time.ticks_ms(), t0) < _FLUSH_MS:
        await asyncio.sleep_ms(100)
    rpc = cp.rpc
    if rpc is None:
        return
    try:
        await cp.call(rpc, *_message(st, "Installing"))
    except Exception as e:  # noqa: BLE001 - the update goes on; the boot after it reports
        log("firmware", "notify", repr(e)[:60])


async def run(cp, old=None):
    stager = None
    changed = False
    st = None
    try:
        if old is not None:
            try:
                await old
            except BaseException:  # noqa: BLE001 - its CancelledError: it is over, that is all
                pass
            if asyncio.current_task() is not cp.firmware:  # replaced in turn while it waited
                return
        st = state()
        if st is None:
            remove(_FILE)
            remove(_SIG)
            return
        if st["st"] == "Installing":
            # The boot after the switch: install.py reports Installed or InstallationFailed.
            # Unless a power cut came before the switch: nothing does then, so this job.
            from evse import install
            b = install.status()
            drop("evse.install")
            if b is None or (b["state"] != "trial" and not b.get("failed")):
                _done(cp, "InstallationFailed", st)
            else:
                remove(_FILE)
                remove(_SIG)
            return
        if "requestId" in st and st["st"] == "Idle" and ocpp.now() < st["at"]:
            _set(cp, st, "DownloadScheduled")  # the signed statuses have one for this wait
        while ocpp.now() < st["at"]:
            await asyncio.sleep(min(st["at"] - ocpp.now(), _WAIT_S))
        if st["tries"] <= 0:  # a power cut ended the last try
            _done(cp, "DownloadFailed", st)
            return
        got = await _download(cp, st)
        if got is None:
            return
        stager, bad, digest = got
        del got
        _set(cp, st, "Downloaded")
        if digest is not None:  # a signed update: the signature before anything installs
            from evse.ocpp import signed_firmware
            drop("evse.ocpp.signed_firmware")
            if not signed_firmware.verified(cp, digest):
                _done(cp, "InvalidSignature", st)
                return
            _set(cp, st, "SignatureVerified")
            if st.get("inst", 0) > ocpp.now():  # its installDateTime
                _set(cp, st, "InstallScheduled")
                while ocpp.now() < st["inst"]:
                    await asyncio.sleep(min(st["inst"] - ocpp.now(), _WAIT_S))
        if bad is None:  # a bundle already refused installs nothing: no need to wait
            changed = True
            while not _idle(cp):
                await asyncio.sleep_ms(_PACE_MS)
        await _installing(cp, st)
        try:
            if bad is not None:
                raise bad
            version = stager.finish()
            from evse import install
            install.switch(version, request_id=st.get("requestId"))
            stager = None
        except Exception as e:  # noqa: BLE001 - BundleError, or the flash: nothing switched
            log("firmware", "install", repr(e)[:80])
            _done(cp, "InstallationFailed", st)
            return
        remove(_SIG)
        changed = False  # the reboot brings the connectors back as avail.json says
        log("firmware", "installed", version)
        cp.reset = ("firmware", time.ticks_ms())  # Reset.py's poll: Reboot out of the app
    except Exception as e:  # noqa: BLE001 - no heap for a module, the flash...: the update ends
        log("firmware", "error", repr(e)[:80])  # reported, the old version runs on
        _done(cp, "InstallationFailed" if changed else "DownloadFailed", st)
    finally:
        if stager is not None:
            stager.abort()
        if changed:
            _restore(cp)
        if asyncio.current_task() is cp.firmware:
            cp.firmware = None
