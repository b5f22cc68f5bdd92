"""OCPP 1.6J central system on a Starlette WebSocket route, built on the `ocpp` package.

The `ocpp` ChargePoint needs a connection with `recv()` and `send()`; `_Connection` adapts a
Starlette WebSocket to that and writes the operator log line for every message either way.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import uuid

import ocpp.messages
from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotImplementedError,
    NotSupportedError,
    OCPPError,
    UnknownCallErrorCodeError,
)
from ocpp.messages import MessageType, unpack
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import oplog, security_events
from .clock import Clock, ocpp_time
from .ocpp_log import REDACTED, FrameLog
from .sessions import ChargerOffline, ChargerTimeout, Sessions
from .store import Store

# The `ocpp` package validates every payload against its JSON schema in the default thread
# pool. The check takes a fraction of a millisecond and holds the GIL anyway; the hop to a
# thread and back (and the GIL handover while the loop is busy) cost more than the check.
# Validate on the loop instead: same checks, same errors.
ocpp.messages.ASYNC_VALIDATION = False

SUBPROTOCOL = "ocpp1.6"
_SECRET_WORDS = ("key", "password", "secret", "token")
_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


def _summary(payload: object) -> dict:
    """Top-level scalars of a payload for the log line (plus idTagInfo.status), secrets masked."""
    out: dict = {}
    if not isinstance(payload, dict):
        return out
    for k, v in payload.items():
        if any(w in k.lower() for w in _SECRET_WORDS):
            out[k] = "***"
        elif isinstance(v, str | int | float | bool) or v is None:
            out[k] = v
        elif k == "idTagInfo" and isinstance(v, dict):
            out["idTagStatus"] = v.get("status")
        elif isinstance(v, list):
            out[k] = f"[{len(v)}]"
    return out


def _spec_error(error: OCPPError, action: str) -> OCPPError:
    """The `ocpp` package speaks 2.0.1 here: FormatViolation, and NotImplemented/NotSupported
    swapped. OCPP 1.6: NotImplemented = action not known, NotSupported = known, not supported."""
    cause = error.details.get("cause") if isinstance(error.details, dict) else None
    details = {"cause": str(cause)} if cause else {}
    if isinstance(error, FormatViolationError):
        return FormationViolationError(description=error.description, details=details)
    if isinstance(error, NotImplementedError):
        return NotSupportedError(details={"cause": f"{action} is not supported here."})
    if isinstance(error, NotSupportedError):
        return NotImplementedError(details={"cause": f"{action} is not an OCPP 1.6 action."})
    return type(error)(description=error.description, details=details)


class ChargerCallError(Exception):
    """A charger answered an operator's CALL with a CALLERROR (`from_charger`), or with a
    CALLRESULT that breaks the OCPP 1.6 schema (not `from_charger`: `code` is then the
    check's, e.g. TypeConstraintViolation)."""

    def __init__(self, identity: str, action: str, code: str, description: str,
                 from_charger: bool = True):
        super().__init__(f"{identity} {action}: {code} {description}")
        self.identity = identity
        self.action = action
        self.code = code
        self.description = description
        self.from_charger = from_charger


class _Connection:
    def __init__(self, ws: WebSocket, identity: str, frames: FrameLog | None = None):
        self.ws = ws
        self.identity = identity
        self.frames = frames
        self._actions: dict[str, str] = {}  # unique id -> action, to name the answers

    def _log(self, direction: str, raw: str) -> None:
        try:
            self._describe(direction, raw)
        except Exception as e:  # the log must never take a connection down
            oplog.log("ocpp", identity=self.identity, dir=direction, type="unloggable", error=repr(e))

    def _describe(self, direction: str, raw: str) -> None:
        try:
            msg = json.loads(raw)
            kind = _TYPES.get(msg[0], str(msg[0]))
            uid = str(msg[1])
        except (ValueError, TypeError, IndexError, KeyError):
            oplog.log("ocpp", identity=self.identity, dir=direction, type="malformed", size=len(raw))
            return
        if kind == "CALL" and len(msg) > 3:
            self._actions[uid] = str(msg[2])
            payload = msg[3]
            fields = _summary(payload)
        elif kind == "CALLERROR":
            fields = {"code": msg[2] if len(msg) > 2 else None,
                      "description": msg[3] if len(msg) > 3 else None}
            payload = {**fields, "details": msg[4] if len(msg) > 4 else None}
        else:
            payload = msg[2] if len(msg) > 2 else None
            fields = _summary(payload)
        action = self._actions.get(uid) if kind == "CALL" else self._actions.pop(uid, None)
        if self.frames is not None:
            self.frames.record(self.identity, direction, kind, action, uid, payload)
        record = {"identity": self.identity, "dir": direction, "type": kind, "action": action,
                  "uid": uid}
        for k, v in fields.items():  # a payload key never overwrites ours (e.g. "type")
            record["payload." + k if k in record or k == "event" else k] = v
        oplog.log("ocpp", **record)

    async def recv(self) -> str:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"].decode("utf-8", "replace")
            if raw is not None:
                self._log("in", raw)
                return raw

    async def send(self, raw: str) -> None:
        self._log("out", raw)
        await self.ws.send_text(raw)


class CentralChargePoint(ChargePoint):
    """One connected charger: the handler for each action a charge point may send."""

    def __init__(self, identity: str, connection: _Connection, central: CentralSystem):
        super().__init__(identity, connection, response_timeout=central.call_timeout)
        self.central = central
        self.closed = asyncio.Event()
        # unique id -> the answer (CallResult or CallError) of an operator's CALL, kept so that
        # an error can be told apart: the charger's CALLERROR, or its answer failing the schema
        self.answers: dict[str, object] = {}

    async def route_message(self, raw_msg):
        """As the `ocpp` package does, but with the CALLERROR codes of the 1.6 table."""
        try:
            msg = unpack(raw_msg)
        except OCPPError:
            return  # no usable uniqueId to answer; the log line says type=malformed
        if msg.message_type_id != MessageType.Call:
            if msg.unique_id in self.answers:
                self.answers[msg.unique_id] = msg
            self._response_queue.put_nowait(msg)
            return
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            await self._send(msg.create_call_error(_spec_error(error, msg.action)).to_json())

    @property
    def sessions(self) -> Sessions:
        return self.central.sessions

    def _now(self) -> str:
        return ocpp_time(self.central.clock())

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor, charge_point_model, **kw):
        self.central.store.set_charger(
            self.id, booted_at=self.central.clock(), vendor=charge_point_vendor,
            model=charge_point_model, firmware_version=kw.get("firmware_version"))
        return call_result.BootNotification(current_time=self._now(),
                                            interval=self.central.heartbeat_interval,
                                            status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self):
        return call_result.Heartbeat(current_time=self._now())

    @on(Action.status_notification)
    def on_status(self, connector_id, error_code, status, info=None, **kw):
        self.central.store.set_connector_status(self.id, connector_id, status, error_code, info,
                                                self.central.clock())
        tx = self.sessions.status_notification(self.id, connector_id, status)
        if tx is not None:
            self.central.spawn(self.central.stop_quietly(self.id, tx))
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag):
        return call_result.Authorize(id_tag_info={"status": self.sessions.authorize(self.id, id_tag)})

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kw):
        tx, status = self.sessions.start_transaction(self.id, connector_id, id_tag, meter_start,
                                                     timestamp)
        return call_result.StartTransaction(transaction_id=tx, id_tag_info={"status": status})

    @after(Action.start_transaction)
    async def after_start_transaction(self, connector_id, id_tag, **kw):
        # An idTag no live session owns (late, cancelled, or foreign): make sure it stops.
        row = self.central.store.one(
            "SELECT id FROM transactions WHERE identity = ? AND connector_id = ? AND id_tag = ? "
            "ORDER BY id DESC LIMIT 1", self.id, connector_id, id_tag)
        if row and self.sessions.offending_transaction(row["id"]):
            await self.central.stop_quietly(self.id, row["id"])

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop, timestamp, transaction_id, reason=None,
                                  id_tag=None, transaction_data=None):
        status = await self.sessions.stop_transaction(self.id, transaction_id, meter_stop,
                                                      timestamp, reason, id_tag, transaction_data)
        info = {"status": status} if status else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, transaction_id=None):
        self.sessions.meter_values(self.id, connector_id, transaction_id, meter_value)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id, message_id=None, data=None):
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, status):
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, status):
        return call_result.FirmwareStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, type, timestamp, tech_info=None):  # noqa: A002 - the field's name
        security_events.record(self.central.store, self.id, type, timestamp, tech_info,
                               self.central.clock())
        return call_result.SecurityEventNotification()


