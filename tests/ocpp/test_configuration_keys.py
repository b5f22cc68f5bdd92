"""Configuration keys over the wire (issue 12): values outside a key's declared range are
Rejected and change nothing, unknown keys are NotSupported by exact match only, a bad value
persisted by an older firmware is replaced at boot, and GetConfiguration keeps its answer
within one frame (GetConfigurationMaxKeys, each key once). The key rules themselves are tested
key by key in tests/firmware/test_settings.py."""

from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from tests.ocpp.test_core_profile import start_charging


@pytest.fixture
def only64(mp_build):
    # The 32-bit run adds nothing here but time: only the overflow case is about the ESP32's
    # 31-bit small ints and 2**30 ms ticks (test_overflowing_sample_interval_...[unix32]).
    if mp_build == "unix32":
        pytest.skip("unix32 subset: the ticks-overflow regression runs on 32 bits")


def callerrors(srv):
    return [json.loads(t) for side, t in srv.frames if side == "cp" and json.loads(t)[0] == 4]


def ocpp_json(station):
    path = station.tmp / "data" / "ocpp.json"
    return path.read_text() if path.exists() else None


async def test_overflowing_sample_interval_rejected_then_a_normal_session(station):
    """Issue 12: ChangeConfiguration MeterValueSampleInterval = "99999999999999999999" was
    Accepted, and the next RemoteStartTransaction was answered InternalError (OverflowError in
    the ticks arithmetic) while the relay closed, until the firmware crashed. Now: Rejected,
    and the session that follows is a normal one: the relay closes only after an Accepted
    start, samples come every second, and it ends with a Remote stop."""
    await station.start()
    await station.booted()
    srv = station.server
    res = await srv.cp.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="99999999999999999999"))
    assert res.status == "Rejected"
    res = await srv.cp.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert res.configuration_key[0]["value"] == "1"  # config.json's value, unchanged
    assert ocpp_json(station) is None  # nothing written
    await station.plug()
    await srv.wait_status(1, "Preparing")
    assert (await station.sim(cmd="state"))["connectors"][0]["relay_closed"] is False
    tid = await start_charging(station)
    await station.fw.wait_log(r"relay connector=1 closed=1")
    await srv.wait_msg("MeterValues", n=2, transaction_id=tid, timeout=6)
    assert await station.remote_stop(tid) == "Accepted"
    stop = await srv.wait_msg("StopTransaction")
    assert stop["reason"] == "Remote" and stop["transaction_id"] == tid
    await station.fw.wait_log(r"relay connector=1 closed=0")
    assert callerrors(srv) == [] and station.fw.exits == []


