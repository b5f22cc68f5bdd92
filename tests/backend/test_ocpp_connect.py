"""Who may connect to /ocpp/{identity}: subprotocol, Basic auth, known identities only."""

from __future__ import annotations

import asyncio
import base64
import logging

import pytest
import websockets
from ocpp.v16 import call
from websockets.exceptions import InvalidStatus

from .conftest import API, connect

KEY = "0123456789abcdef0123"


def basic(user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def refused_with(server, identity, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as e:
        await websockets.connect(server.ocpp_url(identity), open_timeout=5, **kwargs)
    return e.value.response.status_code


async def test_subprotocol_ocpp16_is_negotiated(server):
    link = await connect(server, boot=False)
    try:
        assert link.ws.subprotocol == "ocpp1.6"
    finally:
        await link.close()


async def test_unknown_identity_is_refused(server):
    assert await refused_with(server, "CP-NOBODY", subprotocols=["ocpp1.6"]) == 404


async def test_missing_subprotocol_is_refused(server):
    assert await refused_with(server, "CP-1") == 400


async def test_basic_auth_required_when_charger_has_a_key(server, http, caplog):
    """Security profile 1: user = identity, password = AuthorizationKey."""
    caplog.set_level(logging.INFO, logger="chargerctl.backend")
    assert await refused_with(server, "CP-KEY", subprotocols=["ocpp1.6"]) == 401
    for headers in (basic("CP-KEY", "wrong-key-wrong-key"), basic("CP-1", KEY),
                    {"Authorization": "Basic !!!"}, {"Authorization": f"Bearer {KEY}"}):
        assert await refused_with(server, "CP-KEY", subprotocols=["ocpp1.6"],
                                  additional_headers=headers) == 401
    link = await connect(server, "CP-KEY", statuses=("Available",),
                         additional_headers=basic("CP-KEY", KEY))
    try:
        assert (await http.get(f"{API}/chargers/KEY1")).json()["data"]["online"] is True
    finally:
        await link.close()
    assert KEY not in caplog.text


async def test_a_second_connection_replaces_the_first(server, http):
    first = await connect(server)
    second = await connect(server)
    try:
        await first.ws.wait_closed()
        assert (await http.get(f"{API}/chargers/ABC123")).json()["data"]["online"] is True
        assert (await second.cp.call(call.Heartbeat())).current_time
    finally:
        await first.close()
        await second.close()


async def test_unbooted_charger_is_asked_for_a_boot_notification(tmp_path):
    """A charger reconnecting to a fresh database does not resend BootNotification by itself."""
    from ocpp.routing import on
    from ocpp.v16 import call_result
    from ocpp.v16.enums import Action

    from .conftest import FakeClock, Server, TestChargePoint

    triggered = asyncio.Event()

    class Reconnecting(TestChargePoint):
        @on(Action.trigger_message)
        def on_trigger(self, requested_message, connector_id=None):
            triggered.set()
            return call_result.TriggerMessage(status="Accepted")

    server = Server(str(tmp_path / "db"), FakeClock(), options={"boot_trigger_after": 0.05})
    await server.start()
    ws = await websockets.connect(server.ocpp_url("CP-1"), subprotocols=["ocpp1.6"])
    cp = Reconnecting("CP-1", ws)
    task = asyncio.create_task(cp.start())
    try:
        await asyncio.wait_for(triggered.wait(), 3)
    finally:
        await ws.close()
        task.cancel()
        await server.stop()


async def _raw_call(ws, message) -> list:
    import json

    await ws.send(json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 3))


async def test_callerrors_use_the_16_codes(server):
    """1.6 table: NotImplemented = requested Action is not known; NotSupported = recognized but
    not supported; FormationViolation = payload syntactically incorrect."""
    async with websockets.connect(server.ocpp_url("CP-1"), subprotocols=["ocpp1.6"]) as ws:
        answer = await _raw_call(ws, [2, "a", "FlyToTheMoon", {}])
        assert answer[:3] == [4, "a", "NotImplemented"] and answer[4]
        # a 1.6 (security extension) action the backend does not handle; SecurityEventNotification
        # was one until the backend began recording security events
        answer = await _raw_call(ws, [2, "b", "LogStatusNotification", {"status": "Uploading", "requestId": 1}])
        assert answer[:3] == [4, "b", "NotSupported"]
        answer = await _raw_call(ws, [2, "c", "Heartbeat", {"extra": 1}])
        assert answer[:3] == [4, "c", "FormationViolation"]
        answer = await _raw_call(ws, [2, "d", "BootNotification", {"chargePointModel": "m"}])
        assert answer[:3] == [4, "d", "ProtocolError"]
        answer = await _raw_call(ws, [2, "e", "StatusNotification",
                                      {"connectorId": "one", "errorCode": "NoError", "status": "Available"}])
        assert answer[:3] == [4, "e", "TypeConstraintViolation"]
        await ws.send("this is not json")
        answer = await _raw_call(ws, [2, "f", "Heartbeat", {}])
        assert answer[:2] == [3, "f"] and "currentTime" in answer[2]
