"""The Scan to Pay page's serving (the page itself is driven in Chromium by tests/browser):
the routes, the payment provider named in the page, the Content-Security-Policy that keeps a
local-payments page on this backend and lets a Stripe one load Stripe.js, and the public_url a
bench board gets."""

from __future__ import annotations

import httpx
import pytest

from host_tools.backend.api import create_app
from host_tools.backend.payments import LocalPayments
from host_tools.bench_rig import LocalBackend, bench_charger, bench_config, free_port
from host_tools.scan_to_pay import page_url_for, with_local_page


def asgi_client(app) -> httpx.AsyncClient:
    """The app in-process (the page needs none of the lifespan's background tasks)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")


@pytest.fixture
async def client(tmp_path):
    async with asgi_client(create_app([bench_charger()], tmp_path / "b.db")) as c:
        yield c


async def test_page_for_any_code_with_its_assets(client):
    r = await client.get("/p/demo42")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<meta name="payments" content="local">' in r.text
    assert '<script src="/p/assets/pay.js" defer></script>' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self';" in csp and "stripe" not in csp
    assert r.headers["referrer-policy"] == "no-referrer"
    js = await client.get("/p/assets/pay.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "/api/v3/public-charging" in js.text
    assert (await client.get("/p/assets/pay.css")).headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("name", ["pay.html", "../api.py", "x.js", "%2e%2e%2fapi.py"])
async def test_only_the_two_assets_are_served(client, name):
    r = await client.get(f"/p/assets/{name}")
    assert "def create_app" not in r.text
    # `..` is resolved before routing: /p/api.py is the page for a code "api.py"
    assert r.status_code == 404 or r.text.startswith("<!doctype html>")


async def test_stripe_page_names_stripe_and_allows_its_script(tmp_path):
    class StripeLike(LocalPayments):
        name = "stripe"  # what the page and its CSP depend on; no payment is made here

    app = create_app([bench_charger()], tmp_path / "b.db")
    app.state.backend.payments = StripeLike(app.state.backend.store, lambda: 0.0)
    async with asgi_client(app) as c:
        r = await c.get("/p/DEMO42")
    assert '<meta name="payments" content="stripe">' in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com;" in csp
    assert "frame-src https://js.stripe.com https://hooks.stripe.com;" in csp


@pytest.mark.parametrize(("csms_url", "page"), [
    ("ws://127.0.0.1:8180/ocpp", "http://127.0.0.1:8180/p/{public_code}"),
    ("wss://bench.example:443/ocpp/", "https://bench.example:443/p/{public_code}"),
    ("ws://192.168.1.20:8180/ocpp", "http://192.168.1.20:8180/p/{public_code}"),
    ("wss://proxy.plugchoice.com/v1", None),  # another central system: its operator's page
    ("ws://127.0.0.1:8180/ocpp/extra", None),
])
def test_page_url_for_a_local_backend(csms_url, page):
    assert page_url_for(csms_url) == page
    cfg = bench_config("CP-1", "ABC123", csms_url)
    assert cfg.get("public_url") == page


def test_flash_sets_public_url_only_for_a_running_local_backend(tmp_path):
    """`chargerctl flash` gives a board the local backend's page when its csms_url points at
    one that serves it; a config with its own public_url, or pointing elsewhere, is kept."""
    with LocalBackend(tmp_path / "b", [bench_charger()]) as backend:
        cfg = {"charge_point_id": "CP-1", "csms_url": backend.ws_url, "public_code": "DEMO42"}
        got, page = with_local_page(cfg)
        assert page == backend.page_url and got == {**cfg, "public_url": backend.page_url}
        own = {**cfg, "public_url": "https://pay.example/p/{public_code}"}
        assert with_local_page(own) == (own, None)
    dead = {"csms_url": f"ws://127.0.0.1:{free_port()}/ocpp", "public_code": "X1"}
    assert with_local_page(dead) == (dead, None), "nothing answers there: no page to promise"
    assert with_local_page([1]) == ([1], None)  # not a config: left to check_config's message
