"""Payment providers at their boundary: the local PaymentIntent, and Stripe over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from host_tools.backend.payments import LocalPayments, PaymentError, StripePayments
from host_tools.backend.store import Store

from .conftest import API, FakeClock, Server, connect, start_session
from .fake_stripe import FakeStripe

ENV = {"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_PUBLISHABLE_KEY": "pk_test_456",
       "STRIPE_ACCOUNT_ID": "acct_operator"}


@pytest.fixture
def fake_stripe():
    with FakeStripe() as fake:
        yield fake


def stripe_provider(fake) -> StripePayments:
    return StripePayments.from_env({**ENV, "STRIPE_API_BASE": fake.base})


async def test_local_intent_hold_confirm_capture(tmp_path):
    p = LocalPayments(Store(tmp_path / "db"), lambda: 0.0)
    intent = await p.create_hold(5000, "EUR", "x", {})
    assert intent.status == "requires_payment_method"
    with pytest.raises(PaymentError):
        await p.capture(intent.id, 100)  # not confirmed
    with pytest.raises(PaymentError) as e:
        p.confirm(intent.id, intent.client_secret + "x")
    assert e.value.code == "secret_mismatch"
    assert p.confirm(intent.id, intent.client_secret).status == "requires_capture"
    with pytest.raises(PaymentError) as e:
        await p.capture(intent.id, 5001)
    assert e.value.code == "amount_too_large"
    done = await p.capture(intent.id, 309)
    assert done.status == "succeeded" and done.amount_received == 309
    with pytest.raises(PaymentError):
        await p.release(intent.id)


async def test_local_intent_release(tmp_path):
    p = LocalPayments(Store(tmp_path / "db"), lambda: 0.0)
    intent = await p.create_hold(1000, "EUR", "x", {})
    assert (await p.release(intent.id)).status == "canceled"
    with pytest.raises(PaymentError):
        p.confirm(intent.id, intent.client_secret)


def test_stripe_needs_its_environment():
    with pytest.raises(ValueError) as e:
        StripePayments.from_env({"STRIPE_SECRET_KEY": "sk_test_x"})
    assert "STRIPE_PUBLISHABLE_KEY" in str(e.value) and "STRIPE_ACCOUNT_ID" in str(e.value)


async def test_stripe_requests_on_the_connected_account(fake_stripe):
    p = stripe_provider(fake_stripe)
    intent = await p.create_hold(5000, "EUR", "Public charging at Bench", {"charger": "CP-1"})
    req = fake_stripe.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/v1/payment_intents")
    assert req["form"]["amount"] == "5000" and req["form"]["currency"] == "eur"
    assert req["form"]["capture_method"] == "manual"
    assert req["form"]["metadata[charger]"] == "CP-1"
    assert req["headers"]["Stripe-Account"] == "acct_operator"
    assert req["headers"]["Authorization"] == "Bearer sk_test_123"
    assert intent.client_secret == f"{intent.id}_secret_abc"

    fake_stripe.intents[intent.id]["status"] = "requires_capture"  # the browser confirmed it
    assert (await p.retrieve(intent.id)).status == "requires_capture"
    assert fake_stripe.requests[-1]["method"] == "GET"
    captured = await p.capture(intent.id, 309)
    req = fake_stripe.requests[-1]
    assert req["path"] == f"/v1/payment_intents/{intent.id}/capture"
    assert req["form"] == {"amount_to_capture": "309"}
    assert captured.status == "succeeded" and captured.amount_received == 309

    other = await p.create_hold(1000, "EUR", "x", {})
    assert (await p.release(other.id)).status == "canceled"
    assert fake_stripe.requests[-1]["path"] == f"/v1/payment_intents/{other.id}/cancel"


async def test_stripe_errors_become_payment_errors(fake_stripe):
    p = stripe_provider(fake_stripe)
    intent = await p.create_hold(5000, "EUR", "x", {})
    fake_stripe.fail_next = (402, {"type": "card_error", "code": "card_declined",
                                   "message": "Your card was declined."})
    with pytest.raises(PaymentError) as e:
        await p.capture(intent.id, 100)
    assert e.value.code == "card_declined"


async def test_backend_session_with_stripe_provider(fake_stripe, tmp_path):
    """The start response carries Stripe's client_secret and the operator's keys."""
    server = Server(str(tmp_path / "db"), FakeClock(), options={"payments": stripe_provider(fake_stripe)})
    await server.start()
    link = await connect(server)
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            token, body = await start_session(http)
            assert body["payment"] == {"client_secret": "pi_fake1_secret_abc",
                                       "publishable_key": "pk_test_456",
                                       "stripe_account_id": "acct_operator"}
            r = await http.post("/api/v3/_local/payments/pi_fake1/confirm",
                                json={"client_secret": "pi_fake1_secret_abc"})
            assert r.status_code == 404  # the local confirm step exists only for local payments
            fake_stripe.intents["pi_fake1"]["status"] = "requires_capture"
            r = await http.post(f"{API}/sessions/{token}/confirm")
            assert r.json()["data"]["status"] == "starting"
            r = await http.post(f"{API}/sessions/{token}/cancel")
            assert r.json()["data"]["status"] == "cancelled"
            assert fake_stripe.intents["pi_fake1"]["status"] == "canceled"
    finally:
        await link.close()
        await server.stop()


async def test_capture_failure_fails_the_session(fake_stripe, tmp_path):
    from ocpp.v16 import call

    server = Server(str(tmp_path / "db"), FakeClock(), options={"payments": stripe_provider(fake_stripe)})
    await server.start()
    link = await connect(server)
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            token, body = await start_session(http)
            fake_stripe.intents["pi_fake1"]["status"] = "requires_capture"
            await http.post(f"{API}/sessions/{token}/confirm")
            id_tag, _ = link.cp.remote_starts.get_nowait()
            res = await link.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0,
                                                           timestamp="2026-01-10T01:15:00Z"))
            fake_stripe.fail_next = (402, {"type": "card_error", "code": "card_declined",
                                           "message": "Your card was declined."})
            fake_stripe.fail_path = "/capture"
            await link.cp.call(call.StopTransaction(meter_stop=1000, timestamp="2026-01-10T01:20:00Z",
                                                    transaction_id=res.transaction_id))
            data = (await http.get(f"{API}/sessions/{token}")).json()["data"]
            assert data["status"] == "failed" and data["failure_reason"] == "payment_failed"
            assert data["energy_kwh"] == "1.000" and data["cost_amount"] == 85
            assert data["amount_captured"] is None
            assert fake_stripe.fail_next is None  # the capture itself was refused
    finally:
        await link.close()
        await server.stop()


async def test_capture_retried_after_a_stripe_outage(fake_stripe, tmp_path):
    """A 500 from Stripe leaves the session settling; the next tick captures."""
    from ocpp.v16 import call

    provider = StripePayments("sk_test_123", "pk_test_456", "acct_operator", api_base=fake_stripe.base,
                              max_network_retries=0)
    server = Server(str(tmp_path / "db"), FakeClock(), options={"payments": provider, "tick": 3600})
    await server.start()
    link = await connect(server)
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            token, body = await start_session(http)
            fake_stripe.intents["pi_fake1"]["status"] = "requires_capture"
            await http.post(f"{API}/sessions/{token}/confirm")
            id_tag, _ = link.cp.remote_starts.get_nowait()
            res = await link.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0,
                                                           timestamp="2026-01-10T01:15:00Z"))
            fake_stripe.fail_next = (500, {"type": "api_error", "message": "Stripe is down."})
            fake_stripe.fail_path = "/capture"
            await link.cp.call(call.StopTransaction(meter_stop=1000, timestamp="2026-01-10T01:20:00Z",
                                                    transaction_id=res.transaction_id))
            assert fake_stripe.fail_next is None
            assert server.backend.store.one("SELECT status FROM sessions")["status"] == "settling"
            data = (await http.get(f"{API}/sessions/{token}")).json()["data"]
            assert data["status"] == "completed" and data["amount_captured"] == 85
            assert fake_stripe.intents["pi_fake1"]["amount_received"] == 85
    finally:
        await link.close()
        await server.stop()
