# The firmware update under way (UpdateFirmware: operations/UpdateFirmware.py starts it): one
# asyncio task, held in cp.firmware (an attribute set only once an update runs: one more in
# ChargePoint's dict for every session would grow it), that holds this module, evse.http and
# the bundle stager only while an update runs; nothing of it is resident in a normal session.
#
# The download itself is evse/ocpp/download.py, loaded for each try. Where it runs: beside the session when the heap has room for it (_NEED: on a
# 32-bit .mpy build the session holds ~78 KB once connected and the download ~13 KB more), else
# in a download boot: the board reboots, app.py (boot.fetching()) runs only this download, no
# OCPP session, no connector (the board's relays open), records the outcome and reboots into
# the session, which goes on from there. Like the installation, a download boot waits for the
# end of every transaction (connectors Unavailable meanwhile), and it never repeats itself: its
# flag is cleared before the download, so a crash or a cut there boots the session next.
#
# Its state is on flash, data/fw.json {"loc", "at" (retrieveDate, unix s), "tries" (left),
# "every" (retryInterval, s), "st" (the last status reported), "got" (once downloaded: the
# bundle's version, or "!" and why it was refused), "dl" (the next boot is a download boot)},
# written before each step, so a power cut anywhere resumes at boot (once BootNotification is
# Accepted: operations/BootNotification.py starts it when the file is there): before "got",
# the download again from the start with the tries left (the try the cut ended counts: a
# bundle that crashes the board mid-download must not loop forever); with "got", the staged
# slot is complete (every file closed, the whole checked) and the update goes on to install it;
# Installing = the switch was made (by the session, or by a download boot: "owe" = its
# Downloaded and Installing still to send) (or the cut came just before it): the install code
# (evse/install.py) reports Installed or InstallationFailed after the reboot, this job only
# forgets its file (or reports InstallationFailed when the switch never happened).
#
# The statuses, in order (ocpp16-profiles.md section 5), each through cp.notify:
#   Downloading            before the first try (and again after a resume or a download boot)
#   DownloadFailed         after the last try failed at the HTTP level (no answer, 404, 500,
#                          a body cut short: Content-Length not reached, a reset) or at once
#                          for a location that is not http:// nor https:// (TC_044_2: "instant
#                          failure may skip Downloading")
#   Downloaded             all the bytes arrived
#   Installing             no transaction runs (the connectors were made Unavailable so none
#                          starts, one with a transaction when it ends: the errata's "never cut
#                          a transaction"); the switch is made, the board reboots (through
#                          cp.reset: Reset.py's poll raises Reboot out of the app)
#   InstallationFailed     after Installing: the bytes are not a bundle that verifies (bad
#                          sha256 or size of a file or the whole, a body without Content-Length
#                          that ended early: only the bundle's own sizes tell), or an ESP32
#                          image on a board without an OTA writer; the old version keeps running
#                          and the connectors are Available again
# Retries: `retries` is the number of tries (OCPP: "how many times Charge Point must try to
# download the firmware before giving up"), 0 or absent = one try; `retryInterval` absent: see
# operations/UpdateFirmware.py.
#
# A signed update (SignedUpdateFirmware, security whitepaper) is the same job with its
# "requestId" in the state: its statuses go as SignedFirmwareStatusNotification {status,
# requestId} (DownloadScheduled while it waits for retrieveDateTime), and the download records
# the file's SHA-256 ("sha"). After Downloaded the signature (data/fwsig.json, the key of the
# signing certificate operations/SignedUpdateFirmware.py checked at the CALL) is verified
# against it by ocpp/signed_firmware.py, loaded for that only (its code there, not here: this
# module is in the heap through every update, signed or not): SignatureVerified,
# InstallScheduled until installDateTime ("inst") if there is one, and on to the install; or
# InvalidSignature (+ security event InvalidFirmwareSignature), nothing installed. A download
# boot verifies before its switch and records the outcome ("sig": 1 or 0).
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
_NEED = const(16384)  # free heap for a download beside the session (measured ~13 KB, .mpy)
_SIG = const("data/fwsig.json")  # a signed update's signing key and signature (SignedUpdateFirmware.py)


def state():
    st = load_json(_FILE)
    return st if type(st) is dict and type(st.get("st")) is str else None


def status():
    """The status a triggered FirmwareStatusNotification reports: Idle when nothing runs. A
    signed update's SignatureVerified, InstallScheduled and DownloadScheduled are not in 1.6's
    enum: Downloaded, or Idle before the download, are."""
    st = state()
    if not st or st["st"] == "DownloadScheduled":
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


async def _until_idle(cp):
    # Until no transaction runs (connectors Unavailable meanwhile); cancelled (a new
    # UpdateFirmware): the connectors as they were.
    try:
        while not _idle(cp):
            await asyncio.sleep_ms(_PACE_MS)
    except BaseException:
        _restore(cp)
        raise


async def _flush(cp, status=None, st=None):
    # Before a reboot: the notifications queued go first (bounded), then `status`, sent here
    # and its answer awaited, so that the central system has it before the board goes.
    t0 = time.ticks_ms()
    while cp.outbox and time.ticks_diff(time.ticks_ms(), t0) < _FLUSH_MS:
        await asyncio.sleep_ms(100)
    rpc = cp.rpc
    if status is None or rpc is None:
        return
    try:
        await cp.call(rpc, *_message(st, status))
    except Exception as e:  # noqa: BLE001 - the update goes on; the boot after it reports
        log("firmware", "notify", repr(e)[:60])


