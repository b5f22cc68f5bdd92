"""The driver's side of the Plugchoice public-charging API: one client, shared by everyone.

`chargerctl session`, `chargerctl commission` and `chargerctl demo` all drive a public session
through this package, so the local backend and the real service (same paths under `/api/v3`)
are exercised by the same code. Every documented error status becomes a typed exception with a
sentence for people and an exit code from `host_tools.exits` (driver_errors.py).

    with Client(api) as client:
        started = client.start("ABC123", 1)
        confirm_payment(client, started.token, started.payment)
        session = wait_for(client, started.token, {"charging"})
        client.stop(started.token)
        session = wait_for(client, started.token, TERMINAL)

Here: the client (one method per endpoint) and the payment step. Following a session and the
receipt are in driver_progress.py, the saved session in session_file.py, the errors in
driver_errors.py; their names are importable from here too. The session token is a
credential: it is never logged or printed in full (`shorten`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from host_tools.driver_errors import (  # noqa: F401 - the driver's names, in one place
    ChargerOffline,
    ChargerTimeout,
    Conflict,
    ConnectorUnavailable,
    DriverError,
    NetworkError,
    NoSession,
    NotCancellable,
    NotFound,
    PaymentActionNeeded,
    RateLimited,
    Refused,
    SessionFailed,
    StopRefused,
    UnknownCharger,
    UnknownSession,
    Unprocessable,
    error_for,
    shorten,
    unavailable,
)
from host_tools.driver_progress import (  # noqa: F401
    CANCELLABLE,
    MIN_POLL_S,
    RECEIPT_TIMES,
    STATUSES,
    TERMINAL,
    Progress,
    cost_so_far,
    describe_end,
    elapsed_s,
    energy_kwh,
    money,
    parse_time,
    receipt,
    wait_for,
)
from host_tools.session_file import SessionFile, default_state_path  # noqa: F401

# The local backend's default (host_tools/backend/cli.py) and the real service.
DEFAULT_API = "http://127.0.0.1:8180/api/v3"
REAL_API = "https://app.plugchoice.com/api/v3"
API_ENV = "CHARGERCTL_API"

# httpx logs every request URL at INFO, and session URLs carry the token: keep that quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)


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
        try:
            resp = self._request("POST", "/public-charging/sessions", json=body, op="start",
                                 code=code, connector_id=connector_id)
        except ConnectorUnavailable as err:
            if err.connector_status is not None:
                raise
            raise self._why_unavailable(code, connector_id, err) from None
        return Started(resp["session_token"], resp["data"], resp.get("payment"))

    def _why_unavailable(self, code: str, connector_id: int,
                         err: ConnectorUnavailable) -> ConnectorUnavailable:
        """A 409 that does not name the connector's state: the public lookup does."""
        try:
            connectors = self.charger(code).get("connectors") or []
        except DriverError:
            return err
        state = next((c.get("status") for c in connectors
                      if c.get("connector_id") == connector_id), None)
        return unavailable(code, connector_id, state, status=err.status, body=err.body)

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
