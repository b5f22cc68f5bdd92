"""Payment pre-authorizations behind one interface.

Both providers model a Stripe PaymentIntent with `capture_method=manual`: create (the hold),
the payer confirms it (browser, or the local confirm route), then capture at most the held
amount, or cancel to release it. Statuses use Stripe's names.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Protocol

from .clock import Clock
from .store import Store

REQUIRES_PAYMENT_METHOD = "requires_payment_method"
REQUIRES_CAPTURE = "requires_capture"
SUCCEEDED = "succeeded"
CANCELED = "canceled"

# Stripe's test payment methods; the local provider honours the two that matter here.
DECLINED_METHODS = {"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"}


class PaymentError(Exception):
    """The provider refused an operation; `code` says why (Stripe's error codes where they exist)."""

    def __init__(self, code: str, message: str, retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable  # the provider could not be reached or failed: try again later


@dataclass
class Intent:
    id: str
    status: str
    amount: int
    client_secret: str | None = None
    amount_received: int = 0
    last_error: str | None = None


class PaymentProvider(Protocol):
    name: str
    publishable_key: str
    account_id: str | None

    async def create_hold(self, amount: int, currency: str, description: str, metadata: dict) -> Intent: ...
    async def retrieve(self, intent_id: str) -> Intent: ...
    async def capture(self, intent_id: str, amount: int) -> Intent: ...
    async def release(self, intent_id: str) -> Intent: ...


class LocalPayments:
    """A manual-capture PaymentIntent kept in SQLite; confirm() stands in for stripe.confirmPayment."""

    name = "local"

    def __init__(self, store: Store, clock: Clock, publishable_key: str = "pk_local_chargerctl",
                 account_id: str = "acct_local"):
        self.store = store
        self.clock = clock
        self.publishable_key = publishable_key
        self.account_id = account_id

    def _row(self, intent_id: str) -> dict:
        row = self.store.one("SELECT * FROM payments WHERE id = ?", intent_id)
        if row is None:
            raise PaymentError("resource_missing", f"No such payment_intent: '{intent_id}'")
        return row

    @staticmethod
    def _intent(row: dict) -> Intent:
        return Intent(row["id"], row["status"], row["amount"], row["client_secret"],
                      row["amount_received"], row["last_error"])

    def _set(self, intent_id: str, **fields) -> Intent:
        self.store.update("payments", intent_id, updated_at=self.clock(), **fields)
        return self._intent(self._row(intent_id))

    async def create_hold(self, amount: int, currency: str, description: str, metadata: dict) -> Intent:
        intent_id = "pi_local" + secrets.token_hex(12)
        now = self.clock()
        self.store.insert(
            "payments", id=intent_id, client_secret=f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
            amount=amount, currency=currency.lower(), status=REQUIRES_PAYMENT_METHOD,
            created_at=now, updated_at=now,
        )
        return self._intent(self._row(intent_id))

    async def retrieve(self, intent_id: str) -> Intent:
        return self._intent(self._row(intent_id))

    def confirm(self, intent_id: str, client_secret: str, payment_method: str = "pm_card_visa") -> Intent:
        row = self._row(intent_id)
        if not hmac.compare_digest(row["client_secret"].encode(), client_secret.encode()):
            raise PaymentError("secret_mismatch", "The client_secret does not match this payment.")
        if row["status"] != REQUIRES_PAYMENT_METHOD:
            raise PaymentError(
                "payment_intent_unexpected_state",
                f"This payment has status {row['status']} and cannot be confirmed again.",
            )
        if payment_method in DECLINED_METHODS:
            return self._set(intent_id, last_error="card_declined")
        return self._set(intent_id, status=REQUIRES_CAPTURE, last_error=None)

    async def capture(self, intent_id: str, amount: int) -> Intent:
        row = self._row(intent_id)
        if row["status"] != REQUIRES_CAPTURE:
            raise PaymentError("payment_intent_unexpected_state",
                               f"Cannot capture a payment with status {row['status']}.")
        if not 0 < amount <= row["amount"]:
            raise PaymentError("amount_too_large",
                               f"Capture amount {amount} must be 1..{row['amount']} (the hold).")
        return self._set(intent_id, status=SUCCEEDED, amount_received=amount)

    async def release(self, intent_id: str) -> Intent:
        row = self._row(intent_id)
        if row["status"] in (SUCCEEDED, CANCELED):
            raise PaymentError("payment_intent_unexpected_state",
                               f"Cannot cancel a payment with status {row['status']}.")
        return self._set(intent_id, status=CANCELED)


class StripePayments:
    """PaymentIntents on the operator's connected account through the official `stripe` package.

    Configured from STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY and STRIPE_ACCOUNT_ID. The stripe
    client is blocking, so each request runs in a worker thread.
    """

    name = "stripe"

    def __init__(self, secret_key: str, publishable_key: str, account_id: str,
                 api_base: str | None = None, max_network_retries: int = 2):
        import stripe

        self.publishable_key = publishable_key
        self.account_id = account_id
        base = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            secret_key, stripe_account=account_id, base_addresses=base,
            max_network_retries=max_network_retries,
        )
        self._stripe = stripe

    @classmethod
    def from_env(cls, environ: dict | None = None) -> StripePayments:
        env = os.environ if environ is None else environ
        missing = [k for k in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_ACCOUNT_ID") if not env.get(k)]
        if missing:
            raise ValueError(f"the stripe payment provider needs {', '.join(missing)} in the environment")
        return cls(env["STRIPE_SECRET_KEY"], env["STRIPE_PUBLISHABLE_KEY"], env["STRIPE_ACCOUNT_ID"],
                   api_base=env.get("STRIPE_API_BASE"))

    @staticmethod
    def _intent(obj) -> Intent:
        pi = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        err = pi.get("last_payment_error")
        return Intent(pi["id"], pi["status"], pi["amount"], pi.get("client_secret"),
                      pi.get("amount_received") or 0, (err or {}).get("code") if err else None)

    async def _call(self, fn, *args, **kwargs) -> Intent:
        try:
            pi = await asyncio.to_thread(fn, *args, **kwargs)
        except self._stripe.StripeError as e:
            transient = isinstance(e, self._stripe.APIConnectionError | self._stripe.RateLimitError) \
                or (e.http_status or 0) >= 500
            raise PaymentError(getattr(e, "code", None) or type(e).__name__,
                               str(e.user_message or e), retryable=transient) from e
        return self._intent(pi)

    async def create_hold(self, amount: int, currency: str, description: str, metadata: dict) -> Intent:
        params = {
            "amount": amount, "currency": currency.lower(), "capture_method": "manual",
            "description": description, "metadata": metadata,
            "automatic_payment_methods": {"enabled": True},
        }
        return await self._call(self._client.v1.payment_intents.create, params)

    async def retrieve(self, intent_id: str) -> Intent:
        return await self._call(self._client.v1.payment_intents.retrieve, intent_id)

    async def capture(self, intent_id: str, amount: int) -> Intent:
        return await self._call(self._client.v1.payment_intents.capture, intent_id,
                                {"amount_to_capture": amount})

    async def release(self, intent_id: str) -> Intent:
        return await self._call(self._client.v1.payment_intents.cancel, intent_id)
