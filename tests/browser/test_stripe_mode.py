"""The page with `--payments stripe`: Stripe's Payment Element instead of the test payment, and
Stripe.js fetched from Stripe only then.

Stripe is outside the project: the backend talks to tests/backend/fake_stripe.py, and this
machine cannot reach js.stripe.com, so what is checked is the page's side of the contract: the
page asks for Stripe.js from js.stripe.com (the CSP allows exactly that), shows no test cards,
and when the script cannot load says so in a sentence a driver understands. The charger is the
`ocpp` package's charge point (tests/driver/ocpp_peer.py), online in milliseconds.
"""

from __future__ import annotations

import httpx
import pytest

from host_tools.bench_rig import LocalBackend, bench_charger
from tests.backend.fake_stripe import FakeStripe
from tests.driver.ocpp_peer import OcppPeer

CODE = "STRIPE9"


@pytest.fixture(scope="module")
def stripe_backend(tmp_path_factory):
    with FakeStripe() as fake:
        env = {"STRIPE_SECRET_KEY": "sk_test_operator", "STRIPE_PUBLISHABLE_KEY": "pk_test_operator",
               "STRIPE_ACCOUNT_ID": "acct_operator1", "STRIPE_API_BASE": fake.base}
        with LocalBackend(tmp_path_factory.mktemp("stripe"), [bench_charger("CP-S", CODE)],
                          extra_args=["--payments", "stripe"], env=env) as backend, \
                OcppPeer(backend.ws_url, "CP-S"):
            yield backend


def test_stripe_js_only_with_stripe_and_a_sentence_when_it_cannot_load(page, stripe_backend):
    url = f"http://127.0.0.1:{stripe_backend.port}/p/{CODE}"
    csp = httpx.get(url).headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com;" in csp
    page.open(url)
    page.wait(lambda: page.buttons(), "a start button")
    assert not page.driver.find_elements("css selector", 'script[src*="stripe"]'), \
        "Stripe.js is loaded only once there is a payment to take"
    page.click('button.start[data-connector="1"]')
    page.wait(lambda: page.visible("pay-view"), "the payment step")
    assert page.visible("stripe-pay") and not page.visible("local-pay")
    scripts = [e.get_attribute("src") for e in
               page.driver.find_elements("css selector", 'script[src*="stripe"]')]
    assert scripts == ["https://js.stripe.com/v3/"]
    page.wait_text("error", r"^The card form could not load\. Check your phone's internet "
                            r"connection, then reload this page\.$")
    assert not page.driver.find_element("id", "pay").is_enabled()
    page.screenshot("stripe-unreachable")
