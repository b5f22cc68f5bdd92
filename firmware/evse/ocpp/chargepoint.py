# The OCPP 1.6 charge point: the connection to the central system. It connects and reconnects,
# boots (operations/BootNotification.py, loaded for it), sends what the features queue (in the
# order of _send_one) and dispatches the central system's CALLs to their operations
# (operations/: one module per action, and the route table).
# What the charge point knows lives with its feature:
#   __init__.py        the clock: OCPP times on the central system's clock
#   transactions.py    each connector (Port: state machine, hardware, meter reading, open
#                      transaction), transactions through the journal, meter values
#                      (data/tx<n>.json, data/txids.json; data/journal.log through journal.py)
#   availability.py    ChangeAvailability's state and StatusNotification  (data/avail.json)
#   authorization.py   idTags waiting for Authorize, the reservations (data/resv.json); the
#                      local list and the cache, read per use (localauth.py: data/list.jsonl,
#                      data/cache.jsonl)
#   settings.py        the configuration keys  (data/ocpp.json)
#   security events    security_events.py (the log, the queue), sent per use by operations/
#                      SecurityEventNotification.py; the resident flags in ocpp.state
#   smart              smart charging's one resident number: 0 without charging profiles, else
#                      when the limits are due to be recomputed (operations/
#                      GetCompositeSchedule.py, per use; the profiles: data/profiles.jsonl)
# Hardware reaches it only through the outlets (relay, meter, plug) and the connector state
# machines.
import os
import time

import asyncio
from evse import Reboot, RelayStuck
from evse.log import log
from evse.ocpp.authorization import Authorization
from evse.ocpp.availability import Availability
from evse import ocpp
from evse.ocpp.operations import answer, intern, load, preload
from evse.ocpp.rpc import CallError, Rpc
from evse.ocpp.transactions import Port, Transactions

_POLL_MS = const(250)
_STABLE_MS = const(10000)  # a connection up this long resets the reconnect back-off
_CLOSE_MS = const(1000)  # the close handshake of a session that failed
_PROFILES = const("data/profiles.jsonl")  # operations/SetChargingProfile.py
_RETRY_S = const(10)  # a recomputation of the limits that failed (heap, flash) is tried again


