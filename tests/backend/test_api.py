"""Every public-charging endpoint and each of its documented status codes."""

from __future__ import annotations

import pytest

from .conftest import API, connect, pay, session, start_session

SESSION_FIELDS = {
    "status", "failure_reason", "connector_id", "connector_status", "charger", "pricing",
    "amount_authorized", "energy_kwh", "cost_amount", "amount_captured", "tax_amount",
    "driver_email", "created_at", "authorized_at", "charging_started_at", "completed_at",
    "captured_at",
}
LOCAL_FIELDS = {"meter_reading_at", "power_w", "current_offered_a", "charge_limit_a"}  # the local backend's live figures


# -- GET /chargers/{code} --------------------------------------------------------------------
async def test_charger_lookup_is_case_insensitive(http, charger):
    r = await http.get(f"{API}/chargers/abc123")
    assert r.status_code == 200
    assert r.json() == {"data": {
        "public_code": "ABC123", "name": "Bench charger", "online": True,
        "connectors": [
            {"connector_id": n, "status": "Available", "standard": "IEC_62196_T2",
             "format": "SOCKET", "power_type": "AC_3_PHASE"} for n in (1, 2)],
        "pricing": {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50},
        "preauth_amount": 5000}}
    assert r.headers["X-RateLimit-Limit"] == "30"
    assert r.headers["X-RateLimit-Remaining"] == "29"


async def test_charger_offline_until_booted(server, http):
    r = await http.get(f"{API}/chargers/ABC123")
    assert r.json()["data"]["online"] is False
    assert r.json()["data"]["connectors"][0]["status"] == "Unavailable"
    link = await connect(server, boot=False)
    try:
        assert (await http.get(f"{API}/chargers/ABC123")).json()["data"]["online"] is False
        await link.cp.boot()
        assert (await http.get(f"{API}/chargers/ABC123")).json()["data"]["online"] is True
    finally:
        await link.close()


@pytest.mark.parametrize("code", ["NOPE", "PRIV1", "priv1", "ABCDEFGHIJKL"])
async def test_charger_404_unknown_or_not_public(http, code):
    r = await http.get(f"{API}/chargers/{code}")
    assert r.status_code == 404
    assert set(r.json()) == {"message"}


# -- POST /sessions -------------------------------------------------------------------------
async def test_start_201(http, charger):
    r = await http.post(f"{API}/sessions", json={"code": "abc123", "connector_id": 2})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"session_token", "data", "payment"}
    assert len(body["session_token"]) >= 43  # 256 random bits, base64url
    assert set(body["data"]) == SESSION_FIELDS | LOCAL_FIELDS
    assert body["data"]["status"] == "created" and body["data"]["connector_id"] == 2
    assert body["data"]["charger"] == {"public_code": "ABC123", "name": "Bench charger", "online": True}
    assert body["data"]["connector_status"] == "Available"
    pay_ = body["payment"]
    assert pay_["client_secret"].startswith("pi_") and "_secret_" in pay_["client_secret"]
    assert pay_["publishable_key"].startswith("pk_local_")
    assert pay_["stripe_account_id"] == "acct_local"
    assert r.headers["X-RateLimit-Limit"] == "3" and r.headers["X-RateLimit-Remaining"] == "2"


async def test_start_404_unknown_and_private(http, charger):
    for code in ("ZZZ", "PRIV1"):
        r = await http.post(f"{API}/sessions", json={"code": code, "connector_id": 1})
        assert r.status_code == 404 and "message" in r.json()


async def test_start_400_offline(http):
    r = await http.post(f"{API}/sessions", json={"code": "ABC123", "connector_id": 1})
    assert r.status_code == 400
    assert r.json() == {"message": "The charger is offline."}


async def test_start_422_unknown_connector(http, charger):
    r = await http.post(f"{API}/sessions", json={"code": "ABC123", "connector_id": 3})
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == "The given data was invalid."
    assert list(body["errors"]) == ["connector_id"]


@pytest.mark.parametrize("status", ["Charging", "Faulted", "Unavailable", "Finishing", "Reserved"])
async def test_start_409_connector_unavailable(http, charger, status):
    await charger.cp.status(1, status)
    r = await http.post(f"{API}/sessions", json={"code": "ABC123", "connector_id": 1})
    assert r.status_code == 409
    body = r.json()
    assert body["connector_status"] == status
    assert body["message"].startswith(f"Connector 1 is {status}: ")
    assert "not available" not in body["message"]
    if status == "Finishing":
        assert "the last session ended; unplug the EV to start a new one" in body["message"]


