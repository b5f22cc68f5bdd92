"""OCA charge-point test cases (TC_NNN_CS) against the firmware running in the unix port.

Each test mirrors one case of the OCA OCPP 1.6 compliance list and quotes the sentence of the
OCPP 1.6 specification it checks. Time runs fast: intervals are configuration (conftest.FAST).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp.v16 import call

# On unix32 run the boot, a regular session and every case timed by an interval or a timeout (ticks
# arithmetic, 31-bit small ints, times past 2**30 s); the others are control flow (conftest).
ONLY64 = pytest.mark.unix64_only("a case's control flow: the 32-bit pass keeps the boot, a session and the timed cases")


async def start_charging(station, tag="TAG1", connector=1):
    """Plug in, remote start, wait for Charging; return the transactionId."""
    srv = station.server
    await station.plug(connector)
    await srv.wait_status(connector, "Preparing")
    assert await station.remote_start(tag, connector) == "Accepted"
    await srv.wait_msg("StartTransaction", id_tag=tag, connector_id=connector)
    await srv.wait_status(connector, "Charging")
    await station.fw.wait_log(r"tx confirmed ref=\d+ transaction_id=")
    return srv.next_tx


async def test_tc001_cold_boot(station):
    """TC_001 Cold boot charge point. "After start-up, a Charge Point SHALL send a request to the
    Central System with information about its configuration (e.g. version, vendor, etc.)." and,
    once accepted, StatusNotification for connector 0 and every connector."""
    await station.start(connectors=2)
    await station.booted()
    srv = station.server
    await srv.wait_status(0, "Available")
    await srv.wait_status(1, "Available")
    await srv.wait_status(2, "Available")
    first = json.loads(next(t for side, t in srv.frames if side == "cp"))
    assert first[2] == "BootNotification"
    boot = srv.actions("BootNotification")[0]
    assert boot["charge_point_vendor"] and boot["charge_point_model"] == "unix-sim"
    assert srv.paths[0] == "/ocpp/CP-1"
    await station.fw.wait_log(r"ocpp connected")


async def test_tc002_boot_pending_then_accepted(station):
    """TC_002 Cold boot - Pending. "If the Central System returns the status Pending, ... The
    Central System MAY send request messages to retrieve information from the Charge Point or
    change its configuration. The Charge Point SHOULD respond to these messages. The Charge Point
    SHALL NOT send request messages to the Central System unless it has been instructed by the
    Central System to do so with a TriggerMessage.req request." """
    srv = station.server
    srv.boot_status = ["Pending", "Accepted"]
    srv.boot_interval = 1
    await station.start()
    await srv.wait_msg("BootNotification")
    await station.fw.wait_log(r"boot status=Pending")
    res = await srv.cp.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert res.configuration_key[0]["key"] == "HeartbeatInterval"
    assert (await srv.cp.call(call.RemoteStartTransaction(id_tag="T", connector_id=1))).status == "Rejected"
    assert srv.actions() == ["BootNotification"]  # nothing of its own while Pending
    await srv.wait_msg("BootNotification", n=2, timeout=5)
    await srv.wait_status(1, "Available")
    assert srv.actions()[:2] == ["BootNotification", "BootNotification"]


@ONLY64
async def test_tc002_boot_pending_trigger_message_is_honoured(station):
    """TC_002 (TriggerMessage while Pending). "The Charge Point SHALL NOT send request messages
    to the Central System unless it has been instructed by the Central System to do so with a
    TriggerMessage.req request." """
    srv = station.server
    srv.boot_status = ["Pending", "Accepted"]
    srv.boot_interval = 60
    await station.start()
    await srv.wait_msg("BootNotification")
    await station.fw.wait_log(r"boot status=Pending")
    res = await srv.cp.call(call.TriggerMessage(requested_message="BootNotification"))
    assert res.status == "Accepted"
    await srv.wait_msg("BootNotification", n=2, timeout=5)
    await srv.wait_status(1, "Available")


