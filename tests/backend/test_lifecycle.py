"""The session lifecycle, driven by a real OCPP 1.6 charge point (the `ocpp` package)."""

from __future__ import annotations

import asyncio

from ocpp.v16 import call

from .conftest import API, T0, pay, session, start_session, until

START_TS = "2026-01-10T01:15:00Z"


async def confirmed(http, charger, connector_id=1):
    token, body = await start_session(http, connector_id=connector_id)
    assert (await pay(http, body)).status_code == 200
    r = await http.post(f"{API}/sessions/{token}/confirm")
    assert r.status_code == 200, r.text
    return token, r.json()["data"]


async def charging(http, server, charger, meter_start=1000, connector_id=1):
    token, data = await confirmed(http, charger, connector_id)
    assert data["status"] == "starting"
    id_tag, cid = charger.cp.remote_starts.get_nowait()
    server.clock.advance(5)
    res = await charger.cp.call(call.StartTransaction(connector_id=cid, id_tag=id_tag,
                                                      meter_start=meter_start, timestamp=START_TS))
    assert res.id_tag_info["status"] == "Accepted"
    await charger.cp.status(cid, "Charging")
    return token, res.transaction_id, id_tag


async def test_full_session_timestamps_and_amounts(server, http, charger):
    """created -> authorized -> starting -> charging -> stopping -> settling -> completed."""
    token, body = await start_session(http, email="driver@example.com")
    data = body["data"]
    assert data["status"] == "created"
    assert data["amount_authorized"] is None and data["energy_kwh"] is None
    assert data["created_at"] == "2026-01-10T01:14:32.000000Z"
    assert data["driver_email"] == "driver@example.com"
    assert body["payment"]["publishable_key"].startswith("pk_local_")

    # /confirm before the payer confirmed the payment: nothing happens yet.
    r = await http.post(f"{API}/sessions/{token}/confirm")
    assert r.json()["data"]["status"] == "created"

    assert (await pay(http, body)).json()["status"] == "requires_capture"
    server.clock.advance(3)
    r = await http.post(f"{API}/sessions/{token}/confirm")
    data = r.json()["data"]
    assert data["status"] == "starting"
    assert data["authorized_at"] == "2026-01-10T01:14:35.000000Z"
    assert data["amount_authorized"] == 5000
    id_tag, cid = charger.cp.remote_starts.get_nowait()
    assert cid == 1 and 1 <= len(id_tag) <= 20 and token[:10] not in id_tag

    # GET shows the payment context only while created.
    assert (await http.get(f"{API}/sessions/{token}")).json()["payment"] is None

    assert (await charger.cp.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "Accepted"
    server.clock.advance(10)
    res = await charger.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=12_345,
                                                      timestamp=START_TS))
    assert res.id_tag_info["status"] == "Accepted" and res.transaction_id > 0
    await charger.cp.status(1, "Charging")
    data = await session(http, token)
    assert data["status"] == "charging"
    assert data["connector_status"] == "Charging"
    assert data["charging_started_at"] == "2026-01-10T01:14:45.000000Z"
    assert data["energy_kwh"] == "0.000"

    await charger.cp.call(call.MeterValues(connector_id=1, transaction_id=res.transaction_id, meter_value=[
        {"timestamp": "2026-01-10T01:20:00Z", "sampledValue": [
            {"value": "13.345", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"}]}]))
    data = await session(http, token)
    assert data["energy_kwh"] == "1.000" and data["cost_amount"] == 35 + 50

    server.clock.advance(600)
    r = await http.post(f"{API}/sessions/{token}/stop")
    assert r.status_code == 200 and r.json()["data"]["status"] == "stopping"
    assert charger.cp.remote_stops.get_nowait() == res.transaction_id

    server.clock.advance(2)
    # 7.400 kWh at 35 c/kWh = 259 c, plus the 50 c start fee
    await charger.cp.call(call.StopTransaction(meter_stop=12_345 + 7_400, timestamp="2026-01-10T01:25:00Z",
                                               transaction_id=res.transaction_id, reason="Remote"))
    data = await session(http, token)
    assert data["status"] == "completed"
    assert data["energy_kwh"] == "7.400"
    assert data["cost_amount"] == 259 + 50
    assert data["amount_captured"] == 309
    assert data["tax_amount"] == 54  # 309 * 0.21 / 1.21 = 53.63
    assert data["completed_at"] == data["captured_at"] == "2026-01-10T01:24:47.000000Z"
    intent = server.backend.store.one("SELECT * FROM payments")
    assert intent["status"] == "succeeded" and intent["amount_received"] == 309
    samples = server.backend.store.all("SELECT * FROM meter_values WHERE transaction_id = ?",
                                       res.transaction_id)
    assert {s["measurand"] for s in samples} == {"Energy.Active.Import.Register", "Power.Active.Import"}


async def test_capture_never_exceeds_hold(server, http, charger):
    """Capture is the actual cost, never more than amount_authorized; the rest is released."""
    token, tx, _ = await charging(http, server, charger, meter_start=0)
    await charger.cp.call(call.StopTransaction(meter_stop=500_000, timestamp=START_TS,
                                               transaction_id=tx, reason="Local"))
    data = await session(http, token)
    assert data["status"] == "completed"
    assert data["cost_amount"] == 500 * 35 + 50
    assert data["amount_captured"] == 5000
    assert data["tax_amount"] == 868  # 5000 * 0.21 / 1.21 = 867.77


async def test_charger_rejects_remote_start(server, http, charger):
    charger.cp.remote_start_answer = "Rejected"
    token, data = await confirmed(http, charger)
    assert data["status"] == "failed" and data["failure_reason"] == "charger_rejected"
    assert data["completed_at"] is not None
    assert server.backend.store.one("SELECT status FROM payments")["status"] == "canceled"


async def test_no_start_transaction_in_time(server, http, charger):
    token, data = await confirmed(http, charger)
    assert data["status"] == "starting"
    server.clock.advance(59)
    assert (await session(http, token))["status"] == "starting"
    server.clock.advance(2)
    data = await session(http, token)
    assert data["status"] == "failed" and data["failure_reason"] == "start_timeout"
    assert server.backend.store.one("SELECT status FROM payments")["status"] == "canceled"


async def test_late_start_transaction_is_refused_and_stopped(server, http, charger):
    """A StartTransaction for a session that has already failed gets Invalid and a remote stop."""
    token, _ = await confirmed(http, charger)
    id_tag, cid = charger.cp.remote_starts.get_nowait()
    server.clock.advance(61)
    assert (await session(http, token))["status"] == "failed"
    res = await charger.cp.call(call.StartTransaction(connector_id=cid, id_tag=id_tag, meter_start=0,
                                                      timestamp=START_TS))
    assert res.id_tag_info["status"] == "Invalid"
    assert await asyncio.wait_for(charger.cp.remote_stops.get(), 3) == res.transaction_id


async def test_charger_offline_before_confirm(server, http, charger):
    token, body = await start_session(http)
    await pay(http, body)
    await charger.close()
    await until(lambda: _offline(http))
    r = await http.post(f"{API}/sessions/{token}/confirm")
    data = r.json()["data"]
    assert data["status"] == "failed" and data["failure_reason"] == "charger_offline"


async def _offline(http):
    r = await http.get(f"{API}/chargers/ABC123")
    return r.json()["data"]["online"] is False


async def test_charger_offline_after_accepting_start(server, http, charger):
    token, data = await confirmed(http, charger)
    assert data["status"] == "starting"
    await charger.close()
    await until(lambda: _offline(http))
    server.clock.advance(61)
    data = await session(http, token)
    assert data["status"] == "failed" and data["failure_reason"] == "charger_offline"
    assert data["charger"]["online"] is False


async def test_payment_declined(server, http, charger):
    token, body = await start_session(http)
    r = await pay(http, body, "pm_card_chargeDeclined")
    assert r.json()["last_payment_error"]["code"] == "card_declined"
    data = (await http.post(f"{API}/sessions/{token}/confirm")).json()["data"]
    assert data["status"] == "failed" and data["failure_reason"] == "payment_failed"
    assert charger.cp.remote_starts.empty()


async def test_ev_unplugged_ends_session_like_driver_stop(server, http, charger):
    """TC_005: EV-side disconnect; the charger stops the transaction with reason EVDisconnected."""
    token, tx, _ = await charging(http, server, charger, meter_start=0)
    await charger.cp.status(1, "Finishing")
    assert (await session(http, token))["status"] == "stopping"
    await charger.cp.call(call.StopTransaction(meter_stop=2_000, timestamp=START_TS,
                                               transaction_id=tx, reason="EVDisconnected"))
    data = await session(http, token)
    assert data["status"] == "completed" and data["energy_kwh"] == "2.000"
    assert data["amount_captured"] == 70 + 50


async def test_unplug_without_stop_transaction_gets_remote_stop(server, http, charger):
    """Connector Available while the transaction is open: the backend stops it."""
    token, tx, _ = await charging(http, server, charger, meter_start=0)
    await charger.cp.status(1, "Available")
    assert await asyncio.wait_for(charger.cp.remote_stops.get(), 3) == tx
    assert (await session(http, token))["status"] == "stopping"


async def test_charger_side_stop(server, http, charger):
    token, tx, _ = await charging(http, server, charger, meter_start=100)
    res = await charger.cp.call(call.StopTransaction(meter_stop=1_100, timestamp=START_TS,
                                                     transaction_id=tx, reason="Local"))
    assert res.id_tag_info is None
    data = await session(http, token)
    assert data["status"] == "completed" and data["energy_kwh"] == "1.000"
    assert data["amount_captured"] == 85


async def test_stop_refused_and_offline_give_400(server, http, charger):
    token, tx, _ = await charging(http, server, charger)
    charger.cp.remote_stop_answer = "Rejected"
    r = await http.post(f"{API}/sessions/{token}/stop")
    assert r.status_code == 400 and "unplug" in r.json()["message"]
    assert (await session(http, token))["status"] == "charging"
    await charger.close()
    await until(lambda: _offline(http))
    r = await http.post(f"{API}/sessions/{token}/stop")
    assert r.status_code == 400 and "offline" in r.json()["message"]


async def test_cancel_while_starting_then_start_is_refused(server, http, charger):
    token, _ = await confirmed(http, charger)
    id_tag, _ = charger.cp.remote_starts.get_nowait()
    r = await http.post(f"{API}/sessions/{token}/cancel")
    assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"
    assert (await charger.cp.call(call.Authorize(id_tag=id_tag))).id_tag_info["status"] == "Invalid"
    res = await charger.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0,
                                                      timestamp=START_TS))
    assert res.id_tag_info["status"] == "Invalid"


async def test_cancel_too_late_is_409(server, http, charger):
    token, _, _ = await charging(http, server, charger)
    r = await http.post(f"{API}/sessions/{token}/cancel")
    assert r.status_code == 409
    assert r.json() == {"message": "The session can no longer be cancelled (status: charging)."}


async def test_repeated_start_transaction_gets_same_id(server, http, charger):
    """A StartTransaction resent after a lost .conf must not open a second transaction."""
    token, tx, id_tag = await charging(http, server, charger)
    res = await charger.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=1000,
                                                      timestamp=START_TS))
    assert res.transaction_id == tx and res.id_tag_info["status"] == "Accepted"


async def test_stop_transaction_with_minus_one_settles_by_id_tag(server, http, charger):
    """Later messages use transactionId -1 when StartTransaction.conf never arrived."""
    token, tx, id_tag = await charging(http, server, charger, meter_start=0)
    res = await charger.cp.call(call.StopTransaction(meter_stop=1_000, timestamp=START_TS,
                                                     transaction_id=-1, id_tag=id_tag))
    assert res.id_tag_info["status"] == "Accepted"
    assert (await session(http, token))["status"] == "completed"


async def test_unknown_transactions_are_answered(server, http, charger):
    cp = charger.cp
    res = await cp.call(call.StopTransaction(meter_stop=10, timestamp=START_TS, transaction_id=-1))
    assert res is not None and res.id_tag_info is None
    res = await cp.call(call.StopTransaction(meter_stop=10, timestamp=START_TS, transaction_id=999,
                                             id_tag="NOBODY"))
    assert res.id_tag_info["status"] == "Accepted"
    for tx in (-1, 999, None):
        res = await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
            {"timestamp": START_TS, "sampledValue": [{"value": "5"}]}]))
        assert res is not None
    res = await cp.call(call.StartTransaction(connector_id=2, id_tag="LOCALCARD", meter_start=0,
                                              timestamp=START_TS))
    assert res.transaction_id > 0 and res.id_tag_info["status"] == "Invalid"


