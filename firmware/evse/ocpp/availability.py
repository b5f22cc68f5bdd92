# Availability and status: which connectors the central system made (in)operative, persisted in
# data/avail.json as [charge point, connector 1, connector 2...], and the StatusNotifications
# owed to the central system: the latest state of each connector not yet reported.
import time

from evse.files import load_json, save_json
from evse.log import log
from evse import ocpp

_FILE = const("data/avail.json")


class Availability:
    def __init__(self, cp, n, on_status=None):
        self.cp = cp
        self.on_status = on_status  # fn(connector_id, status) for the display
        avail = load_json(_FILE, None)
        if type(avail) is not list or len(avail) != n + 1:
            avail = [True] * (n + 1)
        self.operative = avail
        self.pending = {}  # connector id -> [status, errorCode, info, unix, since_ms]
        self.reported = {}  # connector id -> (status, errorCode, info)
        # Unix time the reservations are tidied next (ChargePoint.poll: only while one is
        # held): the next expiry, 0 after a state change (one may have been dropped, connector
        # 0's may have to move).
        self.due = 0

    def state(self, cid):
        """The status connector `cid` (0: the charge point) has now."""
        if cid:
            return self.cp.port(cid).machine.state
        return "Available" if self.operative[0] else "Unavailable"

    def save(self):
        save_json(_FILE, self.operative)

    def report(self, cid, state):
        # A new state of connector cid: shown at once, owed to the central system unless it
        # already knows it.
        c = self.cp.port(cid).machine if cid else None
        err = c.error if c else "NoError"
        info = c.info if c else None
        self.due = 0
        log("status", "connector", cid, "state", state, "error", err)
        if self.on_status:
            self.on_status(cid, state)
        if self.reported.get(cid) == (state, err, info):
            self.pending.pop(cid, None)  # back to what the central system knows already
            return
        self.pending[cid] = [state, err, info, ocpp.now(), time.ticks_ms()]
        self.cp.wake.set()

    async def send(self, rpc, cid, force=False):
        """StatusNotification for cid once its state has lasted MinimumStatusDuration (at once
        with force). True when sent."""
        p = self.pending[cid]
        if not force and time.ticks_diff(time.ticks_ms(), p[4]) < self.cp.settings["MinimumStatusDuration"] * 1000:
            return False
        del self.pending[cid]
        payload = {"connectorId": cid, "errorCode": p[1], "status": p[0], "timestamp": ocpp.iso(p[3])}
        if p[2]:
            payload["info"] = p[2][:50]
        await self.cp.call(rpc, "StatusNotification", payload)
        self.reported[cid] = (p[0], p[1], p[2])
        return True
