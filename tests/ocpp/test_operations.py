"""Operations and error paths over the wire: CALLERROR codes, ChangeAvailability, faults,
reconnect, Basic auth, and the small core operations (UnlockConnector, ClearCache,
DataTransfer)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from ocpp.v16 import call

from tests.ocpp.test_core_profile import start_charging

# On unix32 run the cases with time in them (MinimumStatusDuration, the Heartbeat's clock) and the
# random payloads; the others are control flow (conftest).
ONLY64 = pytest.mark.unix64_only("an operation's control flow: the 32-bit pass keeps the timed, clock and random-payload cases")


@ONLY64
async def test_callerror_codes_use_16_spellings(station):
    """RPC framework: "NotImplemented: Requested Action is not known by receiver",
    "NotSupported: Requested Action is recognized but not supported by the receiver",
    "FormationViolation: Payload for Action is syntactically incorrect or not conform the PDU
    structure for Action", "TypeConstraintViolation", "PropertyConstraintViolation",
    "OccurenceConstraintViolation" for payloads that break the PDU's field rules."""
    await station.start()
    await station.booted()
    raw = station.raw
    assert (await raw('[2, "e1", "Frobnicate", {}]'))[:3] == [4, "e1", "NotImplemented"]
    assert (await raw('[2, "e2", "GetDiagnostics", {}]'))[:3] == [4, "e2", "NotSupported"]
    assert (await raw('[2, "e3", "Heartbeat"'))[2] == "FormationViolation"
    assert (await raw('[2, "e4", "Reset", []]'))[2] == "FormationViolation"
    long_id = "x" * 37
    assert (await raw(json.dumps([2, long_id, "Reset", {"type": "Soft"}])))[2] == "FormationViolation"
    assert (await raw('[2, "e5", "RemoteStartTransaction", {"idTag": 5}]'))[:3] == [4, "e5", "TypeConstraintViolation"]
    assert (await raw('[2, "e6", "RemoteStartTransaction", {}]'))[:3] == [4, "e6", "OccurenceConstraintViolation"]
    too_long = json.dumps([2, "e7", "RemoteStartTransaction", {"idTag": "X" * 21}])
    assert (await raw(too_long))[:3] == [4, "e7", "PropertyConstraintViolation"]
    assert (await raw('[2, "e8", "Reset", {"type": "Warm"}]'))[:3] == [4, "e8", "PropertyConstraintViolation"]
    answer = await raw('[2, "e9", "ChangeAvailability", {"connectorId": "1", "type": "Operative"}]')
    assert answer[:3] == [4, "e9", "TypeConstraintViolation"] and answer[4] == {}
    # still alive and answering after all that
    res = await station.server.cp.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert res.configuration_key[0]["value"] == "30"
    assert not station.fw.log_matches("reset type")


@ONLY64
async def test_change_availability_persisted_and_scheduled(station):
    """ChangeAvailability: "In the event that Central System requests Charge Point to change to a
    status it is already in, Charge Point SHALL respond with availability status 'Accepted'." /
    "When a transaction is in progress Charge Point SHALL respond with availability status
    'Scheduled' to indicate that it is scheduled to occur after the transaction has finished." /
    "The persistent states: for example: Available, Unavailable" survive a reboot."""
    await station.start(connectors=2)
    await station.booted()
    srv = station.server
    res = await srv.cp.call(call.ChangeAvailability(connector_id=2, type="Inoperative"))
    assert res.status == "Accepted"
    await srv.wait_status(2, "Unavailable")
    # Available before it only if the sender got to it first (a state not yet sent is replaced
    # by the next): counted, not assumed
    available = len([kw for kw in srv.actions("StatusNotification")
                     if kw.get("connector_id") == 2 and kw.get("status") == "Available"])
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=2, type="Inoperative"))).status == "Accepted"
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=3, type="Inoperative"))).status == "Rejected"
    tid = await start_charging(station, connector=1)
    res = await srv.cp.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert res.status == "Scheduled"
    await srv.wait_status(0, "Unavailable")
    await station.remote_stop(tid)
    await srv.wait_msg("StopTransaction")
    await srv.wait_status(1, "Unavailable")
    # persisted: after a reboot the connectors come back Unavailable
    await srv.cp.call(call.Reset(type="Hard"))
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    await srv.wait_msg("StatusNotification", n=2, connector_id=2, status="Unavailable")
    await srv.wait_msg("StatusNotification", n=2, connector_id=0, status="Unavailable")
    res = await srv.cp.call(call.RemoteStartTransaction(id_tag="X", connector_id=2))
    assert res.status == "Rejected"
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=0, type="Operative"))).status == "Accepted"
    await srv.wait_msg("StatusNotification", n=available + 1, connector_id=2, status="Available")