class ChargePoint:
    def __init__(self, settings, outlets, journal, boot_fields, on_status=None):
        self.settings = settings
        self.journal = journal
        self.boot_fields = boot_fields
        self.wake = asyncio.Event()  # set when there may be something to send
        self.rpc = None
        self.reg = None  # BootNotification status of this boot
        self.booted = None  # the fields the central system accepted
        self.last_call = time.ticks_ms()
        self.triggers = []  # (message, connector id or None) a TriggerMessage asked for
        # (action, payload) of a feature's own notifications (a firmware update's, a diagnostics
        # upload's...), sent in order after the triggered ones; one that fails is dropped. What
        # must survive a reboot or a lost connection is the feature's to keep and queue again.
        self.outbox = []
        self.reset = None  # (kind, ticks_ms) of a Reset under way: operations/Reset.py
        self.smart = 0  # smart charging (above); set below, read by every connector's change
        # An operation's module, held as the route table says: how per-use operations reach
        # each other (they cannot import the table, which loads them).
        self.operation = load
        self.availability = Availability(self, len(outlets), on_status)
        av = self.availability
        self.ports = tuple(Port(self, i + 1, outlets[i], av.operative[i + 1])
                           for i in range(len(outlets)))
        self.transactions = Transactions(self)
        self.authorization = Authorization(self)  # a connector reserved is Reserved from here
        for cid in range(1, len(self.ports) + 1):
            av.report(cid, av.state(cid))
        av.report(0, av.state(0))
        self.transactions.recover()
        # Smart charging: with profiles stored, the first poll computes the limits (and
        # drops the TxProfiles of transactions a power loss ended).
        try:
            os.stat(_PROFILES)
            self.smart = 1
        except OSError:
            pass
        # The resident operations (the route table's "keep"), loaded now while the heap is
        # still in one piece: importing one later, into a fragmented heap, could fail exactly
        # when a RemoteStopTransaction arrives. Then the names every session interns (the
        # qstr pool they need is one block of ~4.5 KB on 32-bit): before the app's tasks and
        # the first connection put their long-lived objects between the free blocks.
        preload()
        try:
            intern()
        except Exception:  # noqa: BLE001 - only a head start: each CALL loads its module anyway
            pass

    def port(self, cid):
        """Connector cid (1...) as the charge point sees it."""
        return self.ports[cid - 1]

    async def poll(self):
        """One pass of the hardware loop: every connector, the clock-aligned samples, a Reset.
        A connector whose pass raises is tripped (relay open, Faulted) and the others go on."""
        now = time.ticks_ms()
        for p in self.ports:
            try:
                await p.poll(now)
            except Exception as e:  # noqa: BLE001 - any error in a connector's path opens its relay
                p.trip(e)
        try:
            if self.authorization.held and ocpp.now() >= self.availability.due:
                # A reservation held and a connector's state changed (it may have dropped its
                # reservation, connector 0's may have to move) or an expiry is due: rare, per use.
                load("CancelReservation").tidy(self)
        except Exception:  # noqa: BLE001 - no heap or flash for it now: the next pass tries
            pass  # again; no relay depends on it, so no connector is tripped for it
        if self.smart and ocpp.now() >= self.smart:
            # A period boundary, or a change (a profile, a transaction begun or ended, the
            # clock set): the limits again, per use.
            try:
                load("GetCompositeSchedule").apply(self)
            except RelayStuck:  # a relay that would not open (Port.trip): to main.py's crash
                raise  # guard, never kept back like the errors below
            except Exception as e:  # noqa: BLE001 - no heap or flash for it now: the offers
                self.smart = ocpp.now() + _RETRY_S  # stay as they were until it works
                try:
                    log("charging limit", "error", repr(e)[:60])
                except Exception:  # noqa: BLE001 - a log line short of heap changes nothing
                    pass
        try:
            self.transactions.aligned()
        except Exception as e:  # noqa: BLE001 - the bookkeeping of every open transaction failed
            for p in self.ports:
                if p.tx is not None:
                    p.trip(e)
        if self.reset:
            try:
                load("Reset").poll(self, now)
            except Reboot:  # the Reset itself: out of the app, to main.py
                raise
            except Exception:  # noqa: BLE001 - the Reset is tried again at the next pass; its
                pass  # transactions stop through their connectors, which trip on their own errors

    async def dispatch(self, action, payload):
        # The route table (operations/__init__.py) says which module answers and whether it
        # stays loaded after.
        return answer(self, action, payload)

    # -- the connection ---------------------------------------------------------------------

    async def run(self, connect):
        """Connect, serve, and reconnect with exponential back-off and jitter, forever: 1 s
        (+ up to 50 %), doubling up to ReconnectBackoffMax. An error of any kind ends only the
        connection it happened in. A connection that ends within _STABLE_MS counts as a failed
        attempt: a link that breaks at once every time (a fault of ours or the server's) is
        retried with back-off, not hammered; one that lasted starts again from 1 s."""
        backoff = 1
        while True:
            try:
                up = await self._connection(connect)
            except Exception:  # noqa: BLE001 - even its log line failed (no heap): retry all the same
                up = -1
            wait_ms = 1000
            try:
                if up >= _STABLE_MS:
                    backoff = 1
                cap = self.settings["ReconnectBackoffMax"] or 1
                wait = min(backoff, cap)
                wait_ms = wait * 1000 + (os.urandom(1)[0] * wait * 500) // 255
                backoff = min(backoff * 2, cap)
                log("ocpp reconnect", "in_ms", wait_ms)
            except Exception:  # noqa: BLE001 - a second's wait, and try again
                pass
            await asyncio.sleep_ms(wait_ms)

    async def _connection(self, connect):
        """One connection: open, serve until it ends, close. -> ms it was up, -1 if it could not
        be opened. Its objects (socket, buffers, RPC) go with this call, before the back-off:
        held through the next connect they would make it fail for want of heap, and again."""
        try:
            conn = await connect()
        except Exception as e:  # noqa: BLE001 - any connect failure: wait and retry
            log("ocpp connect failed", "error", repr(e)[:80])
            # HOOK(secev): FailedToAuthenticateAtCentralSystem for a WSError whose .status is 401
            # (not built: each retry would log one; needs a once-per-outage rule)
            return -1
        t0 = time.ticks_ms()
        task = None
        try:
            log("ocpp connected")
            rpc = Rpc(conn, self.dispatch, self.settings["MessageTimeout"])
            self.rpc = rpc
            task = asyncio.create_task(self._session(rpc, conn))
            await rpc.run()
        except Exception as e:  # noqa: BLE001 - the connection is gone: reconnect
            log("ocpp closed", "error", repr(e)[:80])
        finally:
            self.rpc = None
            if task is not None:
                task.cancel()
            try:
                await conn.close()
            except Exception:  # noqa: BLE001 - closing a dead socket may fail; it is gone anyway
                pass
        log("ocpp disconnected")
        return time.ticks_diff(time.ticks_ms(), t0)

    async def _session(self, rpc, conn):
        try:
            await self._boot(rpc)
            while True:
                if not await self._send_next(rpc):
                    await self.idle()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken session: drop the connection and reconnect
            log("ocpp session", "error", repr(e)[:80])
            # A peer that stopped answering (MessageTimeout) would not answer our close either:
            # the handshake waits _CLOSE_MS, not the connect timeout, before the socket goes.
            conn.timeout_ms = _CLOSE_MS
            try:
                await conn.close()
            except Exception:  # noqa: BLE001
                pass

    async def idle(self):
        """Until something is queued, or a poll's time has passed."""
        self.wake.clear()
        try:
            await asyncio.wait_for_ms(self.wake.wait(), _POLL_MS * 4)
        except asyncio.TimeoutError:
            pass

    # -- boot -------------------------------------------------------------------------------

    async def _boot(self, rpc):
        # Until Accepted (operations/BootNotification.py). Its module is loaded for each answer
        # only, not held while the CALL and the answer's check take the heap: the first
        # connection's peak, the highest of a session on a small heap.
        if self.reg == "Accepted" and self.booted == self.boot_fields:
            log("boot accepted", "resend", 0)  # a reconnect within the same boot
            return
        while True:
            try:
                answer = await rpc.call("BootNotification", self.boot_fields)
            except (CallError, asyncio.TimeoutError) as e:
                log("boot", "error", repr(e)[:60])
                await asyncio.sleep(10)
                continue
            if await load("BootNotification").answered(self, rpc, answer):
                return

    # -- the sender -------------------------------------------------------------------------

    async def call(self, rpc, action, payload):
        """A CALL of our own; it counts as a sign of life for the heartbeat."""
        self.last_call = time.ticks_ms()
        return await rpc.call(action, payload)

    async def heartbeat(self, rpc):
        res = await self.call(rpc, "Heartbeat", {})
        ocpp.set_time(res.get("currentTime"))
        if self.smart:  # a clock corrected (or set): the charging limits again, on it
            self.smart = 1

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

    def notify(self, action, payload):
        """Queue a notification of ours (outbox, above) and wake the sender."""
        self.outbox.append((action, payload))
        self.wake.set()

    async def _send_one(self, rpc):
        # In this order: what a TriggerMessage asked for, the features' notifications, status
        # changes, Authorize, the journal (transactions), MeterValues outside a transaction,
        # security events, the heartbeat.
        if self.triggers:
            await load("TriggerMessage").send(self, rpc)
            return True
        if self.outbox:
            action, payload = self.outbox.pop(0)
            await self.call(rpc, action, payload)
            return True
        av = self.availability
        for cid in sorted(av.pending):
            if await av.send(rpc, cid):
                return True
        if self.authorization.queue:
            await load("Authorize").send(self, rpc)
            return True
        tr = self.transactions
        if len(self.journal) and time.ticks_diff(time.ticks_ms(), tr.retry_at) >= 0:
            await tr.send(rpc)
            return True
        if tr.extra:
            await self.call(rpc, "MeterValues", tr.extra.pop(0))
            return True
        n = ocpp.state
        if n[1] or n[2] or n[3] or n[4] and time.ticks_diff(time.ticks_ms(), n[6]) >= 0:
            # Security events: what the clock and the RPC noted (InvalidMessages at most once
            # a minute), the queued notifications, critical first; after the status changes
            # and the transactions, whose timing matters to the driver, before the heartbeat
            it = load("SecurityEventNotification").pending()  # the module freed during the CALL
            if it:
                e = None
                try:
                    await self.call(rpc, "SecurityEventNotification", it[2])
                except CallError as x:
                    e = x.code
                load("SecurityEventNotification").sent(it, e)
                return True
        hb = self.settings["HeartbeatInterval"]
        if hb and time.ticks_diff(time.ticks_ms(), self.last_call) >= hb * 1000:
            await self.heartbeat(rpc)
            return True
        return False
