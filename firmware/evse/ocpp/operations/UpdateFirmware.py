# UpdateFirmware: answered {} at once (the schema checked location as a URI and retrieveDate as
# a date-time); the update itself is the job in evse/ocpp/firmware.py, which reports through
# FirmwareStatusNotification.
# A second UpdateFirmware while one runs replaces it (the download starts again from the new
# location), as OCPP 2.0.1 says outright (L01.FR.24: a new request cancels the ongoing one) and
# 1.6, whose answer cannot refuse, leaves open; except once the job is Installing: the switch and
# the reboot are under way and the request is ignored (the central system sees Installing, then
# the outcome, and may send it again).
from evse import ocpp
from evse.ocpp.rpc import PROPERTY, CallError

_EVERY_S = const(30)  # retryInterval absent: the charge point decides (OCPP)
_MAX_TRIES = const(10)  # more is a central system's mistake, not a reason to hammer a server
_MAX_EVERY_S = const(86400)


def answer(cp, p):
    at = ocpp.parse_iso(p["retrieveDate"])
    retries = p.get("retries", 1)
    every = p.get("retryInterval", _EVERY_S)
    if at is None:  # the schema's date-time check lets through what parse_iso cannot read
        raise CallError(PROPERTY, "retrieveDate")
    if retries < 0:  # the schema's integer has no minimum; a count of tries has
        raise CallError(PROPERTY, "retries")
    if every < 0:
        raise CallError(PROPERTY, "retryInterval")
    import gc

    from evse import drop
    gc.collect()  # the job's code next (~3 KB on a 32-bit .mpy build): into a heap collected
    from evse.ocpp import firmware
    drop("evse.ocpp.firmware")
    if getattr(cp, "firmware", None) is not None and firmware.status() == "Installing":
        return {}
    firmware.start(cp, {"loc": p["location"], "at": at, "tries": min(retries, _MAX_TRIES) or 1,
                        "every": min(every, _MAX_EVERY_S),
                        "st": "Idle"})
    return {}
