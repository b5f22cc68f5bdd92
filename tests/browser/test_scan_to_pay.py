"""The driver's Scan to Pay page in headless Chromium, end to end: the local backend and a flashed
virtual board (tests/e2e's rig), the URL read out of the board's display PNG with zxing-cpp, and
the page driven like a phone: start, pay, charge, stop, receipt; a declined card, a busy
connector, too many attempts and an offline charger. Every step is screenshotted
(tests/browser/conftest.py) and checked with axe-core.

The tests share one rig and one browser and run in this order; the 429 test restarts the
backend at its end (its limits are in memory) and the offline test, last, stops the board.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest
import zxingcpp
from PIL import Image

from tests.e2e.conftest import Db, e2e_rig, ready_connector, wait_online

CODE = "PAY42"
PRICING = {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50}
# The backend's real per-IP limits, but for the charger lookup and start: the test's own
# lookups (ready_connector, wait_online) share 127.0.0.1 with the browser, and the module
# starts several sessions. The page's session polling runs against the real 30/min.
LIMITS = ["--rate-limit", "charger=600", "--rate-limit", "start=30"]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with e2e_rig(tmp_path_factory.mktemp("pay-rig"), code=CODE, connectors=2,
                 charger={"name": "Bench charger", "pricing": PRICING},
                 backend_args=LIMITS) as r:
        yield r


def euros(cents: int) -> str:
    """What Intl.NumberFormat('en-US', {style: 'currency', currency: 'EUR'}) writes."""
    return f"€{cents / 100:,.2f}"


def kwh_shown(page) -> float:
    text = page.wait_text("s-energy", r"^\d+\.\d{3} kWh$")
    return float(text.split()[0])


def no_serious_violations(page, where: str) -> None:
    bad = page.axe()
    assert not bad, f"axe-core on {where}: {bad}"


def open_page(page, rig) -> None:
    page.open(rig.page_url)
    page.wait(lambda: page.buttons() or page.text("status").startswith("This charger is offline"),
              "the page showing the charger")


def start_on(page, connector: int) -> None:
    page.wait(lambda: any(b.get_attribute("data-connector") == str(connector) and b.is_enabled()
                          for b in page.buttons()), f"a start button for connector {connector}")
    page.click(f'button.start[data-connector="{connector}"]')


def test_qr_code_leads_to_the_page_and_a_whole_session(page, rig, tmp_path):
    """Scan the display, start on connector 1, pay, watch the energy rise, stop, receipt."""
    with rig.client() as client:
        ready_connector(rig, client, 1)
    # the board clears its offline banner a moment after its BootNotification is accepted
    rig.board.wait_for_console(" banner=-", timeout=10)
    png = rig.save_display(tmp_path / "display.png")
    found = zxingcpp.read_barcodes(Image.open(png))
    assert [r.text for r in found] == [rig.page_url], "the QR code leads to the local page"
    assert rig.page_url == f"http://127.0.0.1:{rig.backend.port}/p/{CODE}"
    page.artifacts.mkdir(parents=True, exist_ok=True)
    Image.open(png).save(page.artifacts / "00-display.png")

    page.open(found[0].text)
    page.wait(lambda: len(page.buttons()) == 2, "a start button on each connector")
    assert page.text("charger-name") == "Bench charger"
    assert page.text("price-kwh") == "€0.35 per kWh"
    assert page.text("price-start") == "€0.50"
    assert "€50.00" in page.text("hold-note")
    assert page.text("status") == "Choose a connector to start."
    page.screenshot("start")
    no_serious_violations(page, "the start view")

    page.driver.find_element("id", "email").send_keys("driver@example.com")
    start_on(page, 1)
    page.wait(lambda: page.visible("pay-view"), "the payment step")
    assert page.driver.switch_to.active_element.get_attribute("id") == "pay-heading"
    assert page.visible("local-pay") and not page.visible("stripe-pay")
    page.screenshot("pay")
    no_serious_violations(page, "the payment step")
    token = page.session_token(CODE)
    assert token

    page.click("#pay")
    page.wait_text("status", r"^Charging\.$", timeout=30)
    for _ in range(2):  # two rises seen on the page, as the meter's readings arrive
        before = kwh_shown(page)
        page.wait(lambda b=before: kwh_shown(page) > b, f"the energy rising above {before} kWh")
    page.wait_text("s-power", r"^\d+\.\d kW$")
    page.wait_text("s-cost", r"^€\d+\.\d\d$")
    page.wait_text("s-elapsed", r"^\d+ min \d\d s$")
    assert page.visible("stop") and not page.visible("s-offered-row")
    page.screenshot("charging")
    no_serious_violations(page, "the live session")

    page.click("#stop")
    page.wait(lambda: page.visible("receipt-view"), "the receipt", timeout=30)
    page.screenshot("receipt")
    no_serious_violations(page, "the receipt")
    with rig.client() as client:
        s = client.session(token)[0]
    assert s["status"] == "completed"
    assert page.text("status") == "Done. Thank you for charging!"
    assert page.text("r-energy") == f"{s['energy_kwh']} kWh"
    assert page.text("r-cost") == euros(s["cost_amount"])
    assert page.text("r-captured") == euros(s["amount_captured"])
    assert page.text("r-released") == euros(s["amount_authorized"] - s["amount_captured"])
    assert page.text("r-tax") == euros(s["tax_amount"])
    assert page.text("r-email") == "Receipt email: driver@example.com"
    assert s["driver_email"] == "driver@example.com"
    assert page.session_token(CODE) is None, "a finished session is forgotten"


def test_declined_card_then_cancel(page, rig):
    with rig.client() as client:
        ready_connector(rig, client, 1)
    open_page(page, rig)
    start_on(page, 1)
    page.wait(lambda: page.visible("pay-view"), "the payment step")
    token = page.session_token(CODE)
    page.click('input[value="pm_card_chargeDeclined"]')
    page.click("#pay")
    page.wait_text("error", r"^Your card was declined\. No money was taken\.")
    page.screenshot("declined")
    with rig.client() as client:
        assert client.session(token)[0]["status"] == "created", "a decline is not the end"
    assert page.driver.find_element("id", "pay").is_enabled()

    page.click("#cancel")
    page.wait_text("status", r"^Cancelled\. Your card has not been charged and the hold")
    page.screenshot("cancelled")
    row = Db(rig).session(token)
    assert row["status"] == "cancelled"
    intent = Db(rig).rows("SELECT status FROM payments WHERE id = ?", row["payment_intent_id"])
    assert intent == [{"status": "canceled"}], "the hold is released"
    page.click("#again-inline")
    page.wait(lambda: page.visible("start-view"), "back to the start view")


def test_busy_connector(page, rig):
    """Another driver's session holds connector 1: the page says so in words."""
    with rig.client() as client:
        ready_connector(rig, client, 1)
        open_page(page, rig)
        other = client.start(CODE, 1)
        try:
            start_on(page, 1)
            page.wait_text("error", r"^Connector 1 is busy: another driver has just started a "
                                    r"session on it\. Try another connector or wait a few minutes\.$")
            assert page.visible("start-view") and page.session_token(CODE) is None
            page.screenshot("busy")
            no_serious_violations(page, "the busy-connector error")
        finally:
            client.cancel(other.token)


