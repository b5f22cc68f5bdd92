"""The session's live meter figures and the operator's OCPP log, against a real `ocpp` charge point."""

from __future__ import annotations

import asyncio
import base64

import pytest
from ocpp.v16 import call

from host_tools.backend.ocpp_log import redact

from .conftest import API, T0, assert_loopback_only, connect
from .test_lifecycle import charging

LOG = "/api/v3/operator/chargers/{}/ocpp-log"


def _ts(offset: float) -> str:
    from host_tools.backend.clock import ocpp_time

    return ocpp_time(T0 + offset)


async def _meter(charger, tx: int, offset: float, wh: int, power_w: int | None = None):
    values = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
               "context": "Sample.Periodic"}]
    if power_w is not None:
        values.append({"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W",
                       "context": "Sample.Periodic"})
    await charger.cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
        {"timestamp": _ts(offset), "sampled_value": values}]))


async def _view(http, token: str) -> dict:
    return (await http.get(f"{API}/sessions/{token}")).json()["data"]


async def test_power_is_between_two_meter_readings_by_their_timestamps(server, http, charger):
    """No reading yet: meter_reading_at and power_w are null. Then power = energy between two
    successive readings over the time between their timestamps, not since anyone watched."""
    token, tx, _ = await charging(http, server, charger, meter_start=1000)  # StartTransaction at 01:15:00
    data = await _view(http, token)
    assert data["status"] == "charging"
    assert data["meter_reading_at"] is None and data["power_w"] is None
    # 60 s sample interval at 7.4 kW: 123.3 Wh a minute
    start = 28.0  # START_TS is T0 + 28 s
    await _meter(charger, tx, start + 60, 1123)
    data = await _view(http, token)
    assert data["meter_reading_at"] == "2026-01-10T01:16:00.000000Z"
    assert data["power_w"] == pytest.approx(7380, abs=5)  # from meterStart at the start time
    await _meter(charger, tx, start + 120, 1123 + 61)  # the EV slows to 3.66 kW
    assert (await _view(http, token))["power_w"] == pytest.approx(3660, abs=5)


async def test_power_is_the_chargers_own_power_reading_when_it_sends_one(server, http, charger):
    token, tx, _ = await charging(http, server, charger, meter_start=1000)
    await _meter(charger, tx, 88, 1123, power_w=7391)
    assert (await _view(http, token))["power_w"] == 7391
    await charger.cp.call(call.StopTransaction(meter_stop=1130, timestamp=_ts(95), transaction_id=tx))
    data = await _view(http, token)
    assert data["status"] == "completed" and data["power_w"] is None


async def test_ocpp_log_has_the_chargers_frames_in_order_and_long_polls(server, http, charger):
    r = await http.get(LOG.format("CP-1"))
    assert r.status_code == 200
    body = r.json()
    frames = body["data"]
    assert body["online"] is True
    assert frames[0]["type"] == "CONNECTED" and frames[0]["payload"]["authorization"] is None
    boot = next(f for f in frames if f["action"] == "BootNotification" and f["direction"] == "in")
    answer = next(f for f in frames if f["message_id"] == boot["message_id"] and f["type"] == "CALLRESULT")
    assert boot["type"] == "CALL" and boot["payload"]["chargePointVendor"] == "Test"
    assert answer["direction"] == "out" and answer["payload"]["status"] == "Accepted"
    assert [f["seq"] for f in frames] == sorted(f["seq"] for f in frames)
    last = body["last_seq"]
    # a follower waits for the next frame instead of polling
    waiting = asyncio.create_task(http.get(LOG.format("CP-1"), params={"after": last, "wait": 5}))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await charger.cp.call(call.Heartbeat())
    later = (await asyncio.wait_for(waiting, 5)).json()["data"]
    assert [f["action"] for f in later][:2] == ["Heartbeat", "Heartbeat"]
    assert later[0]["seq"] > last
    backlog = (await http.get(LOG.format("CP-1"), params={"limit": 2})).json()["data"]
    assert [f["seq"] for f in backlog] == [f["seq"] for f in later[-2:]]


