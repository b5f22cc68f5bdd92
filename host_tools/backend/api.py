"""The backend's one ASGI app: the public-charging REST API, the local payment step, and OCPP.

    create_app(chargers, db_path, clock=..., payments="local") -> FastAPI

REST under /api/v3/public-charging/..., OCPP 1.6J at /ocpp/{identity}, the driver's
"Scan to Pay" page at /p/{code} (pay_page.py), one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import oplog, schemas
from .clock import Clock, system_clock
from .config import (
    Charger,
    check_operator_token,
    parse_chargers,
    parse_operator_token,
    read_chargers_file,
)
from .ocpp_server import CentralSystem
from .operator import add_operator_routes
from .operator_actions import add_action_routes
from .pay_page import add_page_routes
from .payments import LocalPayments, PaymentError, PaymentProvider, StripePayments
from .ratelimit import RateLimiter, Verdict
from .security_events import add_security_routes
from .sessions import Refused, Sessions, Settings
from .store import Store

PREFIX = "/api/v3/public-charging"
LOCAL_CONFIRM = "/api/v3/_local/payments/{payment_intent_id}/confirm"

# requests per minute per client IP, by endpoint
RATE_LIMITS = {"charger": 30, "start": 3, "get": 30, "confirm": 10, "stop": 10, "cancel": 10,
               "local_confirm": 30, "actions": 30}

_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f.]+(\.[^@\s\x00-\x1f\x7f.]+)+$")
_MAX_BODY = 64 * 1024
_TOKEN_IN_PATH = re.compile(r"(/sessions/)([^/]+)")

_MSG = {"model": schemas.Message}
_RESPONSES = {
    "charger": {200: {"model": schemas.ChargerResponse}, 404: _MSG, 429: _MSG},
    "start": {201: {"model": schemas.StartResponse}, 400: _MSG, 404: _MSG,
              409: _MSG, 422: {"model": schemas.ValidationErrors}, 429: _MSG, 503: _MSG},
    "get": {200: {"model": schemas.SessionResponse}, 404: _MSG, 429: _MSG},
    "confirm": {200: {"model": schemas.SessionOnly}, 404: _MSG, 429: _MSG},
    "stop": {200: {"model": schemas.SessionOnly}, 400: _MSG, 404: _MSG, 429: _MSG},
    "cancel": {200: {"model": schemas.SessionOnly}, 404: _MSG, 409: _MSG, 429: _MSG},
}


class Backend:
    """Everything one app holds; `app.state.backend`."""

    def __init__(self, store: Store, central: CentralSystem, sessions: Sessions,
                 payments: PaymentProvider, limiter: RateLimiter, limits: dict[str, int],
                 operator_token: str | None = None):
        self.operator_token = operator_token  # None: the operator actions are off
        self.store = store
        self.central = central
        self.sessions = sessions
        self.payments = payments
        self.limiter = limiter
        self.limits = limits


def make_payments(kind: str | PaymentProvider, store: Store, clock: Clock) -> PaymentProvider:
    if not isinstance(kind, str):
        return kind
    if kind == "local":
        return LocalPayments(store, clock)
    if kind == "stripe":
        return StripePayments.from_env()
    raise ValueError(f"unknown payment provider {kind!r}: use 'local' or 'stripe'")


def _json(status: int, body: dict, verdict: Verdict | None = None,
          headers: dict | None = None) -> JSONResponse:
    h = dict(verdict.headers()) if verdict else {}
    h.update(headers or {})
    return JSONResponse(body, status_code=status, headers=h)


def _validate_start(data: object) -> tuple[dict, dict]:
    """Laravel-style validation of the start body: (clean values, field errors)."""
    data = data if isinstance(data, dict) else {}
    errors: dict[str, list[str]] = {}
    code = data.get("code")
    if code is None or code == "":
        errors["code"] = ["The code field is required."]
    elif not isinstance(code, str):
        errors["code"] = ["The code field must be a string."]
    elif len(code) > 10:
        errors["code"] = ["The code field must not be greater than 10 characters."]
    cid = data.get("connector_id")
    if cid is None or cid == "":
        errors["connector_id"] = ["The connector id field is required."]
    elif isinstance(cid, bool) or not isinstance(cid, int):
        errors["connector_id"] = ["The connector id field must be an integer."]
    elif not 1 <= cid <= 100:
        errors["connector_id"] = ["The connector id field must be between 1 and 100."]
    email = data.get("email")
    if email is not None and email != "":
        if not isinstance(email, str) or not _EMAIL.match(email):
            errors["email"] = ["The email field must be a valid email address."]
        elif len(email) > 255:
            errors["email"] = ["The email field must not be greater than 255 characters."]
    else:
        email = None
    return {"code": code, "connector_id": cid, "email": email}, errors


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw or len(raw) > _MAX_BODY:
        return {}  # the fields are then missing: 422, as Laravel answers input it cannot read
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}


class AccessLog:
    """One `event=http` line per request, tokens in the path cut to their hint.

    A plain ASGI middleware: the line is written once the response has started, as
    Starlette's `@app.middleware("http")` would, without its per-request task and streams."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = None

        async def send_status(message):
            nonlocal status
            if status is None and message["type"] == "http.response.start":
                status = message["status"]
                _access_line(scope, status)
            await send(message)

        await self.app(scope, receive, send_status)


