# The OCPP 1.6 charge point: boot, heartbeat and clock, status, transactions through the
# journal, meter values, reconnect. Hardware reaches it only through the outlets (relay, meter,
# plug) and the connector state machines; the central system's CALLs go to handlers.py.
#
# Files on the flash filesystem (relative to its root):
#   data/tx<n>.json     the open transaction of connector n (PowerLoss stop after a reboot)
#   data/txids.json     local transaction reference -> transactionId from the central system
#   data/avail.json     connector availability set by ChangeAvailability ([cp, c1, c2...])
#   data/auth.json      authorization cache (idTag -> status)
#   data/ocpp.json      configuration keys changed by the central system (settings.py)
#   data/journal.log    queued StartTransaction / StopTransaction / MeterValues (journal.py)
import os
import time

import asyncio
from evse import Reboot, drop  # noqa: F401 - Reboot: ops.py raises it
from evse.connector import Connector
from evse.hal import MeterError
from evse.log import log
# Loaded up front, while the heap is still in one piece: importing it later, into a
# fragmented heap, can fail exactly when a RemoteStopTransaction arrives.
from evse.ocpp.handlers import HANDLERS
from evse.ocpp.rpc import CallError, Rpc
from evse.files import load_json, remove, save_json

# Unix port counts from 1970, the ESP32 from 2000: all OCPP times are unix seconds.
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_POLL_MS = const(250)
_MAX_TXDATA = const(8)
_CACHE_MAX = const(32)
_PERSIST_MS = const(30000)



def iso(t):
    y, mo, d, h, mi, s = time.gmtime(int(t) - _EPOCH)[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)


def parse_iso(s):
    """'2026-11-26T00:33:07.123Z' (or +hh:mm) -> unix seconds, None when unreadable."""
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        h, mi, sec = int(s[11:13]), int(s[14:16]), int(s[17:19])
    except (ValueError, TypeError, IndexError):
        return None
    tz = 0
    i = max(s.rfind("+"), s.rfind("-"))
    if i > 18:
        try:
            tz = (int(s[i + 1:i + 3]) * 60 + int(s[i + 4:i + 6])) * 60
        except ValueError:
            return None
        if s[i] == "+":
            tz = -tz
    y -= mo <= 2  # days from civil (Howard Hinnant), proleptic Gregorian
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + h * 3600 + mi * 60 + sec + tz


