"""The driver's side of the Plugchoice public-charging API: one client, shared by everyone.

`chargerctl session`, `chargerctl commission` and `chargerctl demo` all drive a public session
through this module, so the local backend and the real service (same paths under `/api/v3`) are
exercised by the same code. Every documented error status becomes a typed exception with a
sentence for people and an exit code for scripts (see `ExitCode`).

    with Client(api) as client:
        started = client.start("ABC123", 1)
        confirm_payment(client, started.token, started.payment)
        session = wait_for(client, started.token, {"charging"})
        client.stop(started.token)
        session = wait_for(client, started.token, TERMINAL)

The session token is a credential: it is never logged or printed in full (`shorten`), and
`SessionFile` keeps it in a file only its owner can read (0600).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

# The local backend's default (host_tools/backend/cli.py) and the real service.
DEFAULT_API = "http://127.0.0.1:8180/api/v3"
REAL_API = "https://app.plugchoice.com/api/v3"
API_ENV = "CHARGERCTL_API"

# httpx logs every request URL at INFO, and session URLs carry the token: keep that quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)

# GET /sessions/{token} is limited to 30/min per IP: never poll faster than every 2 s.
MIN_POLL_S = 2.0
TERMINAL = frozenset({"completed", "failed", "cancelled"})
CANCELLABLE = frozenset({"created", "authorized", "starting"})
STATUSES = ("created", "authorized", "starting", "charging", "stopping", "settling",
            "completed", "failed", "cancelled")


class ExitCode(IntEnum):
    """Exit codes of `chargerctl session` and `chargerctl commission` (documented in --help)."""

    OK = 0
    ERROR = 1  # an unexpected answer (a bug, ours or the server's)
    USAGE = 2  # bad command line (click's own code), or no current session
    NOT_FOUND = 3  # 404: unknown public code, or unknown/expired session token
    REFUSED = 4  # 400/504: charger offline, refused the stop, or did not answer in time
    UNPROCESSABLE = 5  # 422: unknown connector, invalid email or code
    CONFLICT = 6  # 409: connector busy/unavailable, or session can no longer be cancelled
    RATE_LIMITED = 7  # 429: too many attempts (wait Retry-After seconds)
    NETWORK = 8  # the API could not be reached
    SESSION_FAILED = 9  # the session ended failed/cancelled, or did not get where expected
    ACTION_NEEDED = 10  # payment must be confirmed in a browser (real service, no test keys)


class DriverError(Exception):
    """Base of every driver error: `str(err)` is the sentence to show a person."""

    exit_code = ExitCode.ERROR

    def __init__(self, message: str, *, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body


class NotFound(DriverError):
    exit_code = ExitCode.NOT_FOUND


class UnknownCharger(NotFound):
    pass


class UnknownSession(NotFound):
    pass


class Refused(DriverError):
    exit_code = ExitCode.REFUSED


class ChargerOffline(Refused):
    pass


class StopRefused(Refused):
    pass


class ChargerTimeout(Refused):
    pass


class Unprocessable(DriverError):
    exit_code = ExitCode.UNPROCESSABLE

    def __init__(self, message: str, *, errors: dict | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.errors = errors or {}


class Conflict(DriverError):
    exit_code = ExitCode.CONFLICT


class ConnectorUnavailable(Conflict):
    pass


class NotCancellable(Conflict):
    pass


class RateLimited(DriverError):
    exit_code = ExitCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class NetworkError(DriverError):
    exit_code = ExitCode.NETWORK


class SessionFailed(DriverError):
    exit_code = ExitCode.SESSION_FAILED

    def __init__(self, message: str, *, session: dict | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.session = session


class PaymentActionNeeded(DriverError):
    exit_code = ExitCode.ACTION_NEEDED


class NoSession(DriverError):
    exit_code = ExitCode.USAGE


def shorten(token: str | None) -> str:
    """Enough of a token to tell two sessions apart, never enough to use it."""
    if not token:
        return "-"
    if len(token) <= 8:
        return token[:2] + "…"
    return f"{token[:4]}…{token[-4:]}"


# --- the client: one method per endpoint -----------------------------------------------------

@dataclass
class Started:
    """What POST /sessions returns: the credential, the session and the payment context."""

    token: str
    session: dict
    payment: dict | None

    def __repr__(self) -> str:  # keep the token and client secret out of tracebacks and logs
        return f"Started(token={shorten(self.token)!r}, status={self.session.get('status')!r})"


class Client:
    """The public-charging API (no authentication: the session token is the credential)."""

    def __init__(self, api: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        self.api = (api or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
        self._http = httpx.Client(base_url=self.api, timeout=timeout, transport=transport,
                                  headers={"Accept": "application/json",
                                           "User-Agent": "chargerctl-driver"})

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # GET /public-charging/chargers/{code}
    def charger(self, code: str) -> dict:
        resp = self._request("GET", f"/public-charging/chargers/{_segment(code)}",
                             op="lookup", code=code)
        return resp["data"]

    # POST /public-charging/sessions
    def start(self, code: str, connector_id: int, email: str | None = None) -> Started:
        body: dict[str, Any] = {"code": code, "connector_id": connector_id}
        if email:
            body["email"] = email
        resp = self._request("POST", "/public-charging/sessions", json=body, op="start",
                             code=code, connector_id=connector_id)
        return Started(resp["session_token"], resp["data"], resp.get("payment"))

    # GET /public-charging/sessions/{token}
    def session(self, token: str) -> tuple[dict, dict | None]:
        resp = self._request("GET", _session_path(token), op="get", token=token)
        return resp["data"], resp.get("payment")

    # POST /public-charging/sessions/{token}/confirm
    def confirm(self, token: str) -> dict:
        return self._request("POST", _session_path(token, "confirm"), op="confirm",
                             token=token)["data"]

    # POST /public-charging/sessions/{token}/stop
    def stop(self, token: str) -> dict:
        return self._request("POST", _session_path(token, "stop"), op="stop", token=token)["data"]

    # POST /public-charging/sessions/{token}/cancel
    def cancel(self, token: str) -> dict:
        return self._request("POST", _session_path(token, "cancel"), op="cancel",
                             token=token)["data"]

    # POST /_local/payments/{payment_intent_id}/confirm: the local backend's stand-in for the
    # browser's stripe.confirmPayment (contracts.md); the real service has no such path.
    def confirm_local_payment(self, client_secret: str,
                              payment_method: str = "pm_card_visa") -> dict:
        intent = payment_intent_id(client_secret)
        answer = self._request("POST", f"/_local/payments/{_segment(intent)}/confirm",
                               json={"client_secret": client_secret,
                                     "payment_method": payment_method}, op="pay")
        declined = answer.get("last_payment_error")
        if declined:
            raise Refused(f"The payment was declined ({declined.get('code', 'card error')}); "
                          "start again with another payment method.")
        return answer

    def _request(self, method: str, path: str, *, op: str, json: Any = None,
                 **context: Any) -> dict:
        try:
            resp = self._http.request(method, path, json=json)
        except httpx.TimeoutException as err:
            raise NetworkError(f"The API at {self.api} did not answer in time ({type(err).__name__}). "
                               "Check the URL and that the backend is running.") from None
        except httpx.HTTPError as err:
            raise NetworkError(f"Cannot reach the API at {self.api}: {_reason(err)}. "
                               "Check --api (or CHARGERCTL_API) and that the backend is running.") from None
        if resp.is_success:
            try:
                return resp.json()
            except ValueError:
                raise DriverError(f"The API at {self.api} answered {resp.status_code} with something "
                                  "that is not JSON; is --api the /api/v3 base URL?",
                                  status=resp.status_code) from None
        raise error_for(resp, op, **context)


def _segment(value: str) -> str:
    return quote(str(value), safe="")


def _session_path(token: str, action: str = "") -> str:
    path = f"/public-charging/sessions/{_segment(token)}"
    return f"{path}/{action}" if action else path


def _reason(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text.split("] ", 1)[-1]


def payment_intent_id(client_secret: str) -> str:
    """`pi_123_secret_abc` -> `pi_123` (the Stripe shape, also used by the local provider)."""
    intent, sep, _ = client_secret.partition("_secret_")
    if not sep or not intent:
        raise DriverError("The payment's client secret does not have the Stripe shape "
                          "pi_..._secret_...; cannot confirm it.")
    return intent


def error_for(resp: httpx.Response, op: str, **ctx: Any) -> DriverError:
    """The typed error, with a plain sentence, for a documented error status of operation `op`."""
    status = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    server = body.get("message") if isinstance(body, dict) else None
    code = ctx.get("code")
    connector = ctx.get("connector_id")
    token = shorten(ctx.get("token"))
    kw = {"status": status, "body": body}

    if status == 404:
        if op == "lookup" or op == "start":
            return UnknownCharger(f"No charger with public code {code!r} offers public charging. "
                                  "Check the code on the charger's display.", **kw)
        if op == "pay":
            return NotFound("The local payment provider does not know this payment; "
                            "the session may have expired. Start a new one.", **kw)
        return UnknownSession(f"Session {token} is unknown or has expired. "
                              "Start a new one with `chargerctl session start`.", **kw)
    if status == 400:
        if op == "start":
            return ChargerOffline(f"Charger {code} is offline: it is not connected to the backend "
                                  "right now. Try again later or use another charger.", **kw)
        if op == "stop":
            why = server.rstrip(".") if server else "the charger refused the stop or is offline"
            return StopRefused(f"The stop was refused: {why}. If the EV is still charging, "
                               "unplug it to end the session.", **kw)
        return Refused(f"The request was refused: {server or 'bad request'}.", **kw)
    if status == 422:
        errors = body.get("errors", {}) if isinstance(body, dict) else {}
        if op == "start" and "connector_id" in errors:
            msg = (f"Charger {code} has no connector {connector}. "
                   "Look up its connectors with `chargerctl session charger CODE`.")
        else:
            detail = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}"
                               for k, v in errors.items())
            msg = f"The request was not accepted: {detail or server or 'invalid data'}."
        return Unprocessable(msg, errors=errors, **kw)
    if status == 409:
        if op == "cancel":
            return NotCancellable(f"Session {token} can no longer be cancelled (it has started "
                                  "charging or ended); stop it instead.", **kw)
        if op == "start":
            why = f" ({server.rstrip('.')})" if server else ""
            return ConnectorUnavailable(f"Connector {connector} of charger {code} is not available"
                                        f"{why}: in use, reserved or faulted. Try another "
                                        "connector.", **kw)
        return Conflict(f"The request conflicts with the session's state: {server or 'conflict'}.", **kw)
    if status == 429:
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        wait = f"Try again in {retry_after:g} s." if retry_after is not None else "Try again later."
        if server and "per hour" in server:
            what = "sessions started on this charger in the last hour"
        else:
            what = "requests from this address"
        return RateLimited(f"Too many attempts ({what}). {wait}", retry_after=retry_after, **kw)
    if status == 503:
        return Refused(f"The service is unavailable: {server or 'try again later'}", **kw)
    if status == 504:
        return ChargerTimeout("The charger did not respond in time. Try again; if it keeps "
                              "happening the charger may be offline.", **kw)
    return DriverError(f"The API answered {status}{': ' + server if server else ''} "
                       f"(during {op}).", **kw)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# --- payment ---------------------------------------------------------------------------------

def confirm_payment(client: Client, token: str, payment: dict | None, *,
                    stripe_secret_key: str | None = None,
                    payment_method: str = "pm_card_visa") -> dict:
    """Confirm the pre-authorization the way a browser would, then call `/confirm`.

    The local provider (publishable key `pk_local_...`) is confirmed through the backend's
    `_local` path. The real service needs Stripe.js in a browser, unless Stripe *test* keys are
    given, in which case the PaymentIntent is confirmed with the `stripe` package.
    Returns the session after `/confirm`.
    """
    if not payment or not payment.get("client_secret"):
        # Already confirmed (payment is only returned while `created`): /confirm is idempotent.
        return client.confirm(token)
    secret = payment["client_secret"]
    if str(payment.get("publishable_key", "")).startswith("pk_local_"):
        client.confirm_local_payment(secret, payment_method)
    elif stripe_secret_key:
        _confirm_with_stripe(secret, payment, stripe_secret_key, payment_method)
    else:
        raise PaymentActionNeeded(
            "This service takes payment through Stripe in a browser: the driver confirms the "
            "pre-authorization on the charger's \"Scan to Pay\" page (the QR code on its display), "
            "which then calls /confirm. To confirm from here in Stripe test mode, pass "
            "--stripe-secret-key sk_test_... (and optionally --payment-method pm_card_visa).")
    return client.confirm(token)


def _confirm_with_stripe(secret: str, payment: dict, key: str, payment_method: str) -> None:
    """Stripe test mode only: confirm the PaymentIntent server-side, as Stripe.js would.

    `STRIPE_API_BASE` in the environment points the `stripe` package elsewhere (tests).
    """
    if not key.startswith(("sk_test_", "rk_test_")):
        raise DriverError("Only Stripe test keys (sk_test_...) are accepted here: a live payment "
                          "belongs in the driver's browser.")
    import stripe  # lazily: only this path needs it

    base = os.environ.get("STRIPE_API_BASE")
    client = stripe.StripeClient(key, stripe_account=payment.get("stripe_account_id") or None,
                                 base_addresses={"api": base} if base else None)
    intent_id = payment_intent_id(secret)
    try:
        intent = client.v1.payment_intents.confirm(
            intent_id, {"payment_method": payment_method}).to_dict()
    except stripe.StripeError as err:
        raise Refused(f"Stripe refused the test payment: {err.user_message or err}") from None
    status = intent.get("status")
    if status == "requires_action":
        raise PaymentActionNeeded("The card needs the driver's confirmation (3-D Secure) in a "
                                  "browser; use a test card without it, e.g. pm_card_visa.")
    if status not in ("requires_capture", "processing", "succeeded"):
        error = intent.get("last_payment_error") or {}
        raise Refused(f"The test payment was not authorized (PaymentIntent {status}"
                      f"{', ' + error.get('code') if error.get('code') else ''}).")


# --- following a session ---------------------------------------------------------------------

@dataclass
class Progress:
    """What the live view shows, derived from successive polls of the session.

    Power is not in the API: it is the energy delta between the last two *changes* of
    `energy_kwh` (the charger reports every sample interval) over the time between them.
    """

    session: dict = field(default_factory=dict)
    power_kw: float | None = None
    polled_at: float = 0.0
    _last_change: tuple[float, float] | None = None  # (monotonic time, kWh) of last change

    def update(self, session: dict, now: float) -> Progress:
        energy = energy_kwh(session)
        if energy is not None:
            if self._last_change is None:
                self._last_change = (now, energy)
            elif energy != self._last_change[1]:
                t0, e0 = self._last_change
                if now > t0:
                    self.power_kw = max(0.0, (energy - e0) / ((now - t0) / 3600.0))
                self._last_change = (now, energy)
        if session.get("status") in TERMINAL:
            self.power_kw = 0.0  # the relay is open: whatever the last delta said
        self.session, self.polled_at = session, now
        return self

    @property
    def status(self) -> str:
        return self.session.get("status", "?")

    def as_json(self) -> dict:
        s = self.session
        return {"status": s.get("status"), "connector_status": s.get("connector_status"),
                "energy_kwh": s.get("energy_kwh"),
                "power_kw": None if self.power_kw is None else round(self.power_kw, 3),
                "cost_so_far": cost_so_far(s), "currency": (s.get("pricing") or {}).get("currency"),
                "elapsed_s": elapsed_s(s), "failure_reason": s.get("failure_reason")}


def energy_kwh(session: dict) -> float | None:
    value = session.get("energy_kwh")
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def cost_so_far(session: dict) -> int | None:
    """The backend's cost once known, else energy x price + start fee (minor units)."""
    if session.get("cost_amount") is not None:
        return session["cost_amount"]
    pricing = session.get("pricing") or {}
    energy = energy_kwh(session) or 0.0
    if "price_per_kwh" not in pricing:
        return None
    if session.get("status") not in ("charging", "stopping", "settling"):
        return 0 if session.get("status") in ("created", "authorized", "starting") else None
    energy_cost = (Decimal(str(energy)) * pricing["price_per_kwh"]).quantize(Decimal(1), ROUND_HALF_UP)
    return int(energy_cost) + int(pricing.get("start_fee") or 0)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def elapsed_s(session: dict, now: datetime | None = None) -> float | None:
    """Seconds charging (or since creation before charging starts), until completion."""
    start = parse_time(session.get("charging_started_at")) or parse_time(session.get("created_at"))
    if start is None:
        return None
    end = parse_time(session.get("completed_at")) if session.get("status") in TERMINAL else None
    end = end or now or datetime.now(UTC)
    return max(0.0, (end - start).total_seconds())