async def test_start_409_connector_has_a_session(http, charger):
    await start_session(http)
    r = await http.post(f"{API}/sessions", json={"code": "ABC123", "connector_id": 1})
    assert r.status_code == 409
    assert (await http.post(f"{API}/sessions", json={"code": "ABC123", "connector_id": 2})).status_code == 201


async def test_start_accepts_preparing_connector(http, charger):
    await charger.cp.status(1, "Preparing")
    await start_session(http)


async def test_start_429_per_charger_sessions_per_hour(server, http):
    """CP-KEY allows 2 successful sessions per hour."""
    link = await connect(server, "CP-KEY", statuses=("Available",),
                         additional_headers={"Authorization": _basic("CP-KEY", "0123456789abcdef0123")})
    try:
        for _ in range(2):
            token, _ = await start_session(http, code="KEY1")
            assert (await http.post(f"{API}/sessions/{token}/cancel")).status_code == 200
            server.clock.advance(61)  # past the per-IP minute
        r = await http.post(f"{API}/sessions", json={"code": "KEY1", "connector_id": 1})
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) == 3600 - 122 + 1
        assert "per hour" in r.json()["message"]
        server.clock.advance(3600 - 122 + 1)
        await start_session(http, code="KEY1")
    finally:
        await link.close()


def _basic(user, password):
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


VALID = {"code": "ABC123", "connector_id": 1}


