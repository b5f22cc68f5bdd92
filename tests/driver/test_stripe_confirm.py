"""`session confirm` against a backend that uses Stripe (the real service's setup).

Stripe is outside the project, so api.stripe.com is the backend tests' fake (tests/backend/
fake_stripe.py), taught here to confirm PaymentIntents; the `stripe` package, the backend and
the driver are real.
"""

from __future__ import annotations

import json

import pytest

from host_tools.bench_rig import LocalBackend, bench_charger
from host_tools.exits import Exit
from tests.backend.fake_stripe import FakeStripe
from tests.driver.conftest import Cli
from tests.driver.ocpp_peer import OcppPeer

ACCOUNT = "acct_operator1"


class ConfirmingStripe(FakeStripe):
    """Adds POST /v1/payment_intents/{id}/confirm (what Stripe.js does in the browser)."""

    def route(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts[:2] == ["v1", "payment_intents"] and parts[3:] == ["confirm"]:
            pi = self.intents.get(parts[2])
            if pi is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                       "message": "No such payment_intent"}}
            if form.get("payment_method") == "pm_card_chargeDeclined":
                pi.update(status="requires_payment_method",
                          last_payment_error={"code": "card_declined"})
            else:
                pi.update(status="requires_capture", payment_method=form.get("payment_method"))
            return 200, pi
        return super().route(method, path, form)


@pytest.fixture
def stripe_rig(tmp_path, monkeypatch):
    with ConfirmingStripe() as fake:
        env = {"STRIPE_SECRET_KEY": "sk_test_operator", "STRIPE_PUBLISHABLE_KEY": "pk_test_operator",
               "STRIPE_ACCOUNT_ID": ACCOUNT, "STRIPE_API_BASE": fake.base}
        chargers = [bench_charger("CP-S", "STRIPE1")]
        with LocalBackend(tmp_path / "backend", chargers, extra_args=["--payments", "stripe"],
                          env=env) as backend, OcppPeer(backend.ws_url, "CP-S"):
            monkeypatch.setenv("STRIPE_API_BASE", fake.base)  # the driver's stripe client too
            yield fake, Cli(backend.api, tmp_path / "state.json")


def test_real_service_payment_needs_the_browser_without_test_keys(stripe_rig):
    """With the real service: print what the driver must do; the client secret stays private."""
    _, cli = stripe_rig
    assert cli("session start --code STRIPE1 --connector 1").exit_code == 0
    result = cli("session confirm")
    assert result.exit_code == Exit.ACTION_NEEDED == 27
    assert "Scan to Pay" in result.stderr and "--stripe-secret-key" in result.stderr
    secret = json.loads(cli.state.read_text())["payment"]["client_secret"]
    assert secret not in result.stdout + result.stderr


def test_stripe_test_keys_confirm_the_payment_intent(stripe_rig):
    fake, cli = stripe_rig
    assert cli("session start --code STRIPE1 --connector 1").exit_code == 0
    result = cli("session confirm --stripe-secret-key sk_test_driver --payment-method pm_card_visa")
    assert result.exit_code == 0, result.stderr
    confirms = [r for r in fake.requests if r["path"].endswith("/confirm")]
    assert len(confirms) == 1
    assert confirms[0]["form"]["payment_method"] == "pm_card_visa"
    assert confirms[0]["headers"].get("Stripe-Account") == ACCOUNT
    assert cli("session watch --until charging --timeout 30").exit_code == 0
    assert cli("session stop").exit_code == 0


def test_stripe_declined_test_card_is_refused_exit_21(stripe_rig):
    _, cli = stripe_rig
    assert cli("session start --code STRIPE1 --connector 1").exit_code == 0
    result = cli("session confirm --stripe-secret-key sk_test_driver "
                 "--payment-method pm_card_chargeDeclined")
    assert result.exit_code == Exit.REFUSED
    assert "not authorized" in result.stderr and "card_declined" in result.stderr


def test_live_keys_are_refused(stripe_rig):
    _, cli = stripe_rig
    assert cli("session start --code STRIPE1 --connector 1").exit_code == 0
    result = cli("session confirm --stripe-secret-key sk_live_nope")
    assert result.exit_code == Exit.ERROR
    assert "Only Stripe test keys" in result.stderr
