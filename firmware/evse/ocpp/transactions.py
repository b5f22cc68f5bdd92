# Each connector and its transactions. A Port is one connector as the charge point sees it,
# addressed by its connector id (cp.port(cid)): its state machine (evse.connector), its hardware
# (the board's outlet: relay, meter, plug, card reader), its last meter reading and its open
# transaction; apply() carries out what the state machine decides, poll() is the connector's
# share of the hardware loop. Transactions begin and end through the journal (StartTransaction,
# StopTransaction, transaction MeterValues, delivered in order and at least once), with the
# open one persisted per connector so a power loss can stop it after the reboot.
#
#   data/tx<n>.json   the open transaction of connector n: r (our reference), tag, s (meter
#                     start), t (its start, unix s: Relative charging profiles count from it),
#                     m and mt (last meter value, Wh, and its time): the PowerLoss stop
#   data/txids.json   our reference -> the transactionId the central system gave it; "n": next
import os
import time

from evse import RelayStuck
from evse.connector import Connector
from evse.files import load_json, remove, save_json
from evse.hal import MeterError
from evse.log import log
from evse import ocpp
from evse.ocpp.operations import load
from evse.ocpp.rpc import CallError

_IDS = const("data/txids.json")
_MAX_DATA = const(8)
_PERSIST_MS = const(30000)
_MAX_EXTRA = const(4)
_INTERNAL = const("InternalError")
_CLEAR_MS = const(3000)  # a connector tripped by a firmware error serves again after this long


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
        self.starts = 0  # transactions begun (journaled): apply() tells a start that failed after
        self.tripped = 0  # ticks_ms of the last firmware error on this connector (trip)
        self.offered = None  # A per phase smart charging lets this connector offer; None: no limit

    def apply(self, name, arg=None):
        """Feed event `name` to the state machine and carry out its actions. False if refused,
        or if carrying it out failed (trip) before a transaction began. The error of a start
        rolled back before its commit (relay open, nothing journaled) is raised on: a
        RemoteStart is answered InternalError, and nothing has started."""
        # pyright takes Connector.event's `now` (default 0) for an int; it is a ticks_ms value.
        state, acts = self.machine.event(name, arg, time.ticks_ms())  # pyright: ignore[reportArgumentType]
        if acts is None:
            return False
        cp = self.cp
        began = self.starts
        err = None
        for a in acts:
            # Each action on its own: one that fails must not keep the others (the "open" of a
            # fault, its "status") from running.
            try:
                if a == "start":
                    cp.transactions.start(self)
                elif a == "close" or a == "open":
                    r = self.outlet.relay
                    r.close() if a == "close" else r.open()
                    log("relay", "connector", self.id, "closed", int(a == "close"))
                elif a == "stop":
                    cp.transactions.stop(self, self.machine.stop_reason)
                else:  # the state now: a start carried out above may have changed it again
                    cp.availability.report(self.id, self.machine.state)
                    if cp.smart:  # charging profiles: the limits again at the next poll (an
                        cp.smart = 1  # authorisation that ended drops its RemoteStart's TxProfile)
            except Exception as e:  # noqa: BLE001 - whatever failed, the relay must open
                if a == "start" and self.starts == began:
                    raise  # rolled back by start(): nothing to trip
                err = e
        if err:
            self.trip(err)
            # A transaction that began before the error was carried out (its StartTransaction
            # is journaled, the trip stopped it): Accepted, never a CALLERROR for a start.
            return self.starts != began
        return True

    def offer(self, amps):
        """Smart charging's effective limit for this connector changed: amps (A per phase,
        float, 0 included) or None for no limit. Capped by the outlet's hardware and told to
        the EV (the pilot's duty, the simulated EV); below 6 A the state machine opens the
        relay (SuspendedEVSE, the transaction kept) and 6 A or more closes it again. With no
        transaction running it waits for the next. An outlet without a pilot carries it by
        its relay only: on/off, the EV draws what it likes while closed (offering). `offered`
        changes only once the pilot and the state machine took the limit: if either raises (the
        caller trips the connector), the next GetCompositeSchedule apply() still finds it
        different and offers it again."""
        m = self.outlet.max_a
        a = m if amps is None or amps > m else amps
        p = self.outlet.pilot
        if p:
            p.offer(a)
        self.apply("limit", a)
        self.offered = amps

    def offering(self):
        # The limit capped by the hardware, its maximum when there is none. An outlet without a
        # pilot tells the EV no current: 6 A or more offers the whole rating (relay closed),
        # less nothing (relay open), which Current.Offered then says.
        a = self.offered
        m = self.outlet.max_a
        return m if a is None or a > m or (a >= 6 and self.outlet.pilot is None) else a

    def trip(self, err):
        """An exception in this connector's path (poll, meter, state change, bookkeeping): the
        relay opens first, whatever fails after; then the connector is Faulted, InternalError
        (info: the error's type), which stops a running transaction (reason Other). OCPP 1.6:
        Faulted is "not available for energy delivery", InternalError an "error in internal
        hard- or software component"; not SuspendedEVSE, which would keep a transaction whose
        bookkeeping just failed. Cleared after _CLEAR_MS of polls without an error (poll).
        An error while tripping ends here too: its apply("fault") finds the connector Faulted
        already and has nothing left to do. A relay that will not open is raised on, after
        the fault, as RelayStuck: past the hardware loop, to main.py's crash guard (every relay,
        a restart)."""
        self.tripped = time.ticks_ms()
        stuck = None
        try:
            self.outlet.relay.open()
        except Exception as e:  # noqa: BLE001 - raised below, once the connector is Faulted
            stuck = e
        first = self.machine.error != _INTERNAL  # once per episode: an error every poll logs once
        try:
            self.apply("fault", (_INTERNAL, type(err).__name__))
        except Exception:  # noqa: BLE001 - what could be done is done
            pass
        if first:
            try:
                log("connector error", "connector", self.id, "error", repr(err)[:60])
            except Exception:  # noqa: BLE001 - a log line short of heap is no reason to stop
                pass
        if stuck is not None:
            raise RelayStuck(stuck)

    def energy(self):
        r = self.reading
        if r:
            return r[0]
        tx = self.tx
        return tx["m"] if tx else 0

    async def poll(self, now):
        """Plug, meter, relay faults, card reader, timeouts, then the transaction's samples.
        An exception out of here trips the connector (ChargePoint.poll)."""
        o = self.outlet
        c = self.machine
        cp = self.cp
        if o.plug.plugged() != c.plugged:
            self.apply("plug", not c.plugged)
        try:
            r = await o.meter.read()
            self.reading = r
            lost = self.lost
            self.lost = None
            if lost:
                load("StopTransaction").raise_meter(cp, self, lost)
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
            if c.tx:
                cp.transactions.sample(self, now)
            else:  # its stop failed to reach the journal (relay open since): owed until it does
                cp.transactions.stop(self, c.stop_reason)
        elif c.error == _INTERNAL and time.ticks_diff(now, self.tripped) >= _CLEAR_MS:
            self.apply("clear")  # a whole _CLEAR_MS of polls without an error: serve again