class ChargePoint:
    def __init__(self, settings, outlets, journal, boot_fields, on_status=None):
        self.settings = settings
        self.outlets = outlets
        self.journal = journal
        self.boot_fields = boot_fields
        self.on_status = on_status  # fn(connector_id, status) for the display
        n = len(outlets)
        avail = load_json("data/avail.json", None)
        if type(avail) is not list or len(avail) != n + 1:
            avail = [True] * (n + 1)
        self.avail = avail
        s = settings
        self.conns = [Connector(i + 1, avail[i + 1], s["ConnectionTimeOut"],
                                s["StopTransactionOnEVSideDisconnect"]) for i in range(n)]
        self.readings = [None] * n  # (energy_wh, power_w, currents, voltages)
        self.txs = [None] * n
        self.txdata = [None] * n
        self.next_sample = [0] * n
        self.saved_at = [0] * n
        self.ids = load_json("data/txids.json", None) or {"n": 1}
        self.cache = load_json("data/auth.json", None) or {}
        self.rpc = None
        self.reg = None  # BootNotification status of this boot
        self.booted = None  # the fields the central system accepted
        self.offset = 0  # clock correction, seconds
        self.wake = asyncio.Event()
        self.pending = {}  # connector id -> [status, errorCode, info, unix, since_ms]
        self.reported = {}  # connector id -> (status, errorCode, info)
        self.triggers = []
        self.auth_q = []  # (connector index, idTag) waiting for Authorize
        self.extra = []  # MeterValues outside a transaction (not journaled)
        self.retry_at = 0
        self.last_call = time.ticks_ms()
        self.next_aligned = 0
        self.reset = None
        self.reset_at = 0
        settings.listeners.append(self._setting_changed)
        for i in range(n):
            self._status(i + 1, self.conns[i].state)
        self._status(0, "Available" if avail[0] else "Unavailable")
        self.lost = {}
        self._recover()

    # -- time -------------------------------------------------------------------------------

    def now(self):
        return int(time.time()) + _EPOCH + self.offset

    def set_clock(self, text):
        t = parse_iso(text) if type(text) is str else None
        if t is not None:
            self.offset = t - int(time.time()) - _EPOCH

    def _setting_changed(self, key):
        s = self.settings
        for c in self.conns:
            c.timeout_s = s["ConnectionTimeOut"]
            c.stop_on_unplug = s["StopTransactionOnEVSideDisconnect"]
        if key == "ClockAlignedDataInterval":
            self.next_aligned = 0
        if key == "WebSocketPingInterval" and self.rpc:
            self.rpc.conn.ping_interval = s[key]
        self.wake.set()

    # -- connector events -------------------------------------------------------------------

    def apply(self, i, name, arg=None):
        """Feed event `name` to connector index i and carry out its actions. False if refused."""
        state, acts = self.conns[i].event(name, arg, time.ticks_ms())
        if acts is None:
            return False
        cid = i + 1
        for a in acts:
            if a == "start":
                self._start_tx(i)
            elif a == "close" or a == "open":
                r = self.outlets[i].relay
                r.close() if a == "close" else r.open()
                log("relay", "connector", cid, "closed", int(a == "close"))
            elif a == "stop":
                self._stop_tx(i, self.conns[i].stop_reason)
            else:
                self._status(cid, state)
        return True

    def _status(self, cid, state):
        c = self.conns[cid - 1] if cid else None
        err = c.error if c else "NoError"
        info = c.info if c else None
        log("status", "connector", cid, "state", state, "error", err)
        if self.on_status:
            self.on_status(cid, state)
        if self.reported.get(cid) == (state, err, info):
            self.pending.pop(cid, None)  # back to what the central system knows already
            return
        self.pending[cid] = [state, err, info, self.now(), time.ticks_ms()]
        self.wake.set()

    # -- transactions -----------------------------------------------------------------------

    def _energy(self, i):
        r = self.readings[i]
        if r:
            return r[0]
        tx = self.txs[i]
        return tx["m"] if tx else 0

    def _start_tx(self, i):
        # The relay closes as soon as the transaction exists in RAM; the flash writes (reference
        # counter, open transaction, journal) follow, so they never delay the energy.
        c = self.conns[i]
        tag = c.id_tag
        ref = self.ids["n"]
        self.ids["n"] = ref + 1
        e = self._energy(i)
        t = self.now()
        tx = {"r": ref, "tag": tag, "s": e, "m": e, "mt": t}
        self.txs[i] = tx
        m = self._stop_measurands()
        self.txdata[i] = [self._meter_value(i, m, "Transaction.Begin")] if m else None
        self.apply(i, "started")
        save_json("data/txids.json", self.ids)
        save_json("data/tx%d.json" % c.id, tx)
        self.journal.append("StartTransaction", {"connectorId": c.id, "idTag": tag,
                                                 "meterStart": int(e), "timestamp": iso(t), "_r": ref})
        now = time.ticks_ms()
        self.next_sample[i] = time.ticks_add(now, self.settings["MeterValueSampleInterval"] * 1000)
        self.saved_at[i] = now
        log("tx start", "connector", c.id, "ref", ref, "id_tag", tag, "meter_wh", int(e))
        self.wake.set()

    def _stop_tx(self, i, reason):
        tx = self.txs[i]
        if tx is None:
            return
        e = self._energy(i)
        p = {"idTag": tx["tag"], "meterStop": int(e), "timestamp": iso(self.now()),
             "reason": reason or "Local", "_r": tx["r"]}
        data = self.txdata[i]
        if data is not None:
            data.append(self._meter_value(i, self._stop_measurands(), "Transaction.End"))
            p["transactionData"] = data
        self.journal.append("StopTransaction", p)
        self.txs[i] = None
        self.txdata[i] = None
        remove("data/tx%d.json" % (i + 1))
        log("tx stop", "connector", i + 1, "ref", tx["r"], "reason", p["reason"], "meter_wh", int(e))
        self.wake.set()

    def _recover(self):
        # A transaction still open in flash was cut by a power loss: ops.recover stops it.
        for i in range(len(self.conns)):
            try:
                os.stat("data/tx%d.json" % (i + 1))
            except OSError:
                continue
            from evse.ocpp import ops  # rare: loaded only then (its qstrs stay for good)
            drop("evse.ocpp.ops")
            return ops.recover(self)

    def tx_id(self, i):
        tx = self.txs[i]
        return self.ids.get(str(tx["r"])) if tx else None

    def find_tx(self, transaction_id):
        for i in range(len(self.conns)):
            if self.txs[i] and self.tx_id(i) == transaction_id:
                return i
        return None

    # -- authorization ----------------------------------------------------------------------

    def card(self, i, id_tag):
        # The idTag that started the transaction stops it; any other starts one (ops.card).
        from evse.ocpp import ops  # a card at the reader: rare, loaded for it
        drop("evse.ocpp.ops")
        return ops.card(self, i, id_tag)

    def present(self, i, id_tag):
        """A local idTag (card) at connector index i: Authorize online, cache rules offline."""
        from evse.ocpp import ops
        drop("evse.ocpp.ops")
        return ops.present(self, i, id_tag)

    def remember(self, id_tag, info):
        if not self.settings["AuthorizationCacheEnabled"] or type(info) is not dict:
            return
        st = info.get("status")
        if self.cache.get(id_tag) != st:
            if len(self.cache) >= _CACHE_MAX and id_tag not in self.cache:
                self.cache.pop(next(iter(self.cache)))
            self.cache[id_tag] = st
            save_json("data/auth.json", self.cache)

    def clear_cache(self):
        self.cache = {}
        remove("data/auth.json")

    # -- meter values -----------------------------------------------------------------------

    def _meter_value(self, i, measurands, context, t=None):
        r = self.readings[i] or (self._energy(i), None, None, None)
        sv = []
        for m in measurands:
            if m == "Energy.Active.Import.Register":
                sv.append({"value": "%d" % r[0], "context": context, "measurand": m, "unit": "Wh"})
            elif m == "Power.Active.Import" and r[1] is not None:
                sv.append({"value": "%d" % r[1], "context": context, "measurand": m, "unit": "W"})
            else:
                vals = r[2] if m == "Current.Import" else r[3] if m == "Voltage" else None
                for k in range(len(vals) if vals else 0):
                    sv.append({"value": "%.1f" % vals[k], "context": context, "measurand": m,
                               "unit": "A" if m == "Current.Import" else "V",
                               "phase": ("L1", "L2", "L3")[k] + ("-N" if m == "Voltage" else "")})
        return {"timestamp": iso(t or self.now()), "sampledValue": sv}

    def meter_values(self, i, measurands, context, t=None):
        """Queue one MeterValues for connector index i (0-based; -1 = the whole charge point)."""
        if i < 0:
            return
        tx = self.txs[i]
        mv = self._meter_value(i, measurands, context, t)
        if not mv["sampledValue"]:
            return
        if tx is None:
            if len(self.extra) < 4:
                self.extra.append({"connectorId": i + 1, "meterValue": [mv]})
        else:
            self.journal.append("MeterValues", {"connectorId": i + 1, "_r": tx["r"], "meterValue": [mv]})
        self.wake.set()

    # -- the hardware loop ------------------------------------------------------------------

    async def poll(self):
        """One pass over the outlets: plug, meter, relay faults, samples, timeouts."""
        now = time.ticks_ms()
        s = self.settings
        for i in range(len(self.conns)):
            o = self.outlets[i]
            c = self.conns[i]
            if o.plug.plugged() != c.plugged:
                self.apply(i, "plug", not c.plugged)
            lost = self.lost.pop(i, None)
            try:
                r = await o.meter.read()
                self.readings[i] = r
                if lost and int(r[0]) > lost[1]["meterStop"]:
                    lost[1]["meterStop"] = int(r[0])
                    self.journal.update(lost[0], lost[1])
                    log("tx stop", "connector", i + 1, "ref", lost[1]["_r"], "meter_wh", int(r[0]))
                if c.error == "PowerMeterFailure":
                    self.apply(i, "clear")
            except MeterError:
                self.readings[i] = None
                if c.error == "NoError":
                    self.apply(i, "fault", ("PowerMeterFailure", "meter not answering"))
            welded = o.relay.welded()
            if welded and c.error == "NoError":
                self.apply(i, "fault", ("OtherError", "relay welded"))
            elif not welded and c.error == "OtherError" and c.info == "relay welded":
                self.apply(i, "clear")
            r = self.readings[i]
            if c.tx and r:
                self.apply(i, "power", r[1])
            self.apply(i, "tick")
            rd = o.reader
            tag = rd.read() if rd else None
            if tag:
                self.card(i, tag)
            tx = self.txs[i]
            if tx is None:
                continue
            if r:
                tx["m"] = r[0]
                tx["mt"] = self.now()
            interval = s["MeterValueSampleInterval"]
            save = time.ticks_diff(now, self.saved_at[i]) >= _PERSIST_MS
            if interval and time.ticks_diff(now, self.next_sample[i]) >= 0:
                save = True
                self.next_sample[i] = time.ticks_add(now, interval * 1000)
                self.meter_values(i, s.measurands("MeterValuesSampledData"), "Sample.Periodic")
                self._tx_data(i, "StopTxnSampledData", "Sample.Periodic", None)
            if save:  # the last meter value a PowerLoss stop will report
                self.saved_at[i] = now
                save_json("data/tx%d.json" % (i + 1), tx)
        aligned = s["ClockAlignedDataInterval"]
        if aligned:
            t = self.now()
            if self.next_aligned == 0:
                self.next_aligned = (t // aligned + 1) * aligned
            elif t >= self.next_aligned:
                at = t - t % aligned
                self.next_aligned = at + aligned
                for i in range(len(self.conns)):
                    self.meter_values(i, s.measurands("MeterValuesAlignedData"), "Sample.Clock", at)
                    self._tx_data(i, "StopTxnAlignedData", "Sample.Clock", at)
        if self.reset:
            self._do_reset(now)

    def _stop_measurands(self):
        # Transaction.Begin / End values in transactionData: the sampled set, else the aligned one.
        s = self.settings
        return s.measurands("StopTxnSampledData") or s.measurands("StopTxnAlignedData")

    def _tx_data(self, i, key, context, t):
        # One more StopTxn*Data entry for StopTransaction.transactionData (bounded).
        m = self.settings.measurands(key)
        data = self.txdata[i]
        if m and data is not None:
            if len(data) >= _MAX_TXDATA:
                data.pop(1)  # keep Transaction.Begin and the latest samples
            data.append(self._meter_value(i, m, context, t))

    def request_reset(self, kind):
        self.reset = kind
        self.reset_at = time.ticks_ms()

    def _do_reset(self, now):
        from evse.ocpp import ops  # a Reset is under way (rare): see ops.do_reset
        drop("evse.ocpp.ops")
        ops.do_reset(self, now)

    # -- the connection ---------------------------------------------------------------------

    async def dispatch(self, action, payload):
        fn = HANDLERS.get(action)
        if fn is not None:
            return fn(self, payload)
        from evse.ocpp import ops  # the rare actions: loaded for this CALL, dropped after
        try:
            return ops.handle(self, action, payload)
        finally:
            drop("evse.ocpp.ops")

    async def run(self, connect):
        """Connect, serve, and reconnect with exponential back-off and jitter, forever."""
        backoff = 1
        while True:
            try:
                conn = await connect()
            except Exception as e:  # noqa: BLE001 - any connect failure: wait and retry
                cap = self.settings["ReconnectBackoffMax"] or 1
                wait = min(backoff, cap)
                wait_ms = wait * 1000 + (os.urandom(1)[0] * wait * 500) // 255
                log("ocpp connect failed", "error", repr(e)[:80], "retry_ms", wait_ms)
                await asyncio.sleep_ms(wait_ms)
                backoff = min(backoff * 2, cap)
                continue
            backoff = 1
            log("ocpp connected")
            rpc = Rpc(conn, self.dispatch, self.settings["MessageTimeout"])
            self.rpc = rpc
            task = asyncio.create_task(self._session(rpc, conn))
            try:
                await rpc.run()
            except Exception as e:  # noqa: BLE001 - the connection is gone: reconnect
                log("ocpp closed", "error", repr(e)[:80])
            finally:
                self.rpc = None
                task.cancel()
                try:
                    await conn.close()
                except Exception:  # noqa: BLE001 - closing a dead socket may fail; it is gone anyway
                    pass
            log("ocpp disconnected")
            await asyncio.sleep_ms(500 + os.urandom(1)[0] * 4)

    async def _session(self, rpc, conn):
        try:
            await self._boot(rpc)
            while True:
                if not await self._send_next(rpc):
                    self.wake.clear()
                    try:
                        await asyncio.wait_for_ms(self.wake.wait(), _POLL_MS * 4)
                    except asyncio.TimeoutError:
                        pass
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken session: drop the connection and reconnect
            log("ocpp session", "error", repr(e)[:80])
            try:
                await conn.close()
            except Exception:  # noqa: BLE001
                pass

    async def _boot(self, rpc):
        if self.reg == "Accepted" and self.booted == self.boot_fields:
            log("boot accepted", "resend", 0)
            return
        while True:
            try:
                res = await rpc.call("BootNotification", self.boot_fields)
            except (CallError, asyncio.TimeoutError) as e:
                log("boot", "error", repr(e)[:60])
                await asyncio.sleep(10)
                continue
            self.set_clock(res.get("currentTime"))
            status = res.get("status")
            interval = res.get("interval")
            if type(interval) is not int or interval < 0:
                interval = 0
            self.reg = status
            if status == "Accepted":
                if interval:
                    self.settings._v["HeartbeatInterval"] = interval
                self.booted = self.boot_fields
                log("boot accepted", "interval", interval)
                return
            log("boot", "status", status, "interval", interval)
            deadline = time.ticks_add(time.ticks_ms(), (interval or 30) * 1000)
            rpc.mute = status != "Pending"  # Rejected: say nothing at all until the interval ends
            while time.ticks_diff(deadline, time.ticks_ms()) > 0:
                if status == "Pending" and self.triggers:
                    if "BootNotification" in self.triggers:
                        self.triggers.remove("BootNotification")
                        break
                    await self._send_trigger(rpc)
                    continue
                self.wake.clear()
                try:
                    await asyncio.wait_for_ms(self.wake.wait(), _POLL_MS * 4)
                except asyncio.TimeoutError:
                    pass
            rpc.mute = False

    async def _call(self, rpc, action, payload):
        self.last_call = time.ticks_ms()
        return await rpc.call(action, payload)

    async def _send_trigger(self, rpc):
        from evse.ocpp import ops  # rare: loaded for this message, dropped after
        drop("evse.ocpp.ops")
        await ops.send_trigger(self, rpc)

    async def _heartbeat(self, rpc):
        res = await self._call(rpc, "Heartbeat", {})
        self.set_clock(res.get("currentTime"))

    async def _send_status(self, rpc, cid, force=False):
        p = self.pending[cid]
        if not force and time.ticks_diff(time.ticks_ms(), p[4]) < self.settings["MinimumStatusDuration"] * 1000:
            return False
        del self.pending[cid]
        payload = {"connectorId": cid, "errorCode": p[1], "status": p[0], "timestamp": iso(p[3])}
        if p[2]:
            payload["info"] = p[2][:50]
        await self._call(rpc, "StatusNotification", payload)
        self.reported[cid] = (p[0], p[1], p[2])
        return True

    async def _send_next(self, rpc):
        """Send the most urgent message, if any. True when something was sent. A message
        outside the journal that fails (CALLERROR, no answer) is dropped, not retried."""
        try:
            return await self._send_one(rpc)
        except CallError as e:
            log("ocpp call failed", "error", repr(e)[:60])
            return True
        except asyncio.TimeoutError:
            # No answer at all: take the connection for dead (a half-open TCP link looks just
            # like this) rather than spend a transaction message's attempts on it.
            raise OSError("no answer within MessageTimeout") from None

    async def _send_one(self, rpc):
        if self.triggers:
            await self._send_trigger(rpc)
            return True
        for cid in sorted(self.pending):
            if await self._send_status(rpc, cid):
                return True
        if self.auth_q:
            i, tag = self.auth_q.pop(0)
            res = await self._call(rpc, "Authorize", {"idTag": tag})
            info = res.get("idTagInfo") or {}
            self.remember(tag, info)
            log("authorize", "connector", i + 1, "status", info.get("status"))
            if info.get("status") == "Accepted":
                self.apply(i, "authorize", tag)
            return True
        if len(self.journal) and time.ticks_diff(time.ticks_ms(), self.retry_at) >= 0:
            await self._send_journal(rpc)
            return True
        if self.extra:
            await self._call(rpc, "MeterValues", self.extra.pop(0))
            return True
        hb = self.settings["HeartbeatInterval"]
        if hb and time.ticks_diff(time.ticks_ms(), self.last_call) >= hb * 1000:
            await self._heartbeat(rpc)
            return True
        return False

    async def _send_journal(self, rpc):
        seq, action, p = self.journal.peek()
        ref = p.pop("_r", None)
        if action != "StartTransaction":
            tid = self.ids.get(str(ref))
            p["transactionId"] = tid if tid is not None else -1
        try:
            res = await self._call(rpc, action, p)
        except CallError as e:  # the central system failed to process it: an attempt
            n = self.journal.bump(seq)
            log("ocpp retry", "action", action, "attempt", n, "error", repr(e)[:60])
            if n >= self.settings["TransactionMessageAttempts"]:
                self.journal.pop(seq)
                log("ocpp dropped", "action", action, "ref", ref)
                if action == "StopTransaction" and self.ids.pop(str(ref), None) is not None:
                    save_json("data/txids.json", self.ids)
                self.retry_at = time.ticks_ms()
            else:
                self.retry_at = time.ticks_add(time.ticks_ms(), self.settings["TransactionMessageRetryInterval"] * n * 1000)
            return
        if action == "StartTransaction":
            tid = res.get("transactionId")
            if type(tid) is int:
                self.ids[str(ref)] = tid
                save_json("data/txids.json", self.ids)
            info = res.get("idTagInfo") or {}
            self.remember(p["idTag"], info)
            self.journal.pop(seq)
            log("tx confirmed", "ref", ref, "transaction_id", tid, "status", info.get("status"))
            if info.get("status") != "Accepted":
                for i in range(len(self.conns)):
                    if self.txs[i] and self.txs[i]["r"] == ref:
                        if self.settings["StopTransactionOnInvalidId"]:
                            self.apply(i, "stop", "DeAuthorized")
                        else:
                            self.apply(i, "deauthorize")
            return
        self.journal.pop(seq)
        if action == "StopTransaction":
            if self.ids.pop(str(ref), None) is not None:
                save_json("data/txids.json", self.ids)
            self.remember(p["idTag"], res.get("idTagInfo"))
