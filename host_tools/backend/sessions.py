"""Public charging sessions: the lifecycle driven by the API (the charger's side is in
charger_events.py, the names and money rules in lifecycle.py).

    created --confirm--> authorized --RemoteStartTransaction Accepted--> starting
    starting --StartTransaction--> charging --stop / EV unplugged / charger stop--> stopping
    stopping --StopTransaction--> settling --capture--> completed
    created|authorized|starting --cancel--> cancelled
    created|authorized|starting --rejected, no start in time, offline, payment failed--> failed
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..connector_states import refusal
from . import meter, oplog
from .charger_events import ChargerEvents
from .clock import Clock, iso
from .lifecycle import (  # noqa: F401 - cost_for, energy_kwh, tax_in: the money rules, importable here
    ACTIVE,
    AUTHORIZED,
    CANCELLABLE,
    CANCELLED,
    CHARGER_OFFLINE,
    CHARGER_REJECTED,
    CHARGING,
    COMPLETED,
    CREATED,
    FAILED,
    PAYMENT_FAILED,
    SETTLING,
    START_TIMEOUT,
    STARTABLE_CONNECTOR,
    STARTING,
    STOPPING,
    TERMINAL,
    cost_for,
    energy_kwh,
    tax_in,
)
from .payments import CANCELED, REQUIRES_CAPTURE, SUCCEEDED, PaymentError, PaymentProvider
from .store import Store


class ChargerOffline(Exception):
    pass


class ChargerTimeout(Exception):
    pass


class ChargerLink(Protocol):
    """What sessions need from the OCPP side (ocpp_server.CentralSystem provides it)."""

    def is_online(self, identity: str) -> bool: ...
    async def remote_start(self, identity: str, connector_id: int, id_tag: str) -> str: ...
    async def remote_stop(self, identity: str, transaction_id: int) -> str: ...


class Refused(Exception):
    """A request the API answers with an error status and a Laravel-style body."""

    def __init__(self, status: int, message: str, errors: dict | None = None,
                 headers: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}  # more fields of the body, e.g. connector_status on a 409


@dataclass
class Settings:
    start_timeout: float = 60.0  # authorized/starting -> failed when no StartTransaction by then
    created_ttl: float = 900.0  # an unpaid session is cancelled after this, freeing the connector
    token_ttl: float = 86400.0  # a token is unknown (404) this long after its session ended
    stop_ttl: float = 3600.0  # stopping without a StopTransaction this long: settle on the last reading
    vat_rate: Decimal = Decimal("0.21")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions(ChargerEvents):
    def __init__(self, store: Store, payments: PaymentProvider, clock: Clock, link: ChargerLink,
                 settings: Settings | None = None):
        self.store = store
        self.payments = payments
        self.clock = clock
        self.link = link
        self.settings = settings or Settings()
        self._create_lock = asyncio.Lock()
        self._checking = asyncio.Lock()
        self._capturing: set[int] = set()  # captures in flight, so a poll does not start another

    # views -----------------------------------------------------------------------------
    def charger_view(self, c: dict) -> dict:
        connectors = []
        for n in range(1, c["connectors"] + 1):
            connectors.append({
                "connector_id": n,
                "status": self.store.connector_status(c["identity"], n) or "Unavailable",
                "standard": c["standard"], "format": c["format"], "power_type": c["power_type"],
            })
        return {
            "public_code": c["public_code"], "name": c["name"],
            "online": self.link.is_online(c["identity"]), "connectors": connectors,
            "pricing": {"currency": c["currency"], "price_per_kwh": c["price_per_kwh"],
                        "start_fee": c["start_fee"]},
            "preauth_amount": c["preauth_amount"],
        }

    def view(self, s: dict) -> dict:
        c = self.store.one("SELECT * FROM chargers WHERE identity = ?", s["identity"]) or {}
        tx = self.store.one("SELECT * FROM transactions WHERE id = ?",
                            s["transaction_id"]) if s["transaction_id"] else None
        return {
            "status": s["status"],
            "failure_reason": s["failure_reason"],
            "connector_id": s["connector_id"],
            "connector_status": self.store.connector_status(s["identity"], s["connector_id"]),
            "charger": {"public_code": c.get("public_code"), "name": c.get("name"),
                        "online": self.link.is_online(s["identity"])},
            "pricing": {"currency": s["currency"], "price_per_kwh": s["price_per_kwh"],
                        "start_fee": s["start_fee"]},
            "amount_authorized": s["amount_authorized"],
            "energy_kwh": energy_kwh(s["energy_wh"]),
            "cost_amount": s["cost_amount"],
            "amount_captured": s["amount_captured"],
            "tax_amount": s["tax_amount"],
            "driver_email": s["driver_email"],
            "created_at": iso(s["created_at"]),
            "authorized_at": iso(s["authorized_at"]),
            "charging_started_at": iso(s["charging_started_at"]),
            "completed_at": iso(s["completed_at"]),
            "captured_at": iso(s["captured_at"]),
            **meter.live(self.store, tx, s["status"] == CHARGING),
            "charge_limit_a": self.store.charge_limit(s["identity"], s["connector_id"]),
        }

    def payment_view(self, s: dict) -> dict | None:
        if s["status"] != CREATED:
            return None
        return {"client_secret": s["client_secret"], "publishable_key": s["publishable_key"],
                "stripe_account_id": s["stripe_account_id"]}

    # lookups ---------------------------------------------------------------------------
    def public_charger(self, code: str) -> dict | None:
        c = self.store.charger_by_code(code)
        return c if c and c["public_charging"] else None

    async def find(self, token: str) -> dict | None:
        if not token or len(token) > 128:
            return None
        digest = hash_token(token)
        s = self.store.one("SELECT * FROM sessions WHERE token_hash = ?", digest)
        if s is None or not hmac.compare_digest(s["token_hash"], digest):
            return None
        await self.check_timeouts()
        s = self.store.session(s["id"])
        ended = s["completed_at"]
        if s["status"] in TERMINAL and ended and self.clock() - ended > self.settings.token_ttl:
            return None
        return s

    def _reload(self, s: dict) -> dict:
        return self.store.session(s["id"])

    # transitions -----------------------------------------------------------------------
    def _transition(self, s: dict, to: str, **fields) -> dict:
        now = self.clock()
        self.store.update("sessions", s["id"], status=to, updated_at=now, **fields)
        extra = {k: v for k, v in fields.items() if k in ("failure_reason", "transaction_id",
                                                          "energy_wh", "cost_amount",
                                                          "amount_captured", "tax_amount")}
        oplog.log("session", session=s["id"], token=s["token_hint"], charger=s["identity"],
                  connector=s["connector_id"], **{"from": s["status"], "to": to}, **extra)
        return self.store.session(s["id"])

    async def _release(self, s: dict) -> None:
        if not s["payment_intent_id"]:
            return
        try:
            intent = await self.payments.retrieve(s["payment_intent_id"])
            if intent.status not in (CANCELED, SUCCEEDED):
                await self.payments.release(s["payment_intent_id"])
                oplog.log("payment.release", session=s["id"], intent=s["payment_intent_id"])
        except PaymentError as e:
            oplog.log("payment.error", session=s["id"], op="release", code=e.code)

    async def _fail(self, s: dict, reason: str) -> dict:
        s = self._transition(s, FAILED, failure_reason=reason, completed_at=self.clock(),
                             start_deadline=None)
        await self._release(s)
        return s

    # driver actions --------------------------------------------------------------------
    async def create(self, charger: dict, connector_id: int, email: str | None) -> tuple[str, dict]:
        identity = charger["identity"]
        async with self._create_lock:
            if not self.link.is_online(identity):
                raise Refused(400, "The charger is offline.")
            if connector_id > charger["connectors"]:
                raise Refused(422, "The given data was invalid.", {
                    "connector_id": [f"The selected connector id is invalid: this charger has "
                                     f"{charger['connectors']} connector(s)."]})
            status = self.store.connector_status(identity, connector_id)
            busy = self.store.one(
                f"SELECT id FROM sessions WHERE identity = ? AND connector_id = ? AND status IN "
                f"({', '.join('?' for _ in ACTIVE)})", identity, connector_id, *ACTIVE)
            if busy or status not in STARTABLE_CONNECTOR:
                raise Refused(409, refusal(status, connector_id),
                              extra={"connector_status": status})
            now = self.clock()
            recent = self.store.all(
                "SELECT created_at FROM sessions WHERE identity = ? AND created_at > ? "
                "ORDER BY created_at", identity, now - 3600)
            if len(recent) >= charger["max_sessions_per_hour"]:
                wait = int(recent[0]["created_at"] + 3600 - now) + 1 if recent else 3600
                raise Refused(429, "This charger has reached its limit of public sessions per hour.",
                              headers={"Retry-After": str(max(1, wait))})
            try:
                intent = await self.payments.create_hold(
                    charger["preauth_amount"], charger["currency"],
                    f"Public charging at {charger['name']}",
                    {"charger": identity, "connector_id": str(connector_id)})
            except PaymentError as e:
                oplog.log("payment.error", op="create", code=e.code)
                raise Refused(503, "The payment provider is unavailable; try again.") from e
            token = secrets.token_urlsafe(32)
            sid = self.store.insert(
                "sessions", token_hash=hash_token(token), token_hint=oplog.token_hint(token),
                identity=identity, connector_id=connector_id,
                id_tag="PC" + secrets.token_hex(9).upper(), status=CREATED, driver_email=email,
                currency=charger["currency"], price_per_kwh=charger["price_per_kwh"],
                start_fee=charger["start_fee"], preauth_amount=charger["preauth_amount"],
                payment_intent_id=intent.id, client_secret=intent.client_secret,
                publishable_key=self.payments.publishable_key,
                stripe_account_id=self.payments.account_id, created_at=now, updated_at=now)
        s = self.store.session(sid)
        oplog.log("session", session=sid, token=s["token_hint"], charger=identity,
                  connector=connector_id, to=CREATED, intent=intent.id, hold=intent.amount)
        return token, s

    async def confirm(self, s: dict) -> dict:
        if s["status"] != CREATED:
            return s
        try:
            intent = await self.payments.retrieve(s["payment_intent_id"])
        except PaymentError as e:
            oplog.log("payment.error", session=s["id"], op="retrieve", code=e.code)
            return s
        s = self._reload(s)
        if s["status"] != CREATED:
            return s
        if intent.status == REQUIRES_CAPTURE:
            now = self.clock()
            s = self._transition(s, AUTHORIZED, authorized_at=now, amount_authorized=intent.amount,
                                 start_deadline=now + self.settings.start_timeout)
            return await self._remote_start(s)
        if intent.status == CANCELED or intent.last_error:
            oplog.log("payment.failed", session=s["id"], intent=intent.id, code=intent.last_error)
            return await self._fail(s, PAYMENT_FAILED)
        return s  # not confirmed by the payer yet: nothing to do

    async def _remote_start(self, s: dict) -> dict:
        if not self.link.is_online(s["identity"]):
            return await self._fail(s, CHARGER_OFFLINE)
        try:
            answer = await self.link.remote_start(s["identity"], s["connector_id"], s["id_tag"])
        except ChargerOffline:
            answer = None
        except ChargerTimeout:
            answer = "Timeout"
        s = self._reload(s)
        if s["status"] != AUTHORIZED:  # StartTransaction overtook the answer, or a cancel did
            return s
        if answer is None:
            return await self._fail(s, CHARGER_OFFLINE)
        if answer == "Timeout":
            return await self._fail(s, START_TIMEOUT)
        if answer != "Accepted":
            return await self._fail(s, CHARGER_REJECTED)
        return self._transition(s, STARTING,
                                start_deadline=self.clock() + self.settings.start_timeout)

    async def stop(self, s: dict) -> dict:
        if s["status"] in (STOPPING, SETTLING, COMPLETED):
            return s
        if s["status"] != CHARGING:
            raise Refused(400, f"The session is not charging (status: {s['status']}).")
        if not self.link.is_online(s["identity"]):
            raise Refused(400, "The charger is offline; unplug the vehicle to end the session.")
        try:
            answer = await self.link.remote_stop(s["identity"], s["transaction_id"])
        except (ChargerOffline, ChargerTimeout) as e:
            raise Refused(400, "The charger did not confirm the stop; unplug the vehicle to end "
                               "the session.") from e
        s = self._reload(s)
        if answer != "Accepted":
            if s["status"] == CHARGING:
                raise Refused(400, "The charger refused to stop; unplug the vehicle to end the session.")
            return s
        if s["status"] == CHARGING:
            s = self._transition(s, STOPPING, stop_requested_at=self.clock())
        return s

    async def cancel(self, s: dict) -> dict:
        # Only created/authorized/starting: a second cancel is a 409 like any other state.
        if s["status"] not in CANCELLABLE:
            raise Refused(409, f"The session can no longer be cancelled (status: {s['status']}).")
        s = self._transition(s, CANCELLED, completed_at=self.clock(), start_deadline=None)
        await self._release(s)
        return s

    # time ------------------------------------------------------------------------------
    async def check_timeouts(self) -> None:
        """Deadlines by the clock; run by a ticker and before answering for a session."""
        if self._checking.locked():
            return  # a pass is already running
        async with self._checking:
            await self._check_timeouts()

    def _still(self, s: dict, status: str) -> dict | None:
        """The session's current row if it is still in `status` (others may have moved it)."""
        s = self._reload(s)
        return s if s["status"] == status else None

    async def _check_timeouts(self) -> None:
        now = self.clock()
        for s in self.store.all(
                "SELECT * FROM sessions WHERE status IN (?, ?) AND start_deadline <= ?",
                AUTHORIZED, STARTING, now):
            if s := self._still(s, s["status"]):
                online = self.link.is_online(s["identity"])
                await self._fail(s, START_TIMEOUT if online else CHARGER_OFFLINE)
        for s in self.store.all("SELECT * FROM sessions WHERE status = ? AND created_at <= ?",
                                CREATED, now - self.settings.created_ttl):
            if s := self._still(s, CREATED):
                s = self._transition(s, CANCELLED, completed_at=now)
                await self._release(s)
        for s in self.store.all("SELECT * FROM sessions WHERE status = ? AND stop_requested_at <= ?",
                                STOPPING, now - self.settings.stop_ttl):
            if not (s := self._still(s, STOPPING)):
                continue
            tx = self.store.one("SELECT * FROM transactions WHERE id = ?", s["transaction_id"])
            wh = max(0, (tx["last_meter_wh"] or tx["meter_start"]) - tx["meter_start"]) if tx else 0
            oplog.log("session.no_stop_transaction", session=s["id"], energy_wh=wh)
            s = self._transition(s, SETTLING, energy_wh=wh,
                                 cost_amount=cost_for(wh, s["price_per_kwh"], s["start_fee"]))
            await self._capture(s)
        for s in self.store.all("SELECT * FROM sessions WHERE status = ?", SETTLING):
            if s := self._still(s, SETTLING):
                await self._capture(s)  # a capture a restart or a network error interrupted

    async def _capture(self, s: dict) -> dict:
        if s["id"] in self._capturing:
            return s
        self._capturing.add(s["id"])
        try:
            return await self._capture_once(s)
        finally:
            self._capturing.discard(s["id"])

    async def _capture_once(self, s: dict) -> dict:
        amount = min(s["cost_amount"] or 0, s["amount_authorized"] or 0)
        try:
            intent = await self.payments.retrieve(s["payment_intent_id"])
            if intent.status == REQUIRES_CAPTURE:
                if amount > 0:
                    intent = await self.payments.capture(s["payment_intent_id"], amount)
                    oplog.log("payment.capture", session=s["id"], intent=intent.id, amount=amount)
                else:
                    intent = await self.payments.release(s["payment_intent_id"])
            if intent.status == CANCELED and amount > 0:
                raise PaymentError("payment_intent_unexpected_state", "the hold was cancelled")
            captured = intent.amount_received if intent.status == SUCCEEDED else 0
        except PaymentError as e:
            oplog.log("payment.error", session=s["id"], op="capture", code=e.code,
                      retry=e.retryable)
            if e.retryable:
                return s  # still settling; the next tick tries again
            return self._transition(s, FAILED, failure_reason=PAYMENT_FAILED,
                                    completed_at=self.clock())
        now = self.clock()
        return self._transition(s, COMPLETED, amount_captured=captured,
                                tax_amount=tax_in(captured, self.settings.vat_rate),
                                captured_at=now, completed_at=now)
