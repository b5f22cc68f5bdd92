"""Issue 12, sections 2-4: payloads the official 1.6 schemas forbid and frames that break the
OCPP-J rules, sent raw by the central system. Each is answered with the CALLERROR its fault
calls for, runs nothing (no relay closes, no transaction starts), and the board answers in
valid UTF-8 (the central system's WebSocket library decodes every text frame: an invalid one
would fail the connection).

RPC framework: "OccurenceConstraintViolation: Payload for Action is syntactically correct but
at least one of the fields violates occurence constraints", "TypeConstraintViolation: Payload
for Action is syntactically correct but at least one of the fields violates data type
constraints (e.g. "somestring": 12)", "PropertyConstraintViolation: Payload is syntactically
correct but at least one field contains an invalid value", "FormationViolation: Payload for
Action is syntactically incorrect or not conform the PDU structure for Action".
"""

from __future__ import annotations

import asyncio
import json

import pytest
from ocpp.v16 import call


def only_64(mp_build):
    # A representative pair of these runs on unix32 too (conftest: keep the 32-bit pass lean).
    if mp_build == "unix32":
        pytest.skip("unix32 subset: payload checks are pointer-size independent; "
                    "test_schema_invalid_remote_starts_close_no_relay and the frame rules run there")


PROFILE = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
           "chargingProfileKind": "Absolute",
           "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.1}]}}


def _profile(**schedule_changes):
    p = json.loads(json.dumps(PROFILE))
    p["chargingSchedule"].update(schedule_changes)
    return p


async def test_schema_invalid_remote_starts_close_no_relay(station):
    """Issue 12 (2): connectorId null, an extra property, a chargingProfile with only a purpose,
    wrong nested types and an unknown kind were all Accepted and closed a relay. RemoteStart-
    Transaction.req: chargingProfile "ChargingProfilePurpose MUST be set to TxProfile"."""
    await station.start()
    await station.booted()
    await station.plug(1)
    srv = station.server
    await srv.wait_status(1, "Preparing")
    bad = [
        ({"idTag": "T1", "connectorId": None}, "TypeConstraintViolation", "connectorId"),
        ({"idTag": "T1", "connectorId": 1, "evil": "<x>"}, "FormationViolation", "property not allowed in payload"),
        ({"idTag": "T1", "chargingProfile": {"chargingProfilePurpose": "TxProfile"}},
         "OccurenceConstraintViolation", "chargingProfile.chargingProfileId"),
        ({"idTag": "T1", "chargingProfile": _profile(chargingSchedulePeriod=[{"startPeriod": "0", "limit": 16}])},
         "TypeConstraintViolation", "chargingProfile.chargingSchedule.chargingSchedulePeriod[0].startPeriod"),
        ({"idTag": "T1", "chargingProfile": _profile(chargingSchedulePeriod={"startPeriod": 0})},
         "TypeConstraintViolation", "chargingProfile.chargingSchedule.chargingSchedulePeriod"),
        ({"idTag": "T1", "chargingProfile": dict(PROFILE, chargingProfileKind="Sometimes")},
         "PropertyConstraintViolation", "chargingProfile.chargingProfileKind"),
        ({"idTag": "T1", "chargingProfile": _profile(chargingSchedulePeriod=[{"startPeriod": 0, "limit": 7.25}])},
         "PropertyConstraintViolation", "chargingProfile.chargingSchedule.chargingSchedulePeriod[0].limit"),
        ({"idTag": "T1", "chargingProfile": dict(PROFILE, validTo="soon")},
         "PropertyConstraintViolation", "chargingProfile.validTo"),
    ]
    for i, (payload, code, where) in enumerate(bad):
        answer = await station.raw(json.dumps([2, f"b{i}", "RemoteStartTransaction", payload]))
        assert answer == [4, f"b{i}", code, where, {}], payload
    await asyncio.sleep(0.5)
    assert not station.fw.log_matches(r"relay connector=1 closed=1")
    assert srv.actions("StartTransaction") == []
    # the same start with a valid TxProfile is accepted and carried out (this firmware has no
    # smart charging: the profile is not applied, see operations/RemoteStartTransaction.py)
    res = await srv.cp.call(call.RemoteStartTransaction(id_tag="T1", connector_id=1, charging_profile=PROFILE))
    assert res.status == "Accepted"
    await station.fw.wait_log(r"relay connector=1 closed=1")
    await srv.wait_msg("StartTransaction", id_tag="T1")


