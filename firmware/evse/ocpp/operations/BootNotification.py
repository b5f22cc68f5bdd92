# BootNotification, sent by the charge point when it connects (chargepoint.py: _boot, and
# accept_boot, the one way an answer is taken, also for a triggered one). This module holds the
# rare part: waiting out a Pending or Rejected answer before the next BootNotification.
import time


async def wait(cp, rpc, status, interval):
    # Pending: answer the central system and send only what a TriggerMessage asks for (a
    # triggered BootNotification ends the wait); Rejected: say nothing at all. Both until
    # `interval` has passed (30 s when none was given).
    deadline = time.ticks_add(time.ticks_ms(), (interval or 30) * 1000)
    rpc.mute = status != "Pending"
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        if status == "Pending" and cp.triggers:
            if ("BootNotification", None) in cp.triggers:
                cp.triggers.remove(("BootNotification", None))
                break
            await cp.send_trigger(rpc)
            continue
        await cp.idle()
    rpc.mute = False
