# The charge point's operations and persistent state inside MicroPython, on the simulated board,
# without a network: payload checks, answers, availability and power-loss recovery in flash.
import asyncio
import os

from evse import RelayStuck
from evse.hal.sim import build
from evse.ocpp import rpc
from evse.ocpp.chargepoint import ChargePoint
from evse.ocpp import iso, parse_iso
from evse.ocpp.journal import Journal
from evse.ocpp.operations import Authorize
from evse.ocpp.rpc import CallError
from evse.files import save_json
from evse.ocpp.settings import Settings
from flashdir import done, flash

BOARD = {"name": "unix-sim", "platform": "unix", "display": {},
         "connectors": [{"relay": {"type": "sim"}, "meter": {"type": "sim"}, "plug": {"type": "sim"}}] * 2}


def charge_point(plugged=False, keys=None):
    board = build(BOARD, {"sim": {"ev_plugged": plugged}, "connectors": 2})
    cp = ChargePoint(Settings(keys, 2), board.outlets, Journal("data/journal.log"),
                     {"chargePointVendor": "V", "chargePointModel": "M"})
    cp.reg = "Accepted"
    return cp


def call(cp, action, payload):
    return asyncio.run(cp.dispatch(action, payload))


def code_of(cp, action, payload):
    try:
        call(cp, action, payload)
    except CallError as e:
        return e.code
    return None


def test_iso_round_trip_and_offsets():
    assert parse_iso("1970-01-01T00:00:00Z") == 0
    assert parse_iso("2026-11-26T00:33:07.123Z") == 1795653187
    assert parse_iso("2026-11-26T02:33:07+02:00") == 1795653187
    assert parse_iso("2024-02-29T12:00:00Z") == 1709208000
    assert parse_iso("garbage") is None and parse_iso("") is None
    assert iso(1795653187) == "2026-11-26T00:33:07Z"


def test_unknown_and_unsupported_actions():
    d = flash()
    cp = charge_point()
    assert code_of(cp, "Frobnicate", {}) == rpc.NOT_IMPLEMENTED
    assert code_of(cp, "UpdateFirmware", {}) == rpc.OCCURENCE  # supported: its schema first
    assert code_of(cp, "GetDiagnostics", {}) == rpc.NOT_SUPPORTED
    done(d)


def test_remote_start_checks():
    d = flash()
    cp = charge_point(plugged=True)
    asyncio.run(cp.poll())
    assert code_of(cp, "RemoteStartTransaction", {}) == rpc.OCCURENCE
    assert code_of(cp, "RemoteStartTransaction", {"idTag": 7}) == rpc.TYPE
    assert code_of(cp, "RemoteStartTransaction", {"idTag": "X" * 21}) == rpc.PROPERTY
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 0}) == {"status": "Rejected"}
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 3}) == {"status": "Rejected"}
    prof = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "chargingProfile": prof}) == {"status": "Rejected"}
    # schema-invalid payloads are refused before the operation runs (issue 12)
    assert code_of(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": None}) == rpc.TYPE
    assert code_of(cp, "RemoteStartTransaction", {"idTag": "A", "x": 1}) == "FormationViolation"
    assert code_of(cp, "RemoteStartTransaction",
                   {"idTag": "A", "chargingProfile": {"chargingProfilePurpose": "TxProfile"}}) == rpc.OCCURENCE
    assert not cp.port(1).machine.tx and not cp.port(1).outlet.relay.is_closed
    cp.reg = "Pending"
    assert call(cp, "RemoteStartTransaction", {"idTag": "A"}) == {"status": "Rejected"}
    cp.reg = "Accepted"
    assert call(cp, "RemoteStartTransaction", {"idTag": "A"}) == {"status": "Accepted"}
    assert cp.port(1).machine.tx and cp.port(1).outlet.relay.is_closed  # plugged: started at once
    assert cp.journal.peek()[1] == "StartTransaction"
    assert call(cp, "RemoteStartTransaction", {"idTag": "B", "connectorId": 1}) == {"status": "Rejected"}
    assert call(cp, "RemoteStartTransaction", {"idTag": "B"}) == {"status": "Accepted"}
    assert cp.port(2).machine.tx  # no connector given: the free one
    done(d)


def test_failed_start_bookkeeping_leaves_the_relay_open():
    # STYLE: keep the relay open until the bookkeeping that backs a transaction has succeeded.
    d = flash()
    cp = charge_point(plugged=True)
    asyncio.run(cp.poll())
    append = cp.journal.append

    def flash_full(action, payload):
        raise OSError(28)  # ENOSPC: the StartTransaction cannot be journaled

    cp.journal.append = flash_full
    try:
        call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1})
        raised = None
    except OSError as e:
        raised = e  # the RPC layer answers it InternalError, not Accepted
    port = cp.port(1)
    assert raised is not None and raised.args[0] == 28
    assert not port.outlet.relay.is_closed and port.tx is None and not port.machine.tx
    assert port.machine.id_tag is None  # the start is cancelled, not left pending
    try:
        os.stat("data/tx1.json")
        left = True
    except OSError:
        left = False
    assert not left  # no open transaction for a PowerLoss stop to report after a reboot
    cp.journal.append = append
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1}) == {"status": "Accepted"}
    assert port.outlet.relay.is_closed and port.tx is not None
    done(d)


def test_remote_start_with_authorize_remote_tx_requests_queues_authorize():
    d = flash()
    cp = charge_point(plugged=True, keys={"AuthorizeRemoteTxRequests": True})
    asyncio.run(cp.poll())
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 2}) == {"status": "Accepted"}
    assert cp.authorization.queue == [(2, "A")] and not cp.port(2).machine.tx
    done(d)


