# UpdateFirmware: answered {} at once (the schema checked location as a URI and retrieveDate as
# a date-time); the update itself is the job in evse/ocpp/firmware.py, which reports through
# FirmwareStatusNotification.
# A second UpdateFirmware while one runs replaces it (the download starts again from the new
# location), as OCPP 2.0.1 says outright (L01.FR.24: a new request cancels the ongoing one) and
# 1.6, whose answer cannot refuse, leaves open; except once the job is Installing: the switch and
# the reboot are under way and the request is ignored (the central system sees Installing, then
# the outcome, and may send it again).
# Once a ManufacturerRootCertificate is installed the charger is in signed mode: UpdateFirmware
# is answered CALLERROR NotSupported (as OCPP 2.0.1 L01.FR.20 has it once signed updates are
# built), so that an unsigned bundle cannot be pushed past the signature check. Without one,
# UpdateFirmware stays for central systems without signing (OCTT TC_044).
import asyncio

from evse import ocpp
from evse.log import log
from evse.ocpp.rpc import NOT_SUPPORTED, PROPERTY, CallError

_EVERY_S = const(30)  # retryInterval absent: the charge point decides (OCPP)
_MAX_TRIES = const(10)  # more is a central system's mistake, not a reason to hammer a server
_MAX_EVERY_S = const(86400)
# Free heap (after a collection) the job's load needs, or it is not tried: its code takes ~2.8
# KB, and the session must keep room for its own CALLs beside it (unix32 .mpy, merged tree: with
# 5.2 KB free the job loaded and the session then died of MemoryErrors at every connect; 6.2 KB
# ran). A load that fails is no free try either: ~2.9 KB stayed taken after it and a collection
# (its names, interned before its code, are never freed), and a TriggerMessage after it found no
# heap in an 80k-82k session.
_JOB_FREE = const(6144)


def _signed_mode():
    # A ManufacturerRootCertificate in ocpp/certstore.py's folder (data/certs/M<n>.der)
    import os
    try:
        return any(e[0][:1] == "M" and e[0].endswith(".der") for e in os.ilistdir("data/certs"))
    except OSError:  # no store: no root
        return False


def answer(cp, p):
    if _signed_mode():
        raise CallError(NOT_SUPPORTED, "signed updates only: SignedUpdateFirmware")
    at = ocpp.parse_iso(p["retrieveDate"])
    retries = p.get("retries", 1)
    every = p.get("retryInterval", _EVERY_S)
    if at is None:  # the schema's date-time check lets through what parse_iso cannot read
        raise CallError(PROPERTY, "retrieveDate")
    if retries < 0:  # the schema's integer has no minimum; a count of tries has
        raise CallError(PROPERTY, "retries")
    if every < 0:
        raise CallError(PROPERTY, "retryInterval")
    if getattr(cp, "firmware", None) is not None:
        from evse.files import load_json
        st = load_json("data/fw.json")
        if type(st) is dict and st.get("st") == "Installing":
            return {}
    asyncio.create_task(_start(cp, {"loc": p["location"], "at": at, "tries": min(retries, _MAX_TRIES) or 1,
                                    "every": min(every, _MAX_EVERY_S), "st": "Idle"}))
    return {}


async def _start(cp, st):
    # Once the answer went and this CALL's schema and frame are freed: the job's code (~2.8 KB
    # of heap on a 32-bit .mpy build) loads into a heap that has them back. No heap even then:
    # the update ends at once, reported.
    import gc

    from evse import drop
    gc.collect()
    try:
        if gc.mem_free() < _JOB_FREE:
            raise MemoryError
        from evse.ocpp import firmware
        drop("evse.ocpp.firmware")
        firmware.start(cp, st)
    except MemoryError:
        drop("evse.ocpp.firmware")
        cp.notify("FirmwareStatusNotification", {"status": "DownloadFailed"})
        log("firmware", "error", "MemoryError", "status", "DownloadFailed")
