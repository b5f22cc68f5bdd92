# BootNotification, sent by the charge point: at the first connection of a boot, until the
# central system accepts it (chargepoint.py sends it), and when a TriggerMessage asks for it.
# Loaded per use, for each answer: a boot runs once per power-up (a reconnect within the same
# boot sends none), so its code has no business in the heap for the rest of the session.
import os
import time

from evse import ocpp
from evse.log import log

_MAX_INTERVAL = const(86400)  # s: settings.py's greatest HeartbeatInterval


def accept(cp, answer):
    """A BootNotification answer, at boot or triggered (the one way to take one): the clock,
    and when Accepted the registration and its interval as HeartbeatInterval.
    -> (status, interval)."""
    ocpp.set_time(answer.get("currentTime"))
    if cp.smart:
        cp.smart = 1  # the charging limits again, on the central system's clock
    status = answer.get("status")
    interval = answer.get("interval")
    if type(interval) is not int or interval < 0:
        interval = 0
    # at most a day (HeartbeatInterval's greatest): the Pending/Rejected wait below goes
    # through ticks_add, which a larger value overflows on 32 bits
    interval = min(interval, _MAX_INTERVAL)
    if status == "Accepted":
        cp.reg = status
        if interval:
            cp.settings.set("HeartbeatInterval", interval)
        cp.booted = cp.boot_fields
    return status, interval


def _resume(cp):
    # A firmware update that a reboot or a power cut interrupted (data/fw.json: ocpp/firmware.py)
    # resumes, or reports its end, once the central system hears us. Here, per use, rather than
    # in ChargePoint: no byte of it resident in a session.
    if getattr(cp, "firmware", None) is None:
        try:
            os.stat("data/fw.json")
        except OSError:
            return
        from evse import drop
        from evse.ocpp import firmware
        drop("evse.ocpp.firmware")
        firmware.start(cp)


async def answered(cp, rpc, answer):
    """The answer to the boot's BootNotification: True when Accepted. Else the wait before the
    next one: Pending, answer the central system and send only what a TriggerMessage asks for
    (a triggered BootNotification ends the wait); Rejected, say nothing at all. Both until
    `interval` has passed (30 s when none was given)."""
    status, interval = accept(cp, answer)
    if status == "Accepted":
        log("boot accepted", "interval", interval)
        _resume(cp)
        return True
    cp.reg = status
    log("boot", "status", status, "interval", interval)
    deadline = time.ticks_add(time.ticks_ms(), (interval or 30) * 1000)
    rpc.mute = status != "Pending"
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        if status == "Pending" and cp.triggers:
            if ("BootNotification", None) in cp.triggers:
                cp.triggers.remove(("BootNotification", None))
                break
            await cp.operation("TriggerMessage").send(cp, rpc)
            continue
        await cp.idle()
    rpc.mute = False
    return False