async def test_link_keys_out_of_range_rejected_and_the_link_survives(station, only64):
    """Issue 12: a huge WebSocketPingInterval ended the OCPP link for good, MessageTimeout 0 or
    huge dropped it on the board's next CALL, and "HeartbeatInterval i W" (a real key and a
    space) was Accepted and written to flash. Now Rejected / NotSupported, nothing stored, and
    the board's own next CALL goes out and is answered on the same connection."""
    await station.start()
    await station.booted()
    srv = station.server
    change = srv.cp.call
    for key, value, status in (("WebSocketPingInterval", "99999999999999999999", "Rejected"),
                               ("WebSocketPingInterval", "3601", "Rejected"),
                               ("MessageTimeout", "0", "Rejected"),
                               ("MessageTimeout", "99999999999999999999", "Rejected"),
                               ("MessageTimeout", " 30", "Rejected"),
                               ("HeartbeatInterval i W", "5", "NotSupported"),
                               ("HeartbeatInterval\n", "5", "NotSupported"),
                               ("ConnectorPhaseRotation", "9.RST", "Rejected")):
        assert (await change(call.ChangeConfiguration(key=key, value=value))).status == status, (key, value)
    assert ocpp_json(station) is None
    res = await change(call.GetConfiguration(key=["WebSocketPingInterval", "MessageTimeout", "HeartbeatInterval"]))
    assert [k["value"] for k in res.configuration_key] == ["60", "30", "30"]
    # the board's own next CALL: a triggered Heartbeat, answered on this connection
    assert (await change(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await srv.wait_msg("Heartbeat")
    # and an Accepted change of the same keys, at their bounds, persisted as numbers
    assert (await change(call.ChangeConfiguration(key="MessageTimeout", value="5"))).status == "Accepted"
    assert (await change(call.ChangeConfiguration(key="WebSocketPingInterval", value="3600"))).status == "Accepted"
    assert json.loads(ocpp_json(station)) == {"MessageTimeout": 5, "WebSocketPingInterval": 3600}
    tid = await start_charging(station)
    assert await station.remote_stop(tid) == "Accepted"
    await srv.wait_msg("StopTransaction")
    assert len(srv.cps) == 1 and callerrors(srv) == [] and station.fw.exits == []


async def test_get_configuration_max_keys_and_duplicates(station, only64):
    """GetConfigurationMaxKeys: "Maximum number of requested configuration keys in a
    GetConfiguration.req PDU." One key more is answered OccurenceConstraintViolation ("Payload
    for Action is syntactically correct but at least one of the fields violates occurence
    constraints"); a key asked for twice is answered once."""
    await station.start()
    await station.booted()
    srv = station.server
    res = await srv.cp.call(call.GetConfiguration(key=["GetConfigurationMaxKeys"]))
    most = int(res.configuration_key[0]["value"])
    assert res.configuration_key[0]["readonly"] is True
    unknown = [f"K{i:02d}" + "\u00e9" * 47 for i in range(most)]
    answer = await station.raw(json.dumps([2, "g1", "GetConfiguration", {"key": unknown}]))
    assert answer[:2] == [3, "g1"] and answer[2] == {"configurationKey": [], "unknownKey": unknown}
    answer = await station.raw(json.dumps([2, "g2", "GetConfiguration", {"key": unknown + ["HeartbeatInterval"]}]))
    assert answer[:3] == [4, "g2", "OccurenceConstraintViolation"]
    res = await srv.cp.call(call.GetConfiguration(key=["HeartbeatInterval", "Nope", "HeartbeatInterval", "Nope"]))
    assert [k["key"] for k in res.configuration_key] == ["HeartbeatInterval"] and res.unknown_key == ["Nope"]
    assert len(srv.cps) == 1


async def test_bad_persisted_values_replaced_at_boot(station, only64):
    """Issue 12: "a value already persisted out of range (an old file) is replaced by the default
    at boot with a log line". The file an older firmware could leave, with the key the prefix
    bug wrote and a value that overflowed the ticks arithmetic: the board boots, runs on the
    defaults, logs each refused key (never the AuthorizationKey's value) and cleans the file."""
    data = station.tmp / "data"
    data.mkdir()
    (data / "ocpp.json").write_text(json.dumps({
        "MeterValueSampleInterval": 99999999999999999999, "WebSocketPingInterval": 10 ** 12,
        "MessageTimeout": 0, "HeartbeatInterval i W": 5, "HeartbeatInterval": 42,
        "AuthorizationKey": "not\nthis-secret-value"}))
    await station.start(ocpp_keys={"MeterValueSampleInterval": 99999999999999999999})
    await station.booted()
    srv = station.server
    for key in ("MeterValueSampleInterval", "WebSocketPingInterval", "MessageTimeout",
                r"HeartbeatInterval\?i\?W", "AuthorizationKey"):
        await station.fw.wait_log(rf"setting refused key={key} from=data/ocpp.json")
    await station.fw.wait_log(r"setting refused key=MeterValueSampleInterval from=config.json")
    assert not [line for line in station.fw.lines if "secret" in line]
    # the AuthorizationKey is never removed at boot (setting_rules.HEX): left unused
    assert json.loads(ocpp_json(station)) == {"HeartbeatInterval": 42, "AuthorizationKey": "not\nthis-secret-value"}
    res = await srv.cp.call(call.GetConfiguration(key=["MeterValueSampleInterval", "WebSocketPingInterval",
                                                       "MessageTimeout", "HeartbeatInterval"]))
    # HeartbeatInterval: BootNotification's interval (the test CSMS's 30) rules for this boot
    assert [k["value"] for k in res.configuration_key] == ["60", "60", "30", "30"]
    assert srv.auth_headers[-1] is None  # the refused AuthorizationKey is not used
    assert station.fw.exits == []


async def test_evcc_meter_values_accepted_and_sampled(station, only64):
    """plugchoice-operator-api.md: evcc asks Plugchoice operators to set MeterValuesSampledData =
    Energy.Active.Import.Register,Current.Offered,Current.Import,Voltage, "So a charger whose
    firmware refuses Current.Offered in MeterValuesSampledData ... does not work with evcc".
    Accepted over the wire, then every sample carries the four, Current.Offered being the
    current offered (no limit set: the virtual board's 32 A rating); Power.Offered = A x 230 V
    x phases. A measurand listed twice is still Rejected."""
    await station.start()
    await station.booted()
    srv = station.server
    evcc = "Energy.Active.Import.Register,Current.Offered,Current.Import,Voltage"
    change = srv.cp.call
    assert (await change(call.ChangeConfiguration(key="MeterValuesSampledData", value=evcc))).status == "Accepted"
    assert (await change(call.ChangeConfiguration(key="StopTxnSampledData",
                                                  value="Current.Offered,Power.Offered"))).status == "Accepted"
    assert (await change(call.ChangeConfiguration(key="MeterValuesSampledData",
                                                  value=evcc + ",Current.Offered"))).status == "Rejected"
    res = await srv.cp.call(call.GetConfiguration(key=["MeterValuesSampledData"]))
    assert res.configuration_key[0]["value"] == evcc
    tid = await start_charging(station)
    mv = await srv.wait_msg("MeterValues", n=2, transaction_id=tid, timeout=10)
    sv = mv["meter_value"][0]["sampled_value"]
    assert [s["measurand"] for s in sv] == evcc.split(",")
    offered = sv[1]
    assert (offered["value"], offered["unit"], offered["context"]) == ("32.0", "A", "Sample.Periodic")
    assert float(sv[2]["value"]) <= 32.0  # the EV draws no more than it is offered
    assert await station.remote_stop(tid) == "Accepted"
    stop = await srv.wait_msg("StopTransaction")
    end = stop["transaction_data"][-1]["sampled_value"]
    assert [(s["measurand"], s["value"], s["unit"]) for s in end] == [
        ("Current.Offered", "32.0", "A"), ("Power.Offered", "7360", "W")]