def _hint(m: re.Match) -> str:
    return m.group(1) + oplog.token_hint(m.group(2))


def _access_line(scope, status: int) -> None:
    # the path as `request.url.path` gives it
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    client = scope.get("client")
    oplog.log("http", method=scope["method"], path=_TOKEN_IN_PATH.sub(_hint, path), status=status,
              client=client[0] if client else None)


def _chargers(given: Iterable[Charger | dict] | dict | str | Path) -> tuple[list[Charger], str | None]:
    """A chargers file path, its parsed JSON, a list of its entries, or of Charger objects:
    the chargers and the file's operator token."""
    if isinstance(given, str | Path):
        given = read_chargers_file(given)
    if isinstance(given, dict):
        return parse_chargers(given), parse_operator_token(given)
    items = list(given)
    if all(isinstance(c, Charger) for c in items):
        return items, None
    return parse_chargers({"chargers": items}), None


def create_app(chargers: Iterable[Charger | dict] | dict | str | Path | None = None,
               db_path: str | Path = "backend.db", *, clock: Clock = system_clock,
               payments: str | PaymentProvider = "local", settings: Settings | None = None,
               rate_limits: dict[str, int] | None = None, heartbeat_interval: int = 300,
               call_timeout: float = 8.0, tick: float = 1.0, boot_trigger_after: float = 5.0,
               vat_rate: Decimal | str | None = None,
               operator_token: str | None = None) -> FastAPI:
    """`operator_token` (else the chargers file's) turns the operator actions on."""
    if operator_token is not None:
        check_operator_token(operator_token, "the operator token")
    store = Store(db_path)
    if chargers is not None:
        listed, file_token = _chargers(chargers)
        store.sync_chargers(listed)
        operator_token = operator_token or file_token
    settings = settings or Settings()
    if vat_rate is not None:
        settings.vat_rate = Decimal(str(vat_rate))
    provider = make_payments(payments, store, clock)
    central = CentralSystem(store, clock, heartbeat_interval=heartbeat_interval,
                            call_timeout=call_timeout, boot_trigger_after=boot_trigger_after)
    sessions = Sessions(store, provider, clock, central, settings)
    central.sessions = sessions
    limits = {**RATE_LIMITS, **(rate_limits or {})}
    backend = Backend(store, central, sessions, provider, RateLimiter(clock), limits,
                      operator_token)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async def tick_loop():
            while True:
                await asyncio.sleep(tick)
                try:
                    await sessions.check_timeouts()
                except Exception as e:  # keep ticking; the next tick retries
                    oplog.log("backend.tick_error", error=repr(e))

        oplog.log("backend.start", db=store.path, payments=provider.name,
                  chargers=store.one("SELECT count(*) AS n FROM chargers WHERE configured = 1")["n"])
        task = asyncio.create_task(tick_loop())
        try:
            yield
        finally:
            task.cancel()
            central.cancel_tasks()
            oplog.log("backend.stop")

    app = FastAPI(
        title="chargerctl local backend",
        version="1.0.0",
        description="Local stand-in for Plugchoice's public-charging API (v3) and OCPP 1.6J "
                    "central system. OCPP: ws://HOST:PORT/ocpp/{identity}, subprotocol ocpp1.6.",
        lifespan=lifespan,
    )
    app.state.backend = backend

    app.add_middleware(AccessLog)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = {404: "Not Found.", 405: "Method Not Allowed."}.get(exc.status_code, exc.detail)
        return JSONResponse({"message": message}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        oplog.log("http.error", path=request.url.path, error=repr(exc))
        return JSONResponse({"message": "Server Error"}, status_code=500)

    def limit(request: Request, name: str) -> Verdict:
        ip = request.client.host if request.client else "unknown"
        return backend.limiter.hit(f"{name}|{ip}", backend.limits[name])

    def too_many(v: Verdict) -> JSONResponse:
        return _json(429, {"message": "Too Many Attempts."}, v)

    def refused(e: Refused, v: Verdict) -> JSONResponse:
        body = {"message": e.message, **e.extra}
        if e.errors:
            body["errors"] = e.errors
        return _json(e.status, body, v, e.headers)

    @app.get(PREFIX + "/chargers/{code}", response_model=None, responses=_RESPONSES["charger"],
             summary="Look up a charger by its public code",
             description="`code` is case-insensitive. `online`: the charger has an open OCPP "
                         "connection and has booted; connector `status` is the latest OCPP "
                         "StatusNotification. 30 requests/min per IP. 404: unknown code or no "
                         "public charging.")
    async def get_charger(code: str, request: Request):
        v = limit(request, "charger")
        if not v.allowed:
            return too_many(v)
        c = sessions.public_charger(code) if len(code) <= 10 else None
        if c is None:
            return _json(404, {"message": "Charger not found."}, v)
        return _json(200, {"data": sessions.charger_view(c)}, v)

    @app.post(PREFIX + "/sessions", status_code=201, response_model=None,
              responses=_RESPONSES["start"], summary="Start a public charging session",
              description="Creates the payment pre-authorization (hold = preauth_amount) and a "
                          "session in `created`. 3 requests/min per IP; each charger accepts "
                          "max_sessions_per_hour created sessions per 60 min (429). 404 unknown "
                          "charger or no public charging, 400 charger offline, 422 invalid input "
                          "or unknown connector, 409 connector unavailable.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": schemas.START_REQUEST}}}})
    async def start_session(request: Request):
        v = limit(request, "start")
        if not v.allowed:
            return too_many(v)
        values, errors = _validate_start(await _body(request))
        if errors:
            return _json(422, {"message": "The given data was invalid.", "errors": errors}, v)
        c = sessions.public_charger(values["code"])
        if c is None:
            return _json(404, {"message": "Charger not found or public charging is not available."}, v)
        try:
            token, s = await sessions.create(c, values["connector_id"], values["email"])
        except Refused as e:
            return refused(e, v)
        return _json(201, {"session_token": token, "data": sessions.view(s),
                           "payment": sessions.payment_view(s)}, v)

    async def _session_or_404(token: str, v: Verdict):
        s = await sessions.find(token)
        return s, (None if s else _json(404, {"message": "Session not found."}, v))

    @app.get(PREFIX + "/sessions/{token}", response_model=None, responses=_RESPONSES["get"],
             summary="Get a session (poll it)",
             description="`payment` is present only while the status is `created`. "
                         "30 requests/min per IP. 404: unknown or expired token.")
    async def get_session(token: str, request: Request):
        v = limit(request, "get")
        if not v.allowed:
            return too_many(v)
        s, missing = await _session_or_404(token, v)
        if missing:
            return missing
        return _json(200, {"data": sessions.view(s), "payment": sessions.payment_view(s)}, v)

    def _action(name: str, summary: str, description: str):
        @app.post(PREFIX + "/sessions/{token}/" + name, response_model=None,
                  responses=_RESPONSES[name], summary=summary, name=name,
                  description=description)
        async def act(token: str, request: Request):
            v = limit(request, name)
            if not v.allowed:
                return too_many(v)
            s, missing = await _session_or_404(token, v)
            if missing:
                return missing
            try:
                s = await getattr(sessions, name)(s)
            except Refused as e:
                return refused(e, v)
            return _json(200, {"data": sessions.view(s)}, v)

    _action("confirm", "Confirm the session after the browser confirmed the payment",
            "Checks the payment; when it is held, sends RemoteStartTransaction and answers once "
            "the charger has (status `starting`, or `failed` with a failure_reason). A payment "
            "not yet confirmed leaves the session `created`. 10 requests/min per IP.")
    _action("stop", "Stop charging",
            "Sends RemoteStopTransaction; status `stopping`, then `settling` and `completed` "
            "once the charger's StopTransaction arrives. 400 when the session is not charging, "
            "or the charger refuses or is offline (unplug the EV to end the session).")
    _action("cancel", "Cancel a session that has not started charging",
            "Allowed in `created`, `authorized` and `starting`; releases the payment hold. "
            "409 when the session can no longer be cancelled.")

    @app.post(LOCAL_CONFIRM, response_model=None, tags=["local payments"],
              summary="Local stand-in for stripe.confirmPayment (local provider only)",
              responses={200: {"model": schemas.LocalPaymentIntent}, 403: _MSG, 404: _MSG,
                         409: _MSG, 422: {"model": schemas.ValidationErrors}, 429: _MSG},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": schemas.LOCAL_CONFIRM_REQUEST}}}})
    async def local_confirm(payment_intent_id: str, request: Request):
        v = limit(request, "local_confirm")
        if not v.allowed:
            return too_many(v)
        if not isinstance(provider, LocalPayments):
            return _json(404, {"message": "The local payment provider is not in use."}, v)
        data = await _body(request)
        data = data if isinstance(data, dict) else {}
        secret, method = data.get("client_secret"), data.get("payment_method", "pm_card_visa")
        errors = {}
        if not isinstance(secret, str) or not secret:
            errors["client_secret"] = ["The client secret field is required."]
        if not isinstance(method, str):
            errors["payment_method"] = ["The payment method field must be a string."]
        if errors:
            return _json(422, {"message": "The given data was invalid.", "errors": errors}, v)
        if secret.partition("_secret_")[0] != payment_intent_id:
            return _json(403, {"message": "The client_secret does not belong to this payment."}, v)
        try:
            intent = provider.confirm(payment_intent_id, secret, method)
        except PaymentError as e:
            status = {"resource_missing": 404, "secret_mismatch": 403}.get(e.code, 409)
            return _json(status, {"message": str(e)}, v)
        oplog.log("payment.confirm", intent=intent.id, status=intent.status,
                  declined=bool(intent.last_error))
        err = {"code": intent.last_error, "type": "card_error"} if intent.last_error else None
        return _json(200, {"id": intent.id, "object": "payment_intent", "status": intent.status,
                           "amount": intent.amount, "last_payment_error": err}, v)

    add_operator_routes(app)
    add_action_routes(app)
    add_security_routes(app)
    add_page_routes(app)
    app.add_api_websocket_route("/ocpp/{identity}", central.endpoint)
    return app