async def test_boot_rejected_answers_nothing_until_interval(station):
    """Boot Rejected. "While Rejected, the Charge Point SHALL NOT respond to any Central System
    initiated message." and "the value of the interval field indicates the minimum wait time
    before sending a next BootNotification request." """
    srv = station.server
    srv.boot_status = ["Rejected", "Accepted"]
    srv.boot_interval = 2
    await station.start()
    await srv.wait_msg("BootNotification")
    t0 = asyncio.get_running_loop().time()
    await station.fw.wait_log(r"boot status=Rejected")  # the answer has reached the charge point
    srv.cp._response_timeout = 0.5
    with pytest.raises(asyncio.TimeoutError):
        await srv.cp.call(call.GetConfiguration())
    await srv.wait_msg("BootNotification", n=2, timeout=6)
    assert asyncio.get_running_loop().time() - t0 >= 1.5
    await srv.wait_status(1, "Available")
    assert srv.actions()[:2] == ["BootNotification", "BootNotification"]


async def test_tc003_regular_session_plugin_first(station):
    """TC_003 Regular charging session - plugin first. "The Charge Point SHALL send a
    StartTransaction.req PDU to the Central System to inform about a transaction that has been
    started." (status Preparing on plug-in, Authorize for the idTag, then Charging)."""
    await station.start()
    await station.booted()
    srv = station.server
    await station.plug()
    await srv.wait_status(1, "Preparing")
    await station.sim(cmd="idtag", connector=1, id_tag="CARD1")
    await srv.wait_msg("Authorize", id_tag="CARD1")
    start = await srv.wait_msg("StartTransaction", id_tag="CARD1")
    await srv.wait_status(1, "Charging")
    assert start["meter_start"] >= 0 and start["connector_id"] == 1
    await station.fw.wait_log(r"relay connector=1 closed=1")
    # the same card stops it: reason Local
    await station.sim(cmd="idtag", connector=1, id_tag="CARD1")
    stop = await srv.wait_msg("StopTransaction")
    assert stop["reason"] == "Local" and stop["transaction_id"] == srv.next_tx
    await srv.wait_status(1, "Finishing")
    await station.plug(plugged=False)
    await srv.wait_status(1, "Available", timeout=5)


@ONLY64
async def test_tc004_regular_session_identification_first(station):
    """TC_004 Regular charging session - identification first. "...the Charge Point SHALL send a
    StartTransaction.req once the EV is connected" (Preparing after authorization, the
    transaction starts when the cable comes)."""
    await station.start()
    await station.booted()
    srv = station.server
    await station.sim(cmd="idtag", connector=1, id_tag="CARD2")
    await srv.wait_msg("Authorize", id_tag="CARD2")
    await srv.wait_status(1, "Preparing")
    assert srv.actions("StartTransaction") == []
    await station.plug()
    await srv.wait_msg("StartTransaction", id_tag="CARD2")
    await srv.wait_status(1, "Charging")


async def test_tc004_identification_first_connection_timeout(station):
    """TC_004_2 Identification first - time out. ConnectionTimeOut: "Interval *from beginning of
    status: 'Preparing' until incipient Transaction is automatically canceled, due to failure of
    EV driver to (correctly) insert the charging cable connector(s) into the appropriate socket(s)." """
    await station.start(ocpp_keys={"ConnectionTimeOut": 1})
    await station.booted()
    srv = station.server
    await station.sim(cmd="idtag", connector=1, id_tag="CARD3")
    await srv.wait_status(1, "Preparing")
    await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Available", timeout=5)
    assert srv.actions("StartTransaction") == []


@ONLY64
async def test_tc005_ev_side_disconnect_stops_transaction(station):
    """TC_005 EV side disconnected. StopTransactionOnEVSideDisconnect: "When set to true, the
    Charge Point SHALL administratively stop the transaction when the cable is unplugged from the
    EV." """
    await station.start()
    await station.booted()
    tid = await start_charging(station)
    await station.plug(plugged=False)
    stop = await station.server.wait_msg("StopTransaction")
    assert stop["reason"] == "EVDisconnected" and stop["transaction_id"] == tid
    await station.server.wait_status(1, "Available")
    await station.fw.wait_log(r"relay connector=1 closed=0")


@ONLY64
async def test_tc010_remote_start_uses_remote_id_tag_cable_plugged_first(station):
    """TC_010 Remote start charging session - cable plugged in first. "If the value of
    AuthorizeRemoteTxRequests is false, the Charge Point SHALL immediately try to start a
    transaction for the idTag given in the RemoteStartTransaction.req message." """
    await station.start()
    await station.booted()
    await start_charging(station, tag="REMOTE1")
    assert station.server.actions("Authorize") == []
    assert station.server.actions("StartTransaction")[0]["id_tag"] == "REMOTE1"