@pytest.mark.parametrize("body, field", [
    ({}, "code"),
    ({"connector_id": 1}, "code"),
    ({"code": "ABC123"}, "connector_id"),
    ({"code": "", "connector_id": 1}, "code"),
    ({"code": None, "connector_id": 1}, "code"),
    ({"code": 123456, "connector_id": 1}, "code"),
    ({"code": ["ABC123"], "connector_id": 1}, "code"),
    ({"code": "ABCDEFGHIJK", "connector_id": 1}, "code"),
    ({"code": "ABC123", "connector_id": "1"}, "connector_id"),
    ({"code": "ABC123", "connector_id": 1.5}, "connector_id"),
    ({"code": "ABC123", "connector_id": True}, "connector_id"),
    ({"code": "ABC123", "connector_id": 0}, "connector_id"),
    ({"code": "ABC123", "connector_id": 101}, "connector_id"),
    ({"code": "ABC123", "connector_id": -1}, "connector_id"),
    ({**VALID, "email": "not-an-email"}, "email"),
    ({**VALID, "email": "a@b"}, "email"),
    ({**VALID, "email": "two words@example.com"}, "email"),
    ({**VALID, "email": 42}, "email"),
    ({**VALID, "email": "nul\u0000@example.com"}, "email"),
    ({**VALID, "email": "a" * 244 + "@example.com"}, "email"),
])
async def test_start_422_validation(server, http, body, field):
    r = await http.post(f"{API}/sessions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["message"] == "The given data was invalid."
    assert field in r.json()["errors"]
    assert all(isinstance(m, list) and m for m in r.json()["errors"].values())


async def test_start_422_not_json(http):
    r = await http.post(f"{API}/sessions", content=b"code=ABC123", headers={"content-type": "text/plain"})
    assert r.status_code == 422
    assert set(r.json()["errors"]) == {"code", "connector_id"}


async def test_start_422_deeply_nested_or_huge_body(http):
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"code": "' + b"A" * 70_000 + b'"}'):
        r = await http.post(f"{API}/sessions", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422


async def test_start_ten_character_code_and_long_valid_email(http, charger):
    r = await http.post(f"{API}/sessions", json={"code": "ABCDEFGHIJ", "connector_id": 1})
    assert r.status_code == 404  # valid length, no such charger
    email = "d" * 243 + "@example.com"
    assert len(email) == 255
    _, body = await start_session(http, code="aBc123", email=email)
    assert body["data"]["driver_email"] == email


# -- GET /sessions/{token} --------------------------------------------------------------------
async def test_get_session_and_404(server, http, charger):
    token, body = await start_session(http)
    r = await http.get(f"{API}/sessions/{token}")
    assert r.status_code == 200
    assert r.json()["data"] == body["data"] and r.json()["payment"] == body["payment"]
    for bad in ("x", token[:-1] + ("A" if token[-1] != "A" else "B"), "a" * 300):
        r = await http.get(f"{API}/sessions/{bad}")
        assert r.status_code == 404 and r.json() == {"message": "Session not found."}


async def test_token_expires_a_day_after_the_session_ended(server, http, charger):
    token, _ = await start_session(http)
    await http.post(f"{API}/sessions/{token}/cancel")
    server.clock.advance(86_000)
    assert (await http.get(f"{API}/sessions/{token}")).status_code == 200
    server.clock.advance(500)
    assert (await http.get(f"{API}/sessions/{token}")).status_code == 404


async def test_token_is_stored_only_as_hash(server, http, charger):
    token, _ = await start_session(http)
    with open(server.db, "rb") as f:
        raw = f.read()
    wal = open(server.db + "-wal", "rb").read()
    assert token.encode() not in raw and token.encode() not in wal


async def test_unpaid_session_is_cancelled_after_ttl(server, http, charger):
    token, _ = await start_session(http)
    server.clock.advance(901)
    data = await session(http, token)
    assert data["status"] == "cancelled"
    await start_session(http)  # connector free again


# -- confirm / stop / cancel ------------------------------------------------------------------
@pytest.mark.parametrize("action", ["confirm", "stop", "cancel"])
async def test_actions_404(http, action):
    r = await http.post(f"{API}/sessions/nope/{action}")
    assert r.status_code == 404 and r.json() == {"message": "Session not found."}
    assert r.headers["X-RateLimit-Limit"] == "10"


async def test_confirm_is_idempotent(http, charger):
    token, body = await start_session(http)
    await pay(http, body)
    first = (await http.post(f"{API}/sessions/{token}/confirm")).json()["data"]
    again = await http.post(f"{API}/sessions/{token}/confirm")
    assert again.status_code == 200 and again.json()["data"]["status"] == first["status"] == "starting"
    assert charger.cp.remote_starts.qsize() == 1


async def test_stop_400_when_not_charging(http, charger):
    token, _ = await start_session(http)
    r = await http.post(f"{API}/sessions/{token}/stop")
    assert r.status_code == 400 and "not charging" in r.json()["message"]


async def test_cancel_created_releases_hold_and_a_second_cancel_is_409(server, http, charger):
    """cancel: "releases the payment hold; allowed only in created, authorized, starting";
    "409 when it can no longer be cancelled" (a cancelled session included)."""
    token, body = await start_session(http)
    await pay(http, body)
    r = await http.post(f"{API}/sessions/{token}/cancel")
    assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"
    assert server.backend.store.one("SELECT status FROM payments")["status"] == "canceled"
    again = await http.post(f"{API}/sessions/{token}/cancel")  # allowed only in created,
    assert again.status_code == 409                            # authorized, starting
    assert again.json() == {"message": "The session can no longer be cancelled (status: cancelled)."}
    r = await http.post(f"{API}/sessions/{token}/confirm")
    assert r.json()["data"]["status"] == "cancelled"


# -- local payment confirm --------------------------------------------------------------------
async def test_local_payment_confirm_checks_secret_and_state(http, charger):
    _, body = await start_session(http)
    secret = body["payment"]["client_secret"]
    intent = secret.partition("_secret_")[0]
    url = f"/api/v3/_local/payments/{intent}/confirm"
    r = await http.post(url, json={})
    assert r.status_code == 422 and "client_secret" in r.json()["errors"]
    r = await http.post(url, json={"client_secret": intent + "_secret_wrong"})
    assert r.status_code == 403
    r = await http.post("/api/v3/_local/payments/pi_nope/confirm", json={"client_secret": "pi_nope_secret_x"})
    assert r.status_code == 404
    r = await http.post(url, json={"client_secret": secret})
    assert r.status_code == 200
    assert r.json() == {"id": intent, "object": "payment_intent", "status": "requires_capture",
                        "amount": 5000, "last_payment_error": None}
    r = await http.post(url, json={"client_secret": secret})
    assert r.status_code == 409


async def test_unknown_route_is_laravel_404(http):
    r = await http.get("/api/v3/public-charging/nothing")
    assert r.status_code == 404 and r.json() == {"message": "Not Found."}