async def test_core_calls_are_answered(server, http, charger):
    cp = charger.cp
    boot = await cp.boot()
    assert boot.status == "Accepted" and boot.interval == 300
    assert boot.current_time.startswith("2026-01-10T01:14:32")
    assert (await cp.call(call.Heartbeat())).current_time.startswith("2026-01-10T01:14:32")
    res = await cp.call(call.DataTransfer(vendor_id="com.example", message_id="x", data="y"))
    assert res.status == "UnknownVendorId"
    assert (await cp.call(call.Authorize(id_tag="UNKNOWN"))).id_tag_info["status"] == "Invalid"
    assert await cp.status(0, "Available") is not None
    await cp.status(2, "Faulted", error_code="GroundFailure")
    r = await http.get(f"{API}/chargers/abc123")
    body = r.json()["data"]
    assert body["online"] is True
    assert [c["status"] for c in body["connectors"]] == ["Available", "Faulted"]
    assert T0  # the fixed clock is what the charger was told


async def test_remote_start_unanswered_fails_the_session(tmp_path):
    """A CALL that gets no answer times out (call timeout is configuration, 0.2 s here)."""
    import httpx

    from .conftest import FakeClock, Server, connect

    server = Server(str(tmp_path / "db"), FakeClock(), options={"call_timeout": 0.2})
    await server.start()
    link = await connect(server)
    never = asyncio.Event()

    async def silent(**kw):
        await never.wait()

    link.cp.route_map["RemoteStartTransaction"]["_on_action"] = silent
    try:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            token, body = await start_session(http)
            await pay(http, body)
            data = (await http.post(f"{API}/sessions/{token}/confirm")).json()["data"]
            assert data["status"] == "failed" and data["failure_reason"] == "start_timeout"
    finally:
        never.set()
        await link.close()
        await server.stop()


async def test_stop_transaction_never_delivered_settles_on_last_reading(server, http, charger):
    token, tx, _ = await charging(http, server, charger, meter_start=1000)
    await charger.cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
        {"timestamp": START_TS, "sampledValue": [{"value": "3000"}]}]))
    assert (await http.post(f"{API}/sessions/{token}/stop")).json()["data"]["status"] == "stopping"
    server.clock.advance(3599)
    assert (await session(http, token))["status"] == "stopping"
    server.clock.advance(2)
    data = await session(http, token)
    assert data["status"] == "completed" and data["energy_kwh"] == "2.000"
    assert data["amount_captured"] == 70 + 50