@ONLY64
async def test_tc011_remote_start_first_then_cable(station):
    """TC_011_1 Remote start charging session - remote start first. "Upon receipt, the Charge
    Point SHALL reply with RemoteStartTransaction.conf and a status indicating whether it has
    accepted the request and will attempt to start a transaction." """
    await station.start()
    await station.booted()
    srv = station.server
    assert await station.remote_start("REMOTE2") == "Accepted"
    await srv.wait_status(1, "Preparing")
    assert srv.actions("StartTransaction") == []
    await station.plug()
    await srv.wait_msg("StartTransaction", id_tag="REMOTE2")
    await srv.wait_status(1, "Charging")


async def test_tc011_remote_start_time_out(station):
    """TC_011_2 Remote start charging session - time out. ConnectionTimeOut: "Interval *from
    beginning of status: 'Preparing' until incipient Transaction is automatically canceled"."""
    await station.start(ocpp_keys={"ConnectionTimeOut": 1})
    await station.booted()
    srv = station.server
    assert await station.remote_start("REMOTE3") == "Accepted"
    await srv.wait_status(1, "Preparing")
    await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Available", timeout=5)
    await station.plug()
    await srv.wait_status(1, "Preparing")
    await asyncio.sleep(0.5)
    assert srv.actions("StartTransaction") == []


@ONLY64
async def test_tc012_remote_stop_transaction(station):
    """TC_012 Remote stop charging session. "This remote request to stop a transaction is equal
    to a local action to stop a transaction. Therefore, the transaction SHALL be stopped, The
    Charge Point SHALL send a StopTransaction.req and, if applicable, unlock the connector." """
    await station.start()
    await station.booted()
    tid = await start_charging(station)
    assert await station.remote_stop(tid + 1000) == "Rejected"
    assert await station.remote_stop(tid) == "Accepted"
    stop = await station.server.wait_msg("StopTransaction")
    assert stop["reason"] == "Remote" and stop["transaction_id"] == tid
    assert stop["meter_stop"] >= station.server.actions("StartTransaction")[0]["meter_start"]
    await station.server.wait_status(1, "Finishing")


@ONLY64
async def test_tc013_hard_reset_without_transaction(station):
    """TC_013 Hard reset without transaction. "At receipt of a hard reset the Charge Point SHALL
    restart (all) the hardware" (the unix port exits; the board boots again and sends a new
    BootNotification)."""
    await station.start()
    await station.booted()
    srv = station.server
    assert (await srv.cp.call(call.Reset(type="Hard"))).status == "Accepted"
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    await srv.wait(lambda: len(station.fw.exits) == 1, what="restart")
    await station.fw.wait_log(r"reset type=Hard")
    # A restart asked for, not a crash: main.py caught Reboot by its type.
    await station.fw.wait_log(r"reboot reason=Hard")
    assert station.fw.log_matches(r"\bcrash\b") == []
    await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Available")


@ONLY64
async def test_tc014_soft_reset_without_transaction(station):
    """TC_014 Soft reset without transaction. "At receipt of a soft reset, the Charge Point SHALL
    stop ongoing transactions gracefully and send StopTransaction.req for every ongoing
    transaction. It should then restart the application software" """
    await station.start()
    await station.booted()
    srv = station.server
    assert (await srv.cp.call(call.Reset(type="Soft"))).status == "Accepted"
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    await station.fw.wait_log(r"reset type=Soft")
    await station.fw.wait_log(r"reboot reason=Soft")
    assert station.fw.log_matches(r"\bcrash\b") == []
    assert srv.actions("StopTransaction") == []


@ONLY64
async def test_tc015_soft_reset_with_transaction_stops_it(station):
    """TC_015 Soft reset with transaction. "At receipt of a soft reset, the Charge Point SHALL
    stop ongoing transactions gracefully and send StopTransaction.req for every ongoing
    transaction." """
    await station.start()
    await station.booted()
    tid = await start_charging(station)
    srv = station.server
    assert (await srv.cp.call(call.Reset(type="Soft"))).status == "Accepted"
    stop = await srv.wait_msg("StopTransaction")
    assert stop["reason"] == "SoftReset" and stop["transaction_id"] == tid
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    assert len(srv.actions("StopTransaction")) == 1