def wait_for(client: Client, token: str, until: Iterable[str], *, timeout: float = 60.0,
             interval: float = MIN_POLL_S, on_update: Callable[[Progress], None] | None = None,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None) -> dict:
    """Poll the session until its status is in `until`; return the session.

    Raises SessionFailed when it ends (failed/cancelled) outside `until`, or when `timeout`
    seconds pass first. A 429 waits for Retry-After and goes on.
    """
    wanted = set(until)
    progress = progress or Progress()
    deadline = clock() + timeout
    while True:
        try:
            session, _ = client.session(token)
        except RateLimited as err:
            pause = err.retry_after if err.retry_after is not None else interval
            if clock() + pause > deadline:
                raise
            sleep(max(pause, interval))
            continue
        progress.update(session, clock())
        if on_update:
            on_update(progress)
        status = session.get("status")
        if status in wanted:
            return session
        if status in TERMINAL:
            raise SessionFailed(describe_end(session), session=session)
        if clock() + interval > deadline:
            raise SessionFailed(f"The session is still {status!r} after {timeout:g} s "
                                f"(waited for {' or '.join(sorted(wanted))}).", session=session)
        sleep(interval)


def describe_end(session: dict) -> str:
    status = session.get("status")
    if status == "failed":
        return f"The session failed: {session.get('failure_reason') or 'no reason given'}."
    if status == "cancelled":
        return "The session was cancelled; the payment hold was released."
    return f"The session ended with status {status!r}."