def test_remote_stop_needs_known_transaction():
    d = flash()
    cp = charge_point(plugged=True)
    asyncio.run(cp.poll())
    call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1})
    assert call(cp, "RemoteStopTransaction", {"transactionId": 5}) == {"status": "Rejected"}
    cp.transactions.ids[str(cp.port(1).tx["r"])] = 5  # StartTransaction.conf arrived
    assert call(cp, "RemoteStopTransaction", {"transactionId": 5}) == {"status": "Accepted"}
    assert not cp.port(1).machine.tx and not cp.port(1).outlet.relay.is_closed
    assert code_of(cp, "RemoteStopTransaction", {}) == rpc.OCCURENCE
    done(d)


def test_change_availability_persists():
    d = flash()
    cp = charge_point()
    assert call(cp, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == {"status": "Accepted"}
    assert code_of(cp, "ChangeAvailability", {"connectorId": 2, "type": "Off"}) == rpc.PROPERTY
    assert call(cp, "ChangeAvailability", {"connectorId": 7, "type": "Operative"}) == {"status": "Rejected"}
    cp2 = charge_point()
    assert cp2.port(2).machine.state == "Unavailable" and cp2.port(1).machine.state == "Available"
    done(d)


def test_power_loss_recovery_stops_open_transaction():
    d = flash()
    save_json("data/tx2.json", {"r": 7, "tag": "T", "s": 10, "m": 1234.5, "mt": 1795653187})
    cp = charge_point()
    seq, action, p = cp.journal.peek()
    assert action == "StopTransaction" and p["reason"] == "PowerLoss"
    assert p["meterStop"] == 1234 and p["timestamp"] == "2026-11-26T00:33:07Z" and p["_r"] == 7
    assert len(cp.journal) == 1
    cp = charge_point()  # recovered once: the file is gone
    assert len(cp.journal) == 1
    done(d)


def test_configuration_handlers():
    d = flash()
    cp = charge_point()
    res = call(cp, "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert res == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
                   "unknownKey": ["Nope"]}
    assert code_of(cp, "GetConfiguration", {"key": [5]}) == rpc.TYPE
    assert code_of(cp, "ChangeConfiguration", {"key": "HeartbeatInterval"}) == rpc.OCCURENCE
    assert call(cp, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "10"}) == {"status": "Accepted"}
    assert cp.settings["HeartbeatInterval"] == 10
    assert call(cp, "DataTransfer", {"vendorId": "x"}) == {"status": "UnknownVendorId"}
    assert call(cp, "ClearCache", {}) == {"status": "Accepted"}
    assert call(cp, "Reset", {"type": "Soft"}) == {"status": "Accepted"} and cp.reset[0] == "Soft"
    assert call(cp, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
    assert cp.triggers == [("Heartbeat", None)]
    done(d)


def test_offline_authorization_rules():
    d = flash()
    cp = charge_point(plugged=True, keys={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False})
    asyncio.run(cp.poll())
    cp.reg = None  # offline
    auth = cp.authorization
    assert not Authorize.present(cp, 1, "UNKNOWN")
    auth.remember("KNOWN", {"status": "Accepted"})
    auth.remember("BLOCKED", {"status": "Blocked"})
    assert not Authorize.present(cp, 1, "BLOCKED")
    assert Authorize.present(cp, 1, "KNOWN") and cp.port(1).machine.tx
    assert call(cp, "ClearCache", {}) == {"status": "Accepted"}
    assert not Authorize.present(cp, 1, "BLOCKED") and not Authorize.present(cp, 2, "KNOWN")
    done(d)


def test_boot_answer_interval_is_bounded():
    # A central system's interval of any size: the Pending/Rejected wait adds it to ticks_ms,
    # which overflows on 32 bits past 2**29 ms; a day at most (HeartbeatInterval's greatest).
    import time
    d = flash()
    try:
        cp = charge_point()
        cp.reg = None
        boot = cp.operation("BootNotification")
        now = "2026-01-01T00:00:00Z"
        for big in (10 ** 15, 2 ** 40, 86401):
            status, interval = boot.accept(cp, {"status": "Pending", "interval": big, "currentTime": now})
            assert (status, interval) == ("Pending", 86400)
            time.ticks_add(time.ticks_ms(), interval * 1000)  # what BootNotification.answered does with it: no OverflowError
        assert cp.reg is None
        assert boot.accept(cp, {"status": "Accepted", "interval": 2 ** 40, "currentTime": now}) == ("Accepted", 86400)
        assert cp.settings["HeartbeatInterval"] == 86400
        assert boot.accept(cp, {"status": "Rejected", "interval": -5, "currentTime": now}) == ("Rejected", 0)
    finally:
        done(d)


def test_a_relay_that_will_not_open_faults_the_connector_and_is_raised_on():
    # trip(): the relay opens first; a driver that fails to open it leaves the connector Faulted
    # (no transaction goes on) and the error goes on up, past the hardware loop, to main.py's
    # crash guard (every relay, a restart).
    d = flash()
    try:
        cp = charge_point(plugged=True)
        port = cp.port(1)
        relay = port.outlet.relay

        def stuck():
            raise OSError("relay driver")

        relay.open = stuck
        try:
            port.trip(ValueError("meter"))
        except RelayStuck as e:
            assert str(e.args[0]) == "relay driver"
        else:
            raise AssertionError("a relay that will not open was not raised on")
        assert port.machine.state == "Faulted" and port.machine.error == "InternalError"
    finally:
        done(d)
