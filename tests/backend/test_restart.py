"""A backend restart loses nothing: sessions continue when the charger reconnects."""

from __future__ import annotations

import httpx
from ocpp.v16 import call

from .conftest import API, Server, connect, pay, session, start_session

TS = "2026-01-10T01:20:00Z"


async def restart(server: Server) -> Server:
    await server.stop()
    again = Server(server.db, server.clock, port=server.port)
    await again.start()
    return again


async def test_restart_mid_session_then_queued_stop_transaction(server):
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        link = await connect(server)
        token, body = await start_session(http)
        await pay(http, body)
        await http.post(f"{API}/sessions/{token}/confirm")
        id_tag, _ = link.cp.remote_starts.get_nowait()
        tx = (await link.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0,
                                                       timestamp=TS))).transaction_id
        await link.cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
            {"timestamp": TS, "sampledValue": [{"value": "1500"}]}]))

    server = await restart(server)
    try:
        await link.ws.wait_closed()
        await link.close()
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            data = await session(http, token)
            assert data["status"] == "charging" and data["energy_kwh"] == "1.500"
            assert data["charger"]["online"] is False
            # Reconnect without a new BootNotification (its fields did not change) and deliver
            # the StopTransaction queued while offline: the EV was unplugged meanwhile.
            link = await connect(server, boot=False)
            assert (await session(http, token))["charger"]["online"] is True
            await link.cp.call(call.StopTransaction(meter_stop=3_000, timestamp=TS,
                                                    transaction_id=tx, reason="EVDisconnected"))
            data = await session(http, token)
            assert data["status"] == "completed"
            assert data["energy_kwh"] == "3.000" and data["amount_captured"] == 105 + 50
            await link.close()
    finally:
        await server.stop()


async def test_restart_while_starting_then_queued_start_transaction(server):
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        link = await connect(server)
        token, body = await start_session(http)
        await pay(http, body)
        assert (await http.post(f"{API}/sessions/{token}/confirm")).json()["data"]["status"] == "starting"
        id_tag, _ = link.cp.remote_starts.get_nowait()
    server = await restart(server)
    try:
        await link.close()
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
            link = await connect(server, boot=False)
            res = await link.cp.call(call.StartTransaction(connector_id=1, id_tag=id_tag,
                                                           meter_start=0, timestamp=TS))
            assert res.id_tag_info["status"] == "Accepted"
            assert (await session(http, token))["status"] == "charging"
            r = await http.post(f"{API}/sessions/{token}/stop")
            assert r.status_code == 200 and r.json()["data"]["status"] == "stopping"
            await link.close()
    finally:
        await server.stop()


def test_database_is_in_wal_mode_with_every_table(tmp_path):
    import sqlite3

    from host_tools.backend.store import Store

    Store(tmp_path / "backend.db").close()
    db = sqlite3.connect(tmp_path / "backend.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"chargers", "connectors", "sessions", "transactions", "meter_values", "payments"} <= tables