# --- receipt ---------------------------------------------------------------------------------

RECEIPT_TIMES = ("created_at", "authorized_at", "charging_started_at", "completed_at", "captured_at")


def receipt(session: dict) -> dict:
    """The receipt's fields; `released` is what is left of the hold after capture."""
    authorized = session.get("amount_authorized")
    captured = session.get("amount_captured")
    released = None
    if authorized is not None and session.get("status") in TERMINAL:
        released = authorized - (captured or 0)
    out = {"status": session.get("status"), "charger": (session.get("charger") or {}).get("public_code"),
           "connector_id": session.get("connector_id"), "energy_kwh": session.get("energy_kwh"),
           "currency": (session.get("pricing") or {}).get("currency"),
           "cost_amount": session.get("cost_amount"), "amount_authorized": authorized,
           "amount_captured": captured, "amount_released": released,
           "tax_amount": session.get("tax_amount"), "failure_reason": session.get("failure_reason")}
    out.update({k: session.get(k) for k in RECEIPT_TIMES})
    return out


def money(amount: int | None, currency: str | None) -> str:
    """Minor units -> '3.71 EUR' (every currency we meet has two decimals)."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}{whole}.{cents:02d} {currency or ''}".rstrip()


# --- the current session, in a file only its owner can read ----------------------------------

def default_state_path() -> Path:
    env = os.environ.get("CHARGERCTL_STATE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "chargerctl" / "session.json"


class SessionFile:
    """The current session (token, API, payment context) as JSON in a 0600 file."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_state_path()

    def save(self, api: str, started: Started, **extra: Any) -> None:
        data = {"api": api, "session_token": started.token,
                "code": (started.session.get("charger") or {}).get("public_code"),
                "connector_id": started.session.get("connector_id"),
                "payment": started.payment, "saved_at": datetime.now(UTC).isoformat(), **extra}
        self.write(data)

    def write(self, data: dict) -> None:
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask or an older file said
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=2)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)

    def load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise NoSession(f"No current session (no {self.path}). Start one with "
                            "`chargerctl session start --code CODE --connector N`.") from None
        except ValueError:
            raise NoSession(f"{self.path} is not valid JSON; start a new session.") from None
        if not isinstance(data, dict) or not data.get("session_token"):
            raise NoSession(f"{self.path} holds no session token; start a new session.")
        return data

    def update(self, **changes: Any) -> None:
        data = self.load()
        data.update(changes)
        self.write(data)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