async def test_ocpp_log_redacts_the_authorization_header_and_keys(server, http):
    key = "0123456789abcdef0123"
    auth = "Basic " + base64.b64encode(f"CP-KEY:{key}".encode()).decode()
    link = await connect(server, "CP-KEY", statuses=("Available",),
                         additional_headers={"Authorization": auth})
    try:
        r = await http.get(LOG.format("CP-KEY"))
        assert r.json()["data"][0]["payload"]["authorization"] == "***"
        assert key not in r.text and auth not in r.text
    finally:
        await link.close()
    conf = {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": key},
                                 {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    assert redact(conf) == {"configurationKey": [
        {"key": "AuthorizationKey", "readonly": False, "value": "***"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    assert redact({"key": "AuthorizationKey", "value": key})["value"] == "***"
    assert redact({"idTag": "PC12AB"}) == {"idTag": "PC12AB"}


async def test_ocpp_log_unknown_charger_is_404_and_only_for_loopback(server, http):
    await assert_loopback_only(server, http, LOG)


async def _offered(charger, tx: int, offset: float, *values: tuple):
    """A MeterValues with Current.Offered sampled values: (value, unit, phase) each."""
    sv = [{"value": v, "measurand": "Current.Offered", "unit": u, "context": "Sample.Periodic",
           **({"phase": p} if p else {})} for v, u, p in values]
    await charger.cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
        {"timestamp": _ts(offset), "sampled_value": sv}]))


async def test_live_view_shows_the_offered_current_and_the_charge_limit(server, http, charger):
    """Issue 13: "the live session view shows the offered current": the charger's latest
    Current.Offered (evcc's MeterValuesSampledData), stored like every measurand; and the
    charge limit the charger accepted for the connector (actions/charge-limit). Both fields are
    in the OpenAPI document's SessionData."""
    from host_tools.backend.schemas import SessionData

    token, tx, _ = await charging(http, server, charger, meter_start=1000)
    data = await _view(http, token)
    assert data["current_offered_a"] is None and data["charge_limit_a"] is None
    await _offered(charger, tx, 60, ("16.0", "A", None))
    assert (await _view(http, token))["current_offered_a"] == 16.0
    await _offered(charger, tx, 70, ("6.0", "A", None))
    assert (await _view(http, token))["current_offered_a"] == 6.0
    await _offered(charger, tx, 80, ("0.0", "A", None))  # 0 A: SuspendedEVSE, still a value
    assert (await _view(http, token))["current_offered_a"] == 0.0
    await _offered(charger, tx, 90, ("10", "A", "L1"), ("10.04", "A", "L2"), ("9.9", "A", "L3"))
    assert (await _view(http, token))["current_offered_a"] == 10.0  # the highest phase
    rows = server.backend.store.all("SELECT value FROM meter_values WHERE transaction_id = ? "
                                    "AND measurand = 'Current.Offered'", tx)
    assert len(rows) == 6  # stored as every measurand is
    server.backend.store.set_charge_limit("CP-1", 1, 1, 10.0, T0)
    server.backend.store.set_charge_limit("CP-1", 0, 1, 8.0, T0)  # the charge point's is lower
    data = await _view(http, token)
    assert data["charge_limit_a"] == 8.0
    SessionData.model_validate(data)
    await charger.cp.call(call.StopTransaction(meter_stop=1130, timestamp=_ts(95), transaction_id=tx))
    data = await _view(http, token)
    assert data["status"] == "completed" and data["current_offered_a"] is None
    assert data["charge_limit_a"] == 8.0  # the charger's, not the session's


@pytest.mark.parametrize("bad", [("abc", "A", None), ("-1", "A", None), ("NaN", "A", None),
                                 ("inf", "A", None), ("16", "W", None), ("1e999", "A", None)])
async def test_a_bad_offered_current_is_left_out(server, http, charger, bad):
    """A Current.Offered that is not a finite number >= 0 in A is stored as sent, never shown
    (and never breaks the view): the field is null."""
    token, tx, _ = await charging(http, server, charger, meter_start=1000)
    await _offered(charger, tx, 60, bad)
    r = await http.get(f"{API}/sessions/{token}")
    assert r.status_code == 200 and r.json()["data"]["current_offered_a"] is None