class CentralSystem:
    """The charger registry: who is connected, and the calls the backend makes to chargers."""

    def __init__(self, store: Store, clock: Clock, heartbeat_interval: int = 300,
                 call_timeout: float = 8.0, boot_trigger_after: float = 5.0):
        self.boot_trigger_after = boot_trigger_after
        self.store = store
        self.clock = clock
        self.heartbeat_interval = heartbeat_interval
        self.call_timeout = call_timeout
        self.sessions: Sessions  # set by create_app
        self.connections: dict[str, CentralChargePoint] = {}
        self._booted: set[str] = set()  # booted_at is set once and never cleared: remember it
        self._tasks: set[asyncio.Task] = set()
        self.frames = FrameLog(clock)  # recent traffic per charger, for `chargerctl ocpp-log`

    def cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ChargerLink -----------------------------------------------------------------------
    def is_online(self, identity: str) -> bool:
        if identity not in self.connections:
            return False
        if identity in self._booted:
            return True
        c = self.store.one("SELECT booted_at FROM chargers WHERE identity = ?", identity)
        if c and c["booted_at"]:
            self._booted.add(identity)
            return True
        return False

    async def _call(self, identity: str, payload) -> str:
        cp = self.connections.get(identity)
        if cp is None:
            raise ChargerOffline(identity)
        call_task = asyncio.ensure_future(cp.call(payload))
        closed_task = asyncio.ensure_future(cp.closed.wait())
        try:
            # the ocpp package times the call out itself after call_timeout; this is a backstop
            done, _ = await asyncio.wait({call_task, closed_task}, timeout=self.call_timeout + 0.5,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed_task.cancel()
        if call_task not in done:
            call_task.cancel()
            raise ChargerOffline(identity) if cp.closed.is_set() else ChargerTimeout(identity)
        try:
            result = call_task.result()
        except TimeoutError as e:
            raise ChargerTimeout(identity) from e
        # `None` is a CALLERROR (suppressed by the ocpp package): treat it as a refusal.
        return result.status if result is not None else "Rejected"

    async def operator_call(self, identity: str, payload, field: str = "status"):
        """An operator's CALL (operator_actions.py): the `status` of the charger's answer (or
        another `field` of it: GetLocalListVersion's `list_version`).

        Raises ChargerOffline, ChargerTimeout, or ChargerCallError: unlike a session's remote
        start, whose CALLERROR is just a refusal, an operator is told what the charger said
        (e.g. NotSupported from a firmware without smart charging)."""
        cp = self.connections.get(identity)
        if cp is None:
            raise ChargerOffline(identity)
        action = type(payload).__name__
        uid = str(uuid.uuid4())
        cp.answers[uid] = None
        call_task = asyncio.ensure_future(cp.call(payload, suppress=False, unique_id=uid))
        closed_task = asyncio.ensure_future(cp.closed.wait())
        try:
            done, _ = await asyncio.wait({call_task, closed_task}, timeout=self.call_timeout + 0.5,
                                         return_when=asyncio.FIRST_COMPLETED)
            if call_task not in done:
                call_task.cancel()
                raise ChargerOffline(identity) if cp.closed.is_set() else ChargerTimeout(identity)
            try:
                return getattr(call_task.result(), field)
            except TimeoutError as e:
                raise ChargerTimeout(identity) from e
            except (OCPPError, UnknownCallErrorCodeError) as e:
                answer = cp.answers.get(uid)
                if answer is None:
                    raise  # our own CALL broke the schema: a bug here, not the charger's doing
                if answer.message_type_id == MessageType.CallError:
                    raise ChargerCallError(identity, action, str(answer.error_code),
                                           str(answer.error_description or "")) from e
                cause = e.details.get("cause") if isinstance(getattr(e, "details", None), dict) \
                    else None
                raise ChargerCallError(identity, action, getattr(e, "code", type(e).__name__),
                                       str(cause or e), from_charger=False) from e
        finally:
            closed_task.cancel()
            cp.answers.pop(uid, None)

    async def remote_start(self, identity: str, connector_id: int, id_tag: str) -> str:
        return await self._call(identity, call.RemoteStartTransaction(id_tag=id_tag,
                                                                      connector_id=connector_id))

    async def remote_stop(self, identity: str, transaction_id: int) -> str:
        return await self._call(identity, call.RemoteStopTransaction(transaction_id=transaction_id))

    async def stop_quietly(self, identity: str, transaction_id: int) -> None:
        """A stop nobody waits for: the outcome only goes to the log."""
        try:
            answer = await self.remote_stop(identity, transaction_id)
        except (ChargerOffline, ChargerTimeout) as e:
            answer = type(e).__name__
        oplog.log("ocpp.remote_stop", identity=identity, transaction=transaction_id, answer=answer)

    async def _ensure_booted(self, cp: CentralChargePoint) -> None:
        """A charger that reconnects does not resend BootNotification; if this database has
        never seen it boot (a fresh db file), ask for one rather than call it offline forever."""
        await asyncio.sleep(self.boot_trigger_after)
        row = self.store.one("SELECT booted_at FROM chargers WHERE identity = ?", cp.id)
        if cp.closed.is_set() or (row and row["booted_at"]):
            return
        try:
            answer = await self._call(cp.id, call.TriggerMessage(requested_message="BootNotification"))
        except (ChargerOffline, ChargerTimeout) as e:
            answer = type(e).__name__
        oplog.log("ocpp.trigger_boot", identity=cp.id, answer=answer)

    # WebSocket endpoint ----------------------------------------------------------------
    async def _deny(self, ws: WebSocket, status: int, text: str, reason: str, **headers) -> None:
        identity = ws.path_params.get("identity")
        oplog.log("ocpp.refused", identity=identity, status=status, reason=reason)
        try:
            await ws.send_denial_response(PlainTextResponse(text, status_code=status, headers=headers))
        except RuntimeError:  # a server without the denial extension: a plain close (403)
            await ws.close(code=1008)

    def _authorized(self, ws: WebSocket, identity: str, key: str) -> bool:
        header = ws.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return bool(sep) and hmac.compare_digest(user.encode(), identity.encode()) and \
            hmac.compare_digest(password.encode(), key.encode())

    async def endpoint(self, ws: WebSocket) -> None:
        identity = ws.path_params["identity"]
        charger = self.store.charger(identity)
        if charger is None:
            return await self._deny(ws, 404, "Unknown charge point.", "unknown_identity")
        if charger["authorization_key"] and not self._authorized(ws, identity, charger["authorization_key"]):
            return await self._deny(ws, 401, "Unauthenticated.", "bad_credentials",
                                    **{"WWW-Authenticate": 'Basic realm="ocpp"'})
        if SUBPROTOCOL not in ws.scope.get("subprotocols", []):
            return await self._deny(ws, 400, "The ocpp1.6 subprotocol is required.", "no_subprotocol")
        await ws.accept(subprotocol=SUBPROTOCOL)
        client = ws.client.host if ws.client else None
        self.frames.record(identity, "-", "CONNECTED", None, None, {
            "client": client, "subprotocol": SUBPROTOCOL,
            "authorization": REDACTED if ws.headers.get("authorization") else None})
        cp = CentralChargePoint(identity, _Connection(ws, identity, self.frames), self)
        old = self.connections.get(identity)
        self.connections[identity] = cp
        if old is not None:
            old.closed.set()
            oplog.log("ocpp.replaced", identity=identity)
            self.spawn(old._connection.ws.close(code=1000))
        self.store.set_charger(identity, last_seen_at=self.clock())
        oplog.log("ocpp.connected", identity=identity, client=client)
        self.spawn(self._ensure_booted(cp))
        try:
            await cp.start()
        except WebSocketDisconnect as e:
            oplog.log("ocpp.disconnected", identity=identity, code=e.code)
        except RuntimeError as e:  # send/receive on a socket the other side already closed
            oplog.log("ocpp.disconnected", identity=identity, error=str(e))
        finally:
            cp.closed.set()
            self.frames.record(identity, "-", "DISCONNECTED", None, None, {})
            if self.connections.get(identity) is cp:
                del self.connections[identity]
            self.store.set_charger(identity, last_seen_at=self.clock())
