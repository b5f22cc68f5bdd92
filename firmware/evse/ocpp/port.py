# One connector as the charge point sees it, addressed by its connector id (cp.port(cid)): its
# state machine (evse.connector), its hardware (the board's outlet: relay, meter, plug, card
# reader), its last meter reading and its open transaction. apply() carries out what the state
# machine decides; poll() is the connector's share of the hardware loop.
import time

from evse.connector import Connector
from evse.hal import MeterError
from evse.log import log
from evse.ocpp.operations import load


class Port:
    def __init__(self, cp, cid, outlet, available):
        self.cp = cp
        self.id = cid
        self.outlet = outlet
        s = cp.settings
        self.machine = Connector(cid, available, s["ConnectionTimeOut"],
                                 s["StopTransactionOnEVSideDisconnect"])
        self.reading = None  # (energy_wh, power_w, currents, voltages), None: meter lost
        self.tx = None  # the open transaction, as in data/tx<n>.json: r, tag, s, m, mt
        self.data = None  # StopTransaction transactionData collected so far
        self.next_sample = 0  # ticks_ms of the next periodic sample
        self.saved_at = 0  # ticks_ms when data/tx<n>.json was last written
        self.lost = None  # (journal seq, payload) of a PowerLoss stop: meterStop still to raise

    def apply(self, name, arg=None):
        """Feed event `name` to the state machine and carry out its actions. False if refused."""
        state, acts = self.machine.event(name, arg, time.ticks_ms())
        if acts is None:
            return False
        cp = self.cp
        for a in acts:
            if a == "start":
                cp.transactions.start(self)
            elif a == "close" or a == "open":
                r = self.outlet.relay
                r.close() if a == "close" else r.open()
                log("relay", "connector", self.id, "closed", int(a == "close"))
            elif a == "stop":
                cp.transactions.stop(self, self.machine.stop_reason)
            else:
                cp.availability.report(self.id, state)
        return True

    def energy(self):
        r = self.reading
        if r:
            return r[0]
        tx = self.tx
        return tx["m"] if tx else 0

    async def poll(self, now):
        """Plug, meter, relay faults, card reader, timeouts, then the transaction's samples."""
        o = self.outlet
        c = self.machine
        cp = self.cp
        if o.plug.plugged() != c.plugged:
            self.apply("plug", not c.plugged)
        lost = self.lost
        self.lost = None
        try:
            r = await o.meter.read()
            self.reading = r
            if lost and int(r[0]) > lost[1]["meterStop"]:
                lost[1]["meterStop"] = int(r[0])
                cp.journal.update(lost[0], lost[1])
                log("tx stop", "connector", self.id, "ref", lost[1]["_r"], "meter_wh", int(r[0]))
            if c.error == "PowerMeterFailure":
                self.apply("clear")
        except MeterError:
            self.reading = None
            if c.error == "NoError":
                self.apply("fault", ("PowerMeterFailure", "meter not answering"))
        welded = o.relay.welded()
        if welded and c.error == "NoError":
            self.apply("fault", ("OtherError", "relay welded"))
        elif not welded and c.error == "OtherError" and c.info == "relay welded":
            self.apply("clear")
        r = self.reading
        if c.tx and r:
            self.apply("power", r[1])
        self.apply("tick")
        rd = o.reader
        tag = rd.read() if rd else None
        if tag:
            load("Authorize").card(cp, self.id, tag)
        if self.tx is not None:
            cp.transactions.sample(self, now)
