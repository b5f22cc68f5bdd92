# Reset (Soft or Hard): accepted at once and carried out by the hardware loop (poll, each pass
# while cp.reset is set): every transaction stops (reason SoftReset / HardReset), the
# journal gets up to _FLUSH_MS to deliver the stops while online, then Reboot leaves the app and
# main.py restarts the board.
from time import ticks_diff, ticks_ms

from evse import Reboot
from evse.log import log

_FLUSH_MS = const(5000)


def answer(cp, p):
    cp.reset = (p["type"], ticks_ms())  # Hard or Soft: the schema checked it
    return {"status": "Accepted"}


def poll(cp, now):
    kind, at = cp.reset
    reason = "HardReset" if kind == "Hard" else "SoftReset"
    for port in cp.ports:
        if port.machine.tx:
            port.apply("stop", reason)
    if len(cp.journal) and cp.rpc and ticks_diff(now, at) < _FLUSH_MS:
        return
    log("reset", "type", kind)
    # Queued before the reboot, on the clock of this boot; the next boot reads it as the cause
    # and raises no StartupOfTheDevice (operations/SecurityEventNotification.py)
    from evse.ocpp.security_events import event
    event(cp, "ResetOrReboot", kind + " reset by the central system")
    raise Reboot(kind)