async def test_payloads_the_schemas_forbid_are_refused(station, mp_build):
    """Issue 12 (3): extra properties answered as if valid, `GetConfiguration {"key": null}`
    listing everything, DataTransfer `data` of any type."""
    only_64(mp_build)
    await station.start()
    await station.booted()
    raw = station.raw
    assert await raw('[2, "g1", "GetConfiguration", {"key": null}]') == [4, "g1", "TypeConstraintViolation", "key", {}]
    assert await raw('[2, "g2", "GetConfiguration", {"key": ["HeartbeatInterval", 7]}]') == \
        [4, "g2", "TypeConstraintViolation", "key[1]", {}]
    assert await raw('[2, "d1", "DataTransfer", {"vendorId": "v", "data": {"a": 1}}]') == \
        [4, "d1", "TypeConstraintViolation", "data", {}]
    assert await raw('[2, "d2", "DataTransfer", {"vendorId": "v", "data": "{\\"a\\": 1}"}]') == \
        [3, "d2", {"status": "UnknownVendorId"}]
    for i, (action, payload) in enumerate([
            ("Reset", {"type": "Soft", "when": "now"}), ("ClearCache", {"all": True}),
            ("UnlockConnector", {"connectorId": 1, "force": True}),
            ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative", "x": 1}),
            ("TriggerMessage", {"requestedMessage": "Heartbeat", "x": 1}),
            ("RemoteStopTransaction", {"transactionId": 1, "x": 1})]):
        answer = await raw(json.dumps([2, f"x{i}", action, payload]))
        assert answer[:3] == [4, f"x{i}", "FormationViolation"], (action, answer)
    assert await raw('[2, "n1", "ChangeAvailability", {"connectorId": 1, "type": null}]') == \
        [4, "n1", "TypeConstraintViolation", "type", {}]
    assert await raw('[2, "n2", "Reset", {"type": "Hard", "type2": null}]') == \
        [4, "n2", "FormationViolation", "property not allowed in payload", {}]
    # nothing of those ran: no reset, still available, still answering
    await asyncio.sleep(0.3)
    assert not station.fw.log_matches("reset type")
    res = await station.server.cp.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert res.configuration_key[0]["value"] == "30"


async def test_frame_rules_message_type_and_ids_outside_the_bmp(station):
    """OCPP-J 1.6 4.1.3: "When a server receives a message with a Message Type Number not in
    this list, it SHALL ignore the message payload." (2.0 is no integer, so not CALL) /
    4.1.4: "A message ID for a CALLRESULT or CALLERROR message MUST be equal to that of the
    CALL message it answers." - an id outside the Basic Multilingual Plane, escaped as a
    surrogate pair or sent as it is, comes back exactly. An unknown action with an escaped
    lone surrogate is answered NotImplemented in valid UTF-8 (U+FFFD in its place)."""
    await station.start()
    await station.booted()
    srv = station.server
    cp = srv.cp
    n = len(srv.frames)
    for frame in ('[2.0, "t1", "Reset", {"type": "Hard"}]', '[true, "t2", "Reset", {"type": "Hard"}]',
                  '["2", "t3", "Reset", {"type": "Hard"}]', '[7, "t4", "Reset", {"type": "Hard"}]'):
        await cp._connection.send(frame)
    await asyncio.sleep(1.0)
    assert [t for side, t in srv.frames[n:] if side == "cp" and json.loads(t)[0] in (3, 4)] == []
    assert not station.fw.log_matches("reset type")
    answer = await station.raw('[2, "\\ud83d\\ude00-1", "GetConfiguration", {"key": ["HeartbeatInterval"]}]')
    assert answer[:2] == [3, "\U0001F600-1"]
    answer = await station.raw(json.dumps([2, "\U0001F600\U0001F680", "ClearCache", {}], ensure_ascii=False))
    assert answer == [3, "\U0001F600\U0001F680", {"status": "Accepted"}]
    answer = await station.raw('[2, "s1", "Frob\\udc00nicate", {}]')
    assert answer == [4, "s1", "NotImplemented", "Frob\ufffdnicate", {}]
    answer = await station.raw('[2, "s2\\ud800", "Frobnicate", {}]')
    assert answer[:3] == [4, "s2\ufffd", "NotImplemented"]
    # the connection is still the first one: nothing the board sent failed the UTF-8 check
    assert len(srv.cps) == 1
    res = await cp.call(call.GetConfiguration(key=["HeartbeatInterval"]))
    assert res.configuration_key[0]["value"] == "30"


async def test_start_transaction_answer_breaking_its_schema_is_retried(station, mp_build):
    """A CALLRESULT is an incoming payload too. TransactionMessageRetryInterval: "How long the
    Charge Point should wait before resubmitting a transaction-related message that the Central
    System failed to process." An answer that breaks StartTransactionResponse's schema (a
    transactionId as text) is such a failure: the start is sent again, not lost, and the
    transaction goes on with the id of the valid answer."""
    only_64(mp_build)
    await station.start(ocpp_keys={"TransactionMessageAttempts": 3})
    await station.booted()
    srv = station.server
    rec = srv.cp._connection
    recv, bad = rec.recv, [1]

    async def answer_first_start_badly():
        # Our own answer to the first StartTransaction, before the `ocpp` package (which
        # validates what it sends) sees the CALL.
        while True:
            text = await recv()
            m = json.loads(text)
            if m[0] == 2 and m[2] == "StartTransaction" and bad[0]:
                bad[0] -= 1
                await rec.send(json.dumps([3, m[1], {"idTagInfo": {"status": "Accepted"}, "transactionId": "101"}]))
                continue
            return text

    rec.recv = answer_first_start_badly
    await station.plug()
    await srv.wait_status(1, "Preparing")
    assert await station.remote_start("BADCONF") == "Accepted"
    await station.fw.wait_log(r"ocpp retry action=StartTransaction attempt=1 "
                              r"error=CallError\('TypeConstraintViolation', 'transactionId'\)")
    start = await srv.wait_msg("StartTransaction", id_tag="BADCONF")
    assert bad == [0] and start["connector_id"] == 1
    mv = await srv.wait_msg("MeterValues")
    assert mv["transaction_id"] == srv.next_tx