class Transactions:
    def __init__(self, cp):
        self.cp = cp
        self.ids = load_json(_IDS, None) or {"n": 1}
        self.extra = []  # MeterValues outside a transaction (not journaled)
        self.retry_at = 0  # ticks_ms before which a refused journal message is not sent again
        self.next_aligned = 0  # unix time of the next clock-aligned sample, 0: not yet known

    def tx_id(self, port):
        """The central system's transactionId of the port's transaction, None if not known."""
        tx = port.tx
        return self.ids.get(str(tx["r"])) if tx else None

    def find(self, transaction_id):
        """The port whose transaction has this transactionId, None if none."""
        for port in self.cp.ports:
            if port.tx and self.tx_id(port) == transaction_id:
                return port
        return None

    def start(self, port):
        # Everything that can fail comes first, up to the commit: the StartTransaction in the
        # journal, after the reference counter and the open transaction's file. Any error up to
        # there rolls back (no file, no journal record) with the relay open and is raised on: a
        # RemoteStart is answered InternalError and nothing has started. The relay
        # closes only after the commit ("started"); an error after it trips the connector (relay
        # open, transaction stopped): energy never flows for a transaction a power loss could
        # forget, nor for one whose bookkeeping failed. Raises the error of a rollback.
        cp = self.cp
        tag = port.machine.id_tag
        ref = self.ids["n"]
        path = "data/tx%d.json" % port.id
        mine = False
        try:
            if port.tx is not None:  # the previous one's stop is still owed: it goes first
                self.stop(port, port.machine.stop_reason)
            e = port.energy()
            t = ocpp.now()
            tx = {"r": ref, "tag": tag, "s": e, "t": t, "m": e, "mt": t}
            m = self._stop_measurands()
            data = [self.meter_value(port, m, "Transaction.Begin")] if m else None
            now = time.ticks_ms()
            due = time.ticks_add(now, cp.settings["MeterValueSampleInterval"] * 1000)
            p = {"connectorId": port.id, "idTag": tag, "meterStart": int(e),
                 "timestamp": ocpp.iso(t), "_r": ref}
            # The reservation it uses, if any (OCPP 1.6 5.13: its id in the StartTransaction):
            # rare, so looked up per use.
            resv = cp.authorization.held and cp.operation("ReserveNow").find(cp, port, tag)
            if resv:
                p["reservationId"] = resv[0]
            self.ids["n"] = ref + 1
            save_json(_IDS, self.ids)
            mine = True  # from here data/tx<n>.json is this start's (not an owed stop's)
            save_json(path, tx)
            cp.journal.append("StartTransaction", p)
        except Exception as err:  # noqa: BLE001 - any error before the commit: nothing starts
            if mine:
                remove(path)
            port.apply("stop")  # the authorisation is dropped, the relay stays open
            log("tx start", "connector", port.id, "ref", ref, "error", repr(err)[:60])
            raise
        port.tx = tx
        port.data = data
        port.next_sample = due
        port.saved_at = now
        port.starts += 1
        log("tx start", "connector", port.id, "ref", ref, "id_tag", tag, "meter_wh", int(e))
        cp.wake.set()
        if resv:  # used: it ends, at the next poll (CancelReservation.tidy)
            resv[4] = 0
        if cp.smart:  # charging profiles: this transaction's limit, before its relay closes
            cp.smart = 1
            try:
                load("GetCompositeSchedule").apply(cp)
            except RelayStuck:  # a connector's relay would not open (its trip): main.py's
                raise  # crash guard, through the "start" action's trip
            except Exception:  # noqa: BLE001 - no heap or flash for it now: fail closed. Not the
                cp.smart = 1  # old offer: nothing (SuspendedEVSE, relay open) until an apply
                port.offer(0)  # works (the next poll tries); an error in here trips it (apply)
        port.apply("started")  # the relay closes; an error in there trips the connector

    def stop(self, port, reason):
        tx = port.tx
        if tx is None:
            return
        e = port.energy()
        p = {"idTag": tx["tag"], "meterStop": int(e), "timestamp": ocpp.iso(ocpp.now()),
             "reason": reason or "Local", "_r": tx["r"]}
        data = port.data
        if data is not None:
            data.append(self.meter_value(port, self._stop_measurands(), "Transaction.End"))
            p["transactionData"] = data
        self.cp.journal.append("StopTransaction", p)
        port.tx = None
        port.data = None
        remove("data/tx%d.json" % port.id)
        if self.cp.smart:  # its TxProfiles end with it, at the next poll
            self.cp.smart = 1
        log("tx stop", "connector", port.id, "ref", tx["r"], "reason", p["reason"], "meter_wh", int(e))
        self.cp.wake.set()

    def recover(self):
        # At boot: a transaction still open in flash was cut by a power loss. Rare, so the stop
        # is in a per-use module, loaded only then.
        for port in self.cp.ports:
            try:
                os.stat("data/tx%d.json" % port.id)
            except OSError:
                continue
            return load("StopTransaction").recover(self.cp)

    # -- meter values -----------------------------------------------------------------------

    def meter_value(self, port, measurands, context, t=None):
        r = port.reading or (port.energy(), None, None, None)
        sv = []
        for m in measurands:
            if m == "Energy.Active.Import.Register":
                sv.append({"value": "%d" % r[0], "context": context, "measurand": m, "unit": "Wh"})
            elif m == "Power.Active.Import" and r[1] is not None:
                sv.append({"value": "%d" % r[1], "context": context, "measurand": m, "unit": "W"})
            elif m[-8:] == ".Offered":  # Current (A per phase) or Power: what the EV may draw
                a = port.offering()
                a = a if a >= 6 else 0  # the pilot offers nothing below 6 A
                w = m[0] == "P"  # W = A x 230 V nominal (as OCPP 1.6 converts) x phases
                sv.append({"value": "%d" % (a * 230 * port.outlet.phases) if w else "%.1f" % a,
                           "context": context, "measurand": m, "unit": "W" if w else "A"})
            else:
                vals = r[2] if m == "Current.Import" else r[3] if m == "Voltage" else None
                for k in range(len(vals) if vals else 0):
                    sv.append({"value": "%.1f" % vals[k], "context": context, "measurand": m,
                               "unit": "A" if m == "Current.Import" else "V",
                               "phase": ("L1", "L2", "L3")[k] + ("-N" if m == "Voltage" else "")})
        return {"timestamp": ocpp.iso(t or ocpp.now()), "sampledValue": sv}

    def _meter_values(self, port, measurands, context, t=None):
        # One MeterValues: journaled inside a transaction, a few kept in RAM outside one.
        tx = port.tx
        mv = self.meter_value(port, measurands, context, t)
        if not mv["sampledValue"]:
            return
        if tx is None:
            if len(self.extra) < _MAX_EXTRA:
                self.extra.append({"connectorId": port.id, "meterValue": [mv]})
        else:
            self.cp.journal.append("MeterValues", {"connectorId": port.id, "_r": tx["r"], "meterValue": [mv]})
        self.cp.wake.set()

    def _stop_measurands(self):
        # Transaction.Begin / End values in transactionData: the sampled set, else the aligned one.
        s = self.cp.settings
        return s.measurands("StopTxnSampledData") or s.measurands("StopTxnAlignedData")

    def _tx_data(self, port, key, context, t):
        # One more StopTxn*Data entry for StopTransaction.transactionData (bounded).
        m = self.cp.settings.measurands(key)
        data = port.data
        if m and data is not None:
            if len(data) >= _MAX_DATA:
                data.pop(1)  # keep Transaction.Begin and the latest samples
            data.append(self.meter_value(port, m, context, t))

    def sample(self, port, now):
        # The open transaction of a port, once a poll: its latest meter value, the periodic
        # sample when due, and its file at every sample and at least every _PERSIST_MS.
        s = self.cp.settings
        tx = port.tx
        r = port.reading
        if r:
            tx["m"] = r[0]
            tx["mt"] = ocpp.now()
        interval = s["MeterValueSampleInterval"]
        save = time.ticks_diff(now, port.saved_at) >= _PERSIST_MS
        if interval and time.ticks_diff(now, port.next_sample) >= 0:
            save = True
            port.next_sample = time.ticks_add(now, interval * 1000)
            self._meter_values(port, s.measurands("MeterValuesSampledData"), "Sample.Periodic")
            self._tx_data(port, "StopTxnSampledData", "Sample.Periodic", None)
        if save:  # the last meter value a PowerLoss stop will report
            port.saved_at = now
            save_json("data/tx%d.json" % port.id, tx)

    def aligned(self):
        # Clock-aligned meter values every ClockAlignedDataInterval from midnight UTC, stamped on
        # that grid.
        s = self.cp.settings
        aligned = s["ClockAlignedDataInterval"]
        if not aligned:
            return
        t = ocpp.now()
        if self.next_aligned == 0:
            self.next_aligned = (t // aligned + 1) * aligned
        elif t >= self.next_aligned:
            at = t - t % aligned
            self.next_aligned = at + aligned
            for port in self.cp.ports:
                self._meter_values(port, s.measurands("MeterValuesAlignedData"), "Sample.Clock", at)
                self._tx_data(port, "StopTxnAlignedData", "Sample.Clock", at)

    # -- delivery ---------------------------------------------------------------------------

    async def send(self, rpc):
        """The oldest journal message. A refused one (CALLERROR) is an attempt: retried after
        TransactionMessageRetryInterval x attempts, dropped after TransactionMessageAttempts."""
        cp = self.cp
        s = cp.settings
        seq, action, p = cp.journal.peek()
        ref = p.pop("_r", None)
        if action != "StartTransaction":
            tid = self.ids.get(str(ref))
            p["transactionId"] = tid if tid is not None else -1
        try:
            res = await cp.call(rpc, action, p)
        except CallError as e:  # the central system failed to process it: an attempt
            n = cp.journal.bump(seq)
            log("ocpp retry", "action", action, "attempt", n, "error", repr(e)[:60])
            if n >= s["TransactionMessageAttempts"]:
                cp.journal.pop(seq)
                log("ocpp dropped", "action", action, "ref", ref)
                if action == "StopTransaction" and self.ids.pop(str(ref), None) is not None:
                    save_json(_IDS, self.ids)
                self.retry_at = time.ticks_ms()
            else:
                self.retry_at = time.ticks_add(time.ticks_ms(), s["TransactionMessageRetryInterval"] * n * 1000)
            return
        if action == "StartTransaction":
            tid = res.get("transactionId")
            if type(tid) is int:
                self.ids[str(ref)] = tid
                save_json(_IDS, self.ids)
            info = res.get("idTagInfo") or {}
            cp.authorization.remember(p["idTag"], info, True)
            cp.journal.pop(seq)
            log("tx confirmed", "ref", ref, "transaction_id", tid, "status", info.get("status"))
            if info.get("status") != "Accepted":
                load("StartTransaction").refused(cp, ref)
            return
        cp.journal.pop(seq)
        if action == "StopTransaction":
            if self.ids.pop(str(ref), None) is not None:
                save_json(_IDS, self.ids)
            cp.authorization.remember(p["idTag"], res.get("idTagInfo"))