@ONLY64
async def test_welded_relay_faults_one_connector_others_keep_working(station):
    """StatusNotification errorCode: "OtherError: Other type of error. More information in
    vendorErrorCode." A relay whose contacts stay closed after it was opened (welded) faults its
    connector with info "relay welded"; the other connector keeps working."""
    await station.start(connectors=2)
    await station.booted()
    srv = station.server
    tid = await start_charging(station, connector=1)
    await station.sim(cmd="fault", connector=1, fault="welded")
    assert await station.remote_stop(tid) == "Accepted"
    await srv.wait_msg("StopTransaction", transaction_id=tid)
    faulted = await srv.wait_status(1, "Faulted")
    assert faulted["error_code"] == "OtherError" and faulted["info"] == "relay welded"
    await start_charging(station, tag="TAG2", connector=2)
    await station.sim(cmd="fault", connector=1, fault=None)
    await srv.wait_msg("StatusNotification", connector_id=1, status="Finishing")


@ONLY64
async def test_meter_lost_is_power_meter_failure(station):
    """StatusNotification errorCode: "PowerMeterFailure: Failure to read electrical/energy/power
    meter." A meter that stops answering is reported, not read as zero."""
    await station.start()
    await station.booted()
    srv = station.server
    await station.sim(cmd="fault", connector=1, fault="meter_lost")
    st = await srv.wait_status(1, "Faulted")
    assert st["error_code"] == "PowerMeterFailure"
    assert (await station.remote_start("X")) == "Rejected"
    await station.sim(cmd="fault", connector=1, fault=None)
    await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Available")


@ONLY64
async def test_reconnect_does_not_repeat_boot_and_uses_basic_auth(station):
    """"Do not resend BootNotification on reconnect unless its fields changed"; Basic auth with
    user = identity and password = AuthorizationKey on every (re)connect."""
    station.write_config()
    cfg = json.loads((station.tmp / "config.json").read_text())
    cfg["authorization_key"] = "secret-key-0123456789"
    (station.tmp / "config.json").write_text(json.dumps(cfg))
    srv = station.server
    await srv.start()
    await station.fw.start()
    await station.booted()
    await srv.wait_status(1, "Available")
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug()  # a change while offline is reported after the reconnect
    await asyncio.sleep(0.3)
    await srv.start()
    await srv.wait_status(1, "Preparing", timeout=10)
    assert len(srv.actions("BootNotification")) == 1
    expected = "Basic " + base64.b64encode(b"CP-1:secret-key-0123456789").decode()
    assert srv.auth_headers == [expected, expected]
    assert "secret-key-0123456789" not in "\n".join(station.fw.lines)


async def test_minimum_status_duration_suppresses_short_states(station):
    """MinimumStatusDuration: "Number of seconds the status of a connector must persist before
    the Charge Point sends a StatusNotification.req." A plug-in shorter than that is not reported."""
    await station.start(ocpp_keys={"MinimumStatusDuration": 1})
    await station.booted()
    srv = station.server
    await srv.wait_status(1, "Available", timeout=5)
    await station.plug()
    await station.fw.wait_log(r"state=Preparing")
    await station.plug(plugged=False)
    await station.fw.wait_log(r"status connector=1 state=Available", n=2)
    await asyncio.sleep(1.3)
    assert [s["status"] for s in srv.actions("StatusNotification") if s["connector_id"] == 1] == ["Available"]
    await station.plug()
    await srv.wait_status(1, "Preparing", timeout=5)