def _switched(cp, st):
    # The boot after the switch: install.py reports Installed or InstallationFailed (after
    # what a download boot owes). Unless a power cut came before the switch: nothing does
    # then, so this job. app/boot.json read here as install.py's status() reads it, without
    # loading install.py into a session's heap.
    if st.get("owe"):
        for s in ("Downloaded", "SignatureVerified", "Installing") if "requestId" in st else ("Downloaded", "Installing"):
            cp.notify(*_message(st, s))
    b = load_json("app/boot.json")
    if type(b) is not dict or (b.get("state") != "trial" and not b.get("failed")):
        _done(cp, "InstallationFailed", st)
    else:
        remove(_FILE)
        remove(_SIG)


async def _get(cp, st):
    """The download, tries and retryInterval -> True once st["got"] is set; False when the
    update ended (its status sent) or a download boot comes next."""
    loc = st["loc"]
    if not loc.startswith("http://") and not loc.startswith("https://"):
        _done(cp, "DownloadFailed", st)
        return False
    cadata = None
    if loc.startswith("https://"):  # the CA store's (wstls.https_ca), read once for the tries
        from evse.ocpp import download
        drop("evse.ocpp.download")
        cadata = download.cadata()
        del download
    if st["st"] == "Downloading" and st["tries"] > 0:
        await asyncio.sleep(st["every"])  # after a try a reboot ended (or a download boot's)
    told = False
    while True:
        if st["tries"] <= 0:
            _done(cp, "DownloadFailed", st)
            return False
        if not told:
            _set(cp, st, "Downloading")
            told = True
        gc.collect()
        if gc.mem_free() < _NEED:
            await _until_idle(cp)
            st["dl"] = 1
            save_json(_FILE, st)
            await _flush(cp)
            log("firmware", "download boot", st["tries"])
            cp.reset = ("firmware", time.ticks_ms())  # Reset.py's poll: Reboot
            return False
        try:
            from evse.ocpp import download
            drop("evse.ocpp.download")
            st["got"] = await download.fetch(st, cadata)
            return True
        except OSError as e:  # the download (HttpError) or the flash while staging
            log("firmware", "download", repr(e)[:80], "tries_left", st["tries"])
            if st["tries"] <= 0:
                _done(cp, "DownloadFailed", st)
                return False
        await asyncio.sleep(st["every"])


async def _install(cp, st):
    got = st["got"]
    _set(cp, st, "Downloaded")
    if "requestId" in st:  # a signed update: its signature, then its installDateTime
        from evse.ocpp import signed_firmware
        drop("evse.ocpp.signed_firmware")
        if not await signed_firmware.checked(cp, st, _set):
            _done(cp, "InvalidSignature", st)
            return
    if got[0] != "!":  # a bundle already refused installs nothing: no need to wait
        await _until_idle(cp)
    st["st"] = "Installing"
    save_json(_FILE, st)
    log("firmware", "status", "Installing")
    await _flush(cp, "Installing", st)
    try:
        if got[0] == "!":
            raise ValueError(got[1:])
        from evse import install
        install.switch(got, request_id=st.get("requestId"))
    except Exception as e:  # noqa: BLE001 - a refused bundle, or the flash: nothing switched
        log("firmware", "install", repr(e)[:80])
        _restore(cp)
        _done(cp, "InstallationFailed", st)
        return
    remove(_SIG)
    log("firmware", "installed", got)  # the reboot brings the connectors back as avail.json says
    cp.reset = ("firmware", time.ticks_ms())  # Reset.py's poll: Reboot out of the app


async def run(cp, old=None):
    # In small functions: each is one block of the heap, and a fragmented one finds small
    # blocks where one large one would fail.
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
        elif st["st"] == "Installing":
            _switched(cp, st)
        else:
            if "requestId" in st and st["st"] == "Idle" and ocpp.now() < st["at"]:
                _set(cp, st, "DownloadScheduled")  # the signed statuses have one for this wait
            while ocpp.now() < st["at"]:
                await asyncio.sleep(min(st["at"] - ocpp.now(), _WAIT_S))
            if "got" in st or await _get(cp, st):
                await _install(cp, st)
    except Exception as e:  # noqa: BLE001 - no heap for a module, the flash...: the update ends
        log("firmware", "error", repr(e)[:80])  # reported, the old version runs on
        _done(cp, "InstallationFailed" if st and "got" in st else "DownloadFailed", st)
    finally:
        if cp.reset is None:
            # No switch (or download boot) with its reboot under way: the update failed, was
            # replaced or cancelled anywhere (the flash, the catch-all above, a new request
            # during a flush), so the connectors it made Unavailable come back as the central
            # system set them. With nothing touched this changes nothing.
            try:
                _restore(cp)
            except Exception as e:  # noqa: BLE001 - a connector's own fault trips it, not the job
                log("firmware", "restore", repr(e)[:60])
        if asyncio.current_task() is cp.firmware:
            cp.firmware = None