@ONLY64
async def test_tc019_retrieve_all_configuration_keys(station):
    """TC_019 Retrieve configuration. "If the list of keys in the request PDU is empty or missing
    (it is optional), the Charge Point SHALL return a list of all configuration settings in
    GetConfiguration.conf." and "Unknown keys SHALL be placed in the optional unknownKey list
    element of GetConfiguration.conf." """
    await station.start()
    await station.booted()
    srv = station.server
    res = await srv.cp.call(call.GetConfiguration())
    keys = {k["key"]: k for k in res.configuration_key}
    for k in ("HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors",
              "SupportedFeatureProfiles", "TransactionMessageAttempts", "ConnectionTimeOut",
              "StopTransactionOnEVSideDisconnect", "MeterValuesSampledData", "ClockAlignedDataInterval"):
        assert k in keys, k
    assert "AuthorizationKey" not in keys
    assert keys["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "1"}
    res = await srv.cp.call(call.GetConfiguration(key=["HeartbeatInterval", "Bogus", "AuthorizationKey"]))
    assert [k["key"] for k in res.configuration_key] == ["HeartbeatInterval"]
    assert res.unknown_key == ["Bogus", "AuthorizationKey"]


@ONLY64
async def test_tc021_change_configuration_persisted(station):
    """TC_021 Change/set configuration. "If the Charge Point did not recognize the key ... it
    SHALL respond with status NotSupported" and a recognized, valid value is Accepted and applied."""
    await station.start()
    await station.booted()
    srv = station.server
    change = srv.cp.call
    assert (await change(call.ChangeConfiguration(key="MeterValueSampleInterval", value="7"))).status == "Accepted"
    assert (await change(call.ChangeConfiguration(key="MeterValueSampleInterval", value="soon"))).status == "Rejected"
    assert (await change(call.ChangeConfiguration(key="NumberOfConnectors", value="4"))).status == "Rejected"
    assert (await change(call.ChangeConfiguration(key="NoSuchKey", value="1"))).status == "NotSupported"
    key = "0123456789abcdef0123456789abcdef"
    assert (await change(call.ChangeConfiguration(key="AuthorizationKey", value=key))).status == "Accepted"
    await srv.wait(lambda: len(srv.cps) > 1, what="the reconnect with the new key")
    res = await srv.cp.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert res.configuration_key[0]["value"] == "7"
    assert key not in "\n".join(station.fw.lines)
    # persisted across a reboot
    await srv.cp.call(call.Reset(type="Hard"))
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    res = await srv.cp.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert res.configuration_key[0]["value"] == "7"
    # the new AuthorizationKey is used for Basic auth on the reconnect
    assert station.server.auth_headers[-1] is not None


@ONLY64
async def test_tc027_remote_start_connector_id_zero_rejected(station):
    """TC_027 Remote start transaction - connectorId 0. RemoteStartTransaction.req connectorId:
    "Optional. Number of the connector on which to start the transaction. connectorId SHALL be > 0" """
    await station.start()
    await station.booted()
    srv = station.server
    res = await srv.cp.call(call.RemoteStartTransaction(id_tag="T0", connector_id=0))
    assert res.status == "Rejected"
    res = await srv.cp.call(call.RemoteStartTransaction(id_tag="T0", connector_id=9))
    assert res.status == "Rejected"
    await asyncio.sleep(0.3)
    assert srv.actions("StartTransaction") == [] and not station.fw.log_matches(r"state=Preparing")


@ONLY64
async def test_tc054_trigger_message(station):
    """TC_054 Trigger message. "The Charge Point SHALL first send the TriggerMessage response,
    before sending the requested message." """
    await station.start(connectors=2)
    await station.booted()
    srv = station.server
    await srv.wait_status(2, "Available")
    n_status = len(srv.actions("StatusNotification"))
    res = await srv.cp.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=1))
    assert res.status == "Accepted"
    await srv.wait(lambda: len(srv.actions("StatusNotification")) > n_status, what="triggered status")
    frames = [json.loads(t) for side, t in srv.frames if side != "open"]
    i_result = max(i for i, f in enumerate(frames) if f[0] == 3 and f[2] == {"status": "Accepted"})
    assert any(f[0] == 2 and f[2] == "StatusNotification" for f in frames[i_result:])
    assert srv.actions("StatusNotification")[-1]["connector_id"] == 1
    assert (await srv.cp.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await srv.wait_msg("Heartbeat")
    res = await srv.cp.call(call.TriggerMessage(requested_message="MeterValues", connector_id=2))
    assert res.status == "Accepted"
    mv = await srv.wait_msg("MeterValues", connector_id=2)
    assert mv["meter_value"][0]["sampled_value"][0]["context"] == "Trigger"
    res = await srv.cp.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
    assert res.status == "Accepted"  # no upload running: Idle (tests/ocpp/test_diagnostics.py)

    def diag_status():
        return [m[3] for m in (json.loads(t) for side, t in srv.frames if side == "cp")
                if m[0] == 2 and m[2] == "DiagnosticsStatusNotification"]
    assert await srv.wait(diag_status, 10, "DiagnosticsStatusNotification") == [{"status": "Idle"}]
    res = await srv.cp.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=5))
    assert res.status == "Rejected"