async def test_unlock_clear_cache_data_transfer_heartbeat_clock(station):
    """UnlockConnector: "...the Charge Point SHALL first stop the transaction" (reason
    UnlockCommand); ClearCache: "the Charge Point SHALL respond with ClearCache.conf"; DataTransfer:
    "If the recipient of the request has no implementation for the specific vendorId it SHALL
    return a status 'UnknownVendor'" (UnknownVendorId in the 1.6 schema); Heartbeat at
    HeartbeatInterval."""
    station.server.boot_interval = 1  # BootNotification.conf interval is the heartbeat interval
    await station.start()
    await station.booted()
    srv = station.server
    await srv.wait_msg("Heartbeat", timeout=5)
    tid = await start_charging(station)
    assert (await srv.cp.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    stop = await srv.wait_msg("StopTransaction")
    assert stop["reason"] == "UnlockCommand" and stop["transaction_id"] == tid
    assert (await srv.cp.call(call.UnlockConnector(connector_id=4))).status == "UnlockFailed"
    assert (await srv.cp.call(call.ClearCache())).status == "Accepted"
    res = await srv.cp.call(call.DataTransfer(vendor_id="com.example", message_id="x", data="y"))
    assert res.status == "UnknownVendorId"


@ONLY64
async def test_callerror_answer_does_not_drop_the_connection(station):
    """"A message that cannot be processed gets a CALLERROR" - on the charge point's side a
    CALLERROR answer to its own StatusNotification is logged and the session goes on."""
    station.server.fail_status = 2
    await station.start()
    await station.booted()
    srv = station.server
    await station.fw.wait_log(r"ocpp call failed error=CallError")
    await station.plug()
    await srv.wait_status(1, "Preparing")
    assert len(srv.cps) == 1 and not station.fw.log_matches("ocpp disconnected")


@ONLY64
async def test_invalid_id_in_start_transaction_conf_stops_or_suspends(station):
    """StopTransactionOnInvalidId: "whether the Charge Point will stop an ongoing transaction when
    it receives a non- Accepted authorization status in a StartTransaction.conf for this
    transaction" - true: stop with reason DeAuthorized; false: the EVSE withholds energy
    (SuspendedEVSE)."""
    station.server.invalid_tags = {"BADTAG", "BADTAG2"}
    await station.start(connectors=2)
    await station.booted()
    srv = station.server
    await station.plug(1)
    assert await station.remote_start("BADTAG", 1) == "Accepted"
    stop = await srv.wait_msg("StopTransaction")
    assert stop["reason"] == "DeAuthorized" and stop["transaction_id"] == srv.next_tx
    await srv.cp.call(call.ChangeConfiguration(key="StopTransactionOnInvalidId", value="false"))
    await station.plug(2)
    assert await station.remote_start("BADTAG2", 2) == "Accepted"
    await srv.wait_status(2, "SuspendedEVSE")
    assert len(srv.actions("StopTransaction")) == 1
    state = await station.sim(cmd="state")
    assert state["connectors"][1]["relay_closed"] is False


async def test_random_payloads_never_crash_the_charge_point(station):
    """"A message that cannot be processed gets a CALLERROR, never silence and never a crash":
    every known action with payloads of wrong shapes, types and values (seeded, reproducible)."""
    import random

    rnd = random.Random(1606)
    actions = ["RemoteStartTransaction", "RemoteStopTransaction", "ChangeAvailability",
               "ChangeConfiguration", "GetConfiguration", "UnlockConnector", "TriggerMessage",
               "DataTransfer", "ClearCache", "Bogus"]
    keys = ["idTag", "connectorId", "transactionId", "type", "key", "value", "requestedMessage",
            "vendorId", "chargingProfile"]
    values = [None, 0, -1, 1, 2**40, 1.5, True, "", "x" * 600, "Operative", "HeartbeatInterval",
              [], [1, "a"], {}, {"chargingProfilePurpose": 5}]
    await station.start(connectors=2)
    await station.booted()
    for n in range(60):
        payload = {rnd.choice(keys): rnd.choice(values) for _ in range(rnd.randint(0, 4))}
        answer = await station.raw(json.dumps([2, f"f{n}", rnd.choice(actions), payload]))
        assert answer[1] == f"f{n}" and answer[0] in (3, 4), answer
        if answer[0] == 4:
            assert answer[2] in ("NotImplemented", "TypeConstraintViolation", "PropertyConstraintViolation",
                                 "OccurenceConstraintViolation", "FormationViolation"), answer
    res = await station.server.cp.call(call.GetConfiguration(key=["NumberOfConnectors"]))
    assert res.configuration_key[0]["value"] == "2"