def _exhaust(url: str, method: str, limit_name: str) -> int:
    """Spend this machine's whole per-minute allowance of one endpoint; the Retry-After."""
    with httpx.Client(timeout=5) as http:
        for _ in range(1000):
            r = http.request(method, url, json={} if method == "POST" else None)
            if r.status_code == 429:
                return int(r.headers["Retry-After"])
    raise AssertionError(f"no 429 from {limit_name} after 1000 requests")


def test_too_many_attempts(page, rig):
    """A 429 on start names the wait and holds the buttons; a 429 on the lookup pauses polling
    for Retry-After instead of asking again at the usual pace."""
    with rig.client() as client:
        ready_connector(rig, client, 1)
    open_page(page, rig)
    try:
        _exhaust(f"{rig.api}/public-charging/sessions", "POST", "start")
        start_on(page, 1)
        message = page.wait_text("error", r"^Too many attempts from this network\. Please wait "
                                          r"\d+ seconds, then try again\.$")
        wait = int(re.search(r"(\d+) seconds", message).group(1))
        assert 1 <= wait <= 60
        held = page.buttons()
        assert held and not any(b.is_enabled() for b in held)
        assert re.fullmatch(r"Start on connector \d \(wait \d+ s\)", held[0].text)
        page.screenshot("too-many-starts")

        _exhaust(f"{rig.api}/public-charging/chargers/{CODE}", "GET", "charger")
        log = rig.backend.log_path
        page.wait_text("status", r"^Too many requests from this network: live updates paused "
                                 r"for \d+ seconds\.$", timeout=10)
        mark = len(log.read_text(errors="replace"))
        time.sleep(6)  # longer than the page's usual 5 s between lookups
        after = log.read_text(errors="replace")[mark:]
        lookups = re.findall(rf"event=http method=GET path=/api/v3/public-charging/chargers/{CODE} ",
                             after)
        assert not lookups, f"the page asked again during its back-off: {len(lookups)} lookups"
        page.screenshot("too-many-lookups")
    finally:
        # the limits are in the backend's memory: a restart forgives them for the next test
        rig.backend.stop()
        rig.backend.start()
        wait_online(rig, timeout=30)


def test_offline_charger(page, rig):
    """A charger that goes offline: a payment made then fails in words, and a fresh page says
    the charger is offline and offers no start."""
    with rig.client() as client:
        ready_connector(rig, client, 1)
    open_page(page, rig)
    start_on(page, 1)
    page.wait(lambda: page.visible("pay-view"), "the payment step")
    rig.board.stop()
    wait_online(rig, online=False)
    page.click("#pay")
    page.wait_text("status", r"^The charger went offline before charging started\. Your card "
                             r"has not been charged and the hold on it is released\.$")
    page.screenshot("offline-after-payment")

    open_page(page, rig)
    page.wait_text("status", r"^This charger is offline right now, so it cannot start a session")
    assert page.buttons() == [], "no start button while the charger is offline"
    assert [e.text for e in page.driver.find_elements("css selector", ".connectors .state")] \
        == ["Charger offline", "Charger offline"]
    page.screenshot("offline")
    no_serious_violations(page, "the offline charger")


def test_page_needs_nothing_from_the_internet(page, rig):
    """With local payments every resource comes from the backend (Stripe.js is not loaded)."""
    open_page(page, rig)
    urls = page.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    origin = f"http://127.0.0.1:{rig.backend.port}/"
    assert urls and all(u.startswith(origin) for u in urls), urls
    assert not page.driver.find_elements("css selector", 'script[src*="stripe"]')