async def test_tc070_sampled_meter_values_from_transaction_start(station):
    """TC_070 Sampled meter values. MeterValueSampleInterval: "Interval between sampling of
    metering (or other) data, intended to be transmitted by "MeterValues" PDUs. For charging
    session data (ConnectorId>0), samples are acquired and transmitted periodically at this
    interval from the start of the charging transaction." """
    await station.start(ocpp_keys={"MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage",
                                   "StopTxnSampledData": "Energy.Active.Import.Register"})
    await station.booted()
    srv = station.server
    tid = await start_charging(station)
    mvs = [await srv.wait_msg("MeterValues", n=k, transaction_id=tid, timeout=5) for k in (1, 2, 3)]
    for mv in mvs:
        sv = mv["meter_value"][0]["sampled_value"]
        assert {s["measurand"] for s in sv} == {"Energy.Active.Import.Register", "Power.Active.Import",
                                                "Current.Import", "Voltage"}
        assert all(s["context"] == "Sample.Periodic" for s in sv)
    energies = [int(mv["meter_value"][0]["sampled_value"][0]["value"]) for mv in mvs]
    assert energies == sorted(energies) and energies[-1] > energies[0]
    await station.remote_stop(tid)
    stop = await srv.wait_msg("StopTransaction")
    data = stop["transaction_data"]
    assert data[0]["sampled_value"][0]["context"] == "Transaction.Begin"
    assert data[-1]["sampled_value"][0]["context"] == "Transaction.End"
    assert int(data[-1]["sampled_value"][0]["value"]) == stop["meter_stop"]


async def test_clock_aligned_meter_values(station):
    """Clock-aligned data. ClockAlignedDataInterval: "Size (in seconds) of the clock-aligned data
    interval. This is the size (in seconds) of the set of evenly spaced aggregation intervals per
    day, starting at 00:00:00 (midnight)." """
    await station.start(ocpp_keys={"ClockAlignedDataInterval": 2, "MeterValueSampleInterval": 0})
    await station.booted()
    mv = await station.server.wait_msg("MeterValues", timeout=6)
    sv = mv["meter_value"][0]
    assert sv["sampled_value"][0]["context"] == "Sample.Clock"
    assert int(sv["timestamp"][17:19]) % 2 == 0  # on the 2-second grid from midnight


async def test_stop_txn_aligned_data_in_transaction_data(station):
    """StopTxnAlignedData: "Clock-aligned periodic measurand(s) to be included in the
    TransactionData element of StopTransaction.req MeterValues for every ClockAlignedDataInterval
    of the transaction." """
    await station.start(ocpp_keys={"ClockAlignedDataInterval": 1, "MeterValueSampleInterval": 0,
                                   "StopTxnAlignedData": "Energy.Active.Import.Register"})
    await station.booted()
    srv = station.server
    tid = await start_charging(station)
    await srv.wait_msg("MeterValues", n=2, transaction_id=tid, timeout=5)
    await station.remote_stop(tid)
    stop = await srv.wait_msg("StopTransaction")
    contexts = [d["sampled_value"][0]["context"] for d in stop["transaction_data"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert "Sample.Clock" in contexts
