"""The operator's charger actions (operator_actions.py) against the real backend under uvicorn,
with a real OCPP 1.6 charge point from the `ocpp` package as the charger.

Plugchoice's operator API (reference/plugchoice-operator-api.md): `actions/start` (connector_id
"integer > 0, optional", id_token "string, required, max 20"), `actions/stop` (transaction_id),
`actions/charge-limit` (connector_id "0 = the charge point level", limit "number, required,
amperes, >= 0", stack_level "optional, default 1"), each answering `{"status": ...}`, "the
charger's answer". One backend and one charger serve the whole module; each test sets the
charger's answers it needs.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import pytest_asyncio
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import call
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action

from host_tools.backend import create_app
from host_tools.backend.config import ChargersFileError, parse_chargers

from .conftest import (
    CHARGERS,
    OPERATOR_AUTH,
    OPERATOR_TOKEN,
    T0,
    FakeClock,
    Server,
    TestChargePoint,
    connect,
    operator_server,
    until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN, AUTH = OPERATOR_TOKEN, OPERATOR_AUTH
ACTIONS = "/api/v3/chargers/{}/actions/"
CALL_TIMEOUT = 0.5


class Charger(TestChargePoint):
    """The charger: per action an answer (a status), "error" (CALLERROR NotSupported), "bad"
    (a status outside the schema) or "hang" (no answer); every CALL it got is kept."""

    __test__ = False

    def __init__(self, identity, ws):
        super().__init__(identity, ws)
        self.answers: dict[str, str] = {}
        self.got: list[tuple[str, dict]] = []

    async def _answer(self, action: str, payload: dict, result_type):
        self.got.append((action, payload))
        answer = self.answers.get(action, "Accepted")
        if answer == "error":
            raise NotSupportedError(description=f"{action} is not built yet")
        if answer == "hang":  # past the backend's call timeout; it answers nothing meanwhile
            await asyncio.sleep(CALL_TIMEOUT * 2)
        return result_type(status="Perhaps" if answer == "bad" else answer)

    @on(Action.remote_start_transaction, skip_schema_validation=True)
    async def on_remote_start(self, **kw):
        return await self._answer("RemoteStartTransaction", kw, result.RemoteStartTransaction)

    @on(Action.remote_stop_transaction, skip_schema_validation=True)
    async def on_remote_stop(self, **kw):
        return await self._answer("RemoteStopTransaction", kw, result.RemoteStopTransaction)

    @on(Action.set_charging_profile, skip_schema_validation=True)
    async def on_set_charging_profile(self, **kw):
        return await self._answer("SetChargingProfile", kw, result.SetChargingProfile)

    @on(Action.reserve_now, skip_schema_validation=True)
    async def on_reserve_now(self, **kw):
        return await self._answer("ReserveNow", kw, result.ReserveNow)

    @on(Action.cancel_reservation, skip_schema_validation=True)
    async def on_cancel_reservation(self, **kw):
        return await self._answer("CancelReservation", kw, result.CancelReservation)

    @on(Action.send_local_list, skip_schema_validation=True)
    async def on_send_local_list(self, **kw):
        return await self._answer("SendLocalList", kw, result.SendLocalList)

    @on(Action.get_local_list_version, skip_schema_validation=True)
    async def on_get_local_list_version(self, **kw):
        # the answer here is the listVersion (7 unless a test says otherwise), or "error"
        self.got.append(("GetLocalListVersion", kw))
        answer = self.answers.get("GetLocalListVersion", 7)
        if answer == "error":
            raise NotSupportedError(description="GetLocalListVersion is not built yet")
        return result.GetLocalListVersion(list_version=answer)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory):
    srv = operator_server(tmp_path_factory.mktemp("ops"), CALL_TIMEOUT)
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cp(server):
    link = await connect(server, charge_point=Charger)
    yield link.cp
    await link.close()


@pytest_asyncio.fixture(loop_scope="module")
async def http(server, cp):
    cp.answers.clear()
    cp.got.clear()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        yield client


async def act(http, action: str, body: object = None, identity: str = "CP-1",
              headers: dict | None = None) -> httpx.Response:
    return await http.post(ACTIONS.format(identity) + action, json=body,
                           headers=AUTH if headers is None else headers)


# --- authentication ---------------------------------------------------------------------------

ALL = [("start", {"id_token": "TECH-1"}), ("stop", {"transaction_id": 5}),
       ("charge-limit", {"connector_id": 1, "limit": 10}),
       ("reserve", {"connector_id": 1, "id_token": "TECH-1", "minutes": 5}),
       ("cancel-reservation", {"reservation_id": 1}),
       ("local-list", {"update_type": "Full", "entries": [{"id_tag": "TECH-1", "status": "Accepted"}]}),
       ("local-list-version", {})]


@pytest.mark.parametrize(("action", "body"), ALL)
async def test_no_token_is_401(http, cp, action, body):
    r = await act(http, action, body, headers={})
    assert r.status_code == 401, r.text
    assert r.json() == {"message": "Unauthenticated."}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert cp.got == []


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer x",
                                    f"Basic {TOKEN}", TOKEN, f"bearer {TOKEN.upper()}"])
async def test_a_wrong_token_is_401_and_never_logged(http, cp, caplog, header):
    with caplog.at_level(logging.INFO, logger="chargerctl.backend"):
        r = await act(http, "charge-limit", {"connector_id": 1, "limit": 10},
                      headers={"Authorization": header})
    assert r.status_code == 401, r.text
    assert r.json()["message"].startswith("Unauthenticated")
    assert cp.got == []
    assert "event=operator.denied" in caplog.text
    assert TOKEN[:8] not in caplog.text and "Bearer" not in caplog.text


async def test_the_right_token_is_let_in_and_never_logged(http, cp, caplog):
    with caplog.at_level(logging.INFO, logger="chargerctl.backend"):
        r = await act(http, "charge-limit", {"connector_id": 1, "limit": 10})
    assert r.status_code == 200, r.text
    assert "event=operator.action identity=CP-1 action=charge-limit answer=Accepted" in caplog.text
    assert TOKEN[:8] not in caplog.text


async def test_without_an_operator_token_the_actions_are_off(tmp_path):
    srv = Server(str(tmp_path / "db"), FakeClock())
    await srv.start()
    try:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for action, body in ALL:
                r = await act(http, action, body)
                assert r.status_code == 403, r.text
                assert "--operator-token" in r.json()["message"]
                assert "operator_token" in r.json()["message"]
    finally:
        await srv.stop()


async def test_the_token_comes_from_the_chargers_file_or_the_flag(tmp_path):
    doc = {**CHARGERS, "operator_token": TOKEN}
    app = create_app(doc, tmp_path / "a.db", clock=FakeClock())
    assert app.state.backend.operator_token == TOKEN
    app = create_app(doc, tmp_path / "b.db", clock=FakeClock(), operator_token="f" * 16)
    assert app.state.backend.operator_token == "f" * 16  # the flag wins
    for bad in ("short", "with a space in it!", 12345678901234567):
        with pytest.raises(ChargersFileError, match="16..256 visible ASCII") as err:
            create_app({**CHARGERS, "operator_token": bad}, tmp_path / "c.db", clock=FakeClock())
        assert str(bad) not in str(err.value)  # a token is never echoed
    with pytest.raises(ChargersFileError):
        create_app(parse_chargers(CHARGERS), tmp_path / "d.db", clock=FakeClock(),
                   operator_token="short")


async def test_the_per_ip_limit_is_429(tmp_path):
    srv = Server(str(tmp_path / "db"), FakeClock(),
                 options={"operator_token": TOKEN, "rate_limits": {"actions": 2}})
    await srv.start()
    try:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            codes = [(await act(http, "stop", {"transaction_id": 1}, identity="CP-PRIV"))
                     for _ in range(3)]
    finally:
        await srv.stop()
    assert [r.status_code for r in codes] == [400, 400, 429]
    assert codes[2].headers["Retry-After"] and codes[0].headers["X-RateLimit-Limit"] == "2"


# --- what reaches the charger -----------------------------------------------------------------

async def test_start_sends_remote_start_with_the_id_token(http, cp):
    r = await act(http, "start", {"connector_id": 2, "id_token": "TECH-1"})
    assert r.status_code == 200 and r.json() == {"status": "Accepted"}
    assert cp.got == [("RemoteStartTransaction", {"id_tag": "TECH-1", "connector_id": 2})]
    cp.got.clear()
    r = await act(http, "start", {"id_token": "TECH-2"})  # the charger picks the connector
    assert r.json() == {"status": "Accepted"}
    assert cp.got == [("RemoteStartTransaction", {"id_tag": "TECH-2"})]


async def test_a_refused_start_vouches_for_nothing(http, cp):
    cp.answers["RemoteStartTransaction"] = "Rejected"
    r = await act(http, "start", {"connector_id": 1, "id_token": "TECH-NO"})
    assert r.json() == {"status": "Rejected"}
    auth = await cp.call(call.Authorize(id_tag="TECH-NO"))
    assert auth.id_tag_info["status"] == "Invalid"
    # nor does it take away the voucher of an earlier, accepted start of the same idTag
    cp.answers["RemoteStartTransaction"] = "Accepted"
    await act(http, "start", {"connector_id": 1, "id_token": "TECH-TWO"})
    cp.answers["RemoteStartTransaction"] = "Rejected"
    await act(http, "start", {"connector_id": 2, "id_token": "TECH-TWO"})
    auth = await cp.call(call.Authorize(id_tag="TECH-TWO"))
    assert auth.id_tag_info["status"] == "Accepted"


async def test_an_operator_start_is_authorized_and_not_stopped(http, cp, server):
    """The idTag of an operator's start is no public session's: the backend still accepts it
    (Authorize, StartTransaction) and does not stop the transaction; another idTag it does."""
    await act(http, "start", {"connector_id": 1, "id_token": "TECH-OK"})
    auth = await cp.call(call.Authorize(id_tag="TECH-OK"))
    assert auth.id_tag_info["status"] == "Accepted"
    started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TECH-OK", meter_start=10,
                                                  timestamp="2026-01-10T01:15:00Z"))
    assert started.id_tag_info["status"] == "Accepted"
    foreign = await cp.call(call.StartTransaction(connector_id=2, id_tag="NOBODY", meter_start=10,
                                                  timestamp="2026-01-10T01:15:01Z"))
    assert foreign.id_tag_info["status"] == "Invalid"
    stops = await until(lambda: _async([p for a, p in cp.got if a == "RemoteStopTransaction"]))
    assert stops == [{"transaction_id": foreign.transaction_id}]  # only the foreign one
    await asyncio.sleep(0.2)
    assert [a for a, _ in cp.got].count("RemoteStopTransaction") == 1
    server.clock.advance(601)  # the start's voucher has run out
    late = await cp.call(call.Authorize(id_tag="TECH-OK"))
    assert late.id_tag_info["status"] == "Invalid"
    server.clock.t = T0


async def _async(value):
    return value


async def test_stop_sends_remote_stop(http, cp):
    cp.answers["RemoteStopTransaction"] = "Rejected"
    r = await act(http, "stop", {"transaction_id": 42})
    assert r.status_code == 200 and r.json() == {"status": "Rejected"}
    assert cp.got == [("RemoteStopTransaction", {"transaction_id": 42})]


@pytest.mark.parametrize(("connector", "purpose"), [(0, "ChargePointMaxProfile"),
                                                    (2, "TxDefaultProfile")])
async def test_charge_limit_sends_one_absolute_period_in_amperes(http, cp, connector, purpose):
    r = await act(http, "charge-limit", {"connector_id": connector, "limit": 6.5})
    assert r.status_code == 200 and r.json() == {"status": "Accepted"}
    [(action, p)] = cp.got
    assert action == "SetChargingProfile" and p["connector_id"] == connector
    profile = p["cs_charging_profiles"]
    assert profile == {
        "charging_profile_id": 1_000_000 + connector * 1000 + 1, "stack_level": 1,
        "charging_profile_purpose": purpose, "charging_profile_kind": "Absolute",
        "charging_schedule": {"start_schedule": "2026-01-10T01:14:32.000Z",
                              "charging_rate_unit": "A",
                              "charging_schedule_period": [{"start_period": 0, "limit": 6.5}]}}


async def test_charge_limit_zero_and_a_stack_level(http, cp):
    """"stackLevel, connectorId, listVersion, limit may be 0: test is None, not truthiness"."""
    cp.answers["SetChargingProfile"] = "Rejected"
    r = await act(http, "charge-limit", {"connector_id": 0, "limit": 0, "stack_level": 0})
    assert r.json() == {"status": "Rejected"}
    profile = cp.got[0][1]["cs_charging_profiles"]
    assert profile["stack_level"] == 0 and profile["charging_profile_id"] == 1_000_000
    assert profile["charging_schedule"]["charging_schedule_period"] == [
        {"start_period": 0, "limit": 0}]


async def test_an_accepted_charge_limit_is_kept_for_the_sessions_view(http, cp, server):
    """The backend keeps the last charge limit the charger accepted per connector and stack
    level (it is on the charger as a TxDefault/ChargePointMax profile); a refused one, or one
    that failed, is not kept."""
    store = server.backend.store

    def kept(connector, stack):
        row = store.one("SELECT limit_a FROM charge_limits WHERE identity = 'CP-1' AND "
                        "connector_id = ? AND stack_level = ?", connector, stack)
        return row and row["limit_a"]

    assert (await act(http, "charge-limit", {"connector_id": 2, "limit": 12, "stack_level": 7})).json() == \
        {"status": "Accepted"}
    assert kept(2, 7) == 12.0
    cp.answers["SetChargingProfile"] = "Rejected"
    await act(http, "charge-limit", {"connector_id": 2, "limit": 0, "stack_level": 7})
    assert kept(2, 7) == 12.0
    cp.answers["SetChargingProfile"] = "error"
    assert (await act(http, "charge-limit", {"connector_id": 2, "limit": 0, "stack_level": 7})).status_code == 502
    assert kept(2, 7) == 12.0
    cp.answers["SetChargingProfile"] = "Accepted"
    await act(http, "charge-limit", {"connector_id": 2, "limit": 0, "stack_level": 7})
    assert kept(2, 7) == 0.0  # 0 A is a limit (SuspendedEVSE), not "none"
    assert store.charge_limit("CP-1", 2) == 0.0


async def test_charge_limit_of_a_connector_follows_the_profile_rules(tmp_path):
    """ocpp16-profiles.md: "Limit(t) = min(ChargePointMax(t), TxProfile(t) if any else
    TxDefault(t)). Per purpose the highest stackLevel valid at t wins"."""
    from host_tools.backend.store import Store

    store = Store(tmp_path / "db")
    assert store.charge_limit("CP-1", 1) is None
    store.set_charge_limit("CP-1", 1, 1, 16.0, T0)
    assert store.charge_limit("CP-1", 1) == 16.0 and store.charge_limit("CP-1", 2) is None
    store.set_charge_limit("CP-1", 1, 0, 6.0, T0)  # a lower stack level: the level 1 one rules
    assert store.charge_limit("CP-1", 1) == 16.0
    store.set_charge_limit("CP-1", 1, 2, 20.0, T0)  # a higher one rules, though higher in A
    assert store.charge_limit("CP-1", 1) == 20.0
    store.set_charge_limit("CP-1", 0, 1, 10.0, T0)  # the charge point's caps every connector
    assert store.charge_limit("CP-1", 1) == 10.0 and store.charge_limit("CP-1", 2) == 10.0
    store.set_charge_limit("CP-1", 0, 1, 32.0, T0)  # replaced at the same place
    assert store.charge_limit("CP-1", 1) == 20.0
    assert store.charge_limit("CP-2", 1) is None  # per charger
    store.close()


async def test_reserve_assigns_ids_and_sends_the_expiry(http, cp, server):
    r1 = await act(http, "reserve", {"connector_id": 0, "id_token": "TECH-R", "minutes": 30})
    r2 = await act(http, "reserve", {"connector_id": 1, "id_token": "TECH-R",
                                     "expires_at": "2026-01-10T02:00:00+00:00"})
    assert r1.status_code == r2.status_code == 200, r1.text + r2.text
    a, b = r1.json(), r2.json()
    assert a["status"] == "Accepted" and b["reservation_id"] == a["reservation_id"] + 1
    assert a["expires_at"] == "2026-01-10T01:44:32.000000Z"
    assert b["expires_at"] == "2026-01-10T02:00:00.000000Z"
    assert cp.got[0] == ("ReserveNow", {"connector_id": 0, "expiry_date": "2026-01-10T01:44:32.000Z",
                                        "id_tag": "TECH-R", "reservation_id": a["reservation_id"]})
    cp.answers["ReserveNow"] = "Occupied"
    r3 = await act(http, "reserve", {"connector_id": 1, "id_token": "TECH-R", "minutes": 1,
                                     "reservation_id": 77})
    assert r3.json()["status"] == "Occupied" and r3.json()["reservation_id"] == 77
    assert cp.got[-1][1]["reservation_id"] == 77
    # the reserved idTag is accepted at this charger (the owner arrives and swipes) ...
    auth = await cp.call(call.Authorize(id_tag="TECH-R"))
    assert auth.id_tag_info["status"] == "Accepted"
    # ... until its reservations are cancelled: one still holds it, then none
    r4 = await act(http, "cancel-reservation", {"reservation_id": b["reservation_id"]})
    assert r4.status_code == 200 and r4.json() == {"status": "Accepted"}
    assert cp.got[-1] == ("CancelReservation", {"reservation_id": b["reservation_id"]})
    auth = await cp.call(call.Authorize(id_tag="TECH-R"))
    assert auth.id_tag_info["status"] == "Accepted"
    await act(http, "cancel-reservation", {"reservation_id": a["reservation_id"]})
    auth = await cp.call(call.Authorize(id_tag="TECH-R"))
    assert auth.id_tag_info["status"] == "Invalid"


async def test_a_refused_replacement_keeps_the_reservation_it_would_replace(http, cp, server):
    """The charger keeps a reservation whose replacement it refused (OCPP 1.6: a known
    reservationId is replaced only by an Accepted ReserveNow): so does the backend, and its
    idTag stays vouched for; a reservation_id held for another charger is refused (409)."""
    store = server.app.state.backend.store
    r1 = await act(http, "reserve", {"connector_id": 1, "id_token": "KEEP-1", "minutes": 30,
                                     "reservation_id": 600})
    assert r1.json()["status"] == "Accepted"
    cp.answers["ReserveNow"] = "Occupied"
    r2 = await act(http, "reserve", {"connector_id": 1, "id_token": "OTHER-2", "minutes": 30,
                                     "reservation_id": 600})
    assert r2.status_code == 200 and r2.json()["status"] == "Occupied"
    row = store.one("SELECT id_tag, status FROM reservations WHERE id = 600")
    assert row == {"id_tag": "KEEP-1", "status": "Accepted"}
    auth = await cp.call(call.Authorize(id_tag="KEEP-1"))
    assert auth.id_tag_info["status"] == "Accepted"
    cp.answers.clear()
    store.insert("reservations", id=601, identity="CP-ELSEWHERE", connector_id=1, id_tag="X",
                 expiry=0.0, created_at=0.0)
    n = len(cp.got)
    r3 = await act(http, "reserve", {"connector_id": 1, "id_token": "T", "minutes": 5,
                                     "reservation_id": 601})
    assert r3.status_code == 409 and "CP-ELSEWHERE" in r3.json()["message"], r3.text
    assert len(cp.got) == n  # nothing reached the charger
    await act(http, "cancel-reservation", {"reservation_id": 600})


async def test_cancel_of_an_unknown_reservation_is_the_chargers_rejected(http, cp):
    cp.answers["CancelReservation"] = "Rejected"
    r = await act(http, "cancel-reservation", {"reservation_id": 999})
    assert r.status_code == 200 and r.json() == {"status": "Rejected"}


async def test_local_list_sends_the_entries_with_their_id_tag_info(http, cp):
    r = await act(http, "local-list", {"list_version": 3, "update_type": "Full", "entries": [
        {"id_tag": "TECH-1", "status": "Accepted", "expiry_date": "2027-01-10T15:30:00+01:00",
         "parent_id_tag": "FLEET"},
        {"id_tag": "LOST-2", "status": "Blocked"}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "Accepted", "list_version": 3}
    assert cp.got == [("SendLocalList", {
        "list_version": 3, "update_type": "Full", "local_authorization_list": [
            {"id_tag": "TECH-1", "id_tag_info": {"status": "Accepted",
                                                 "expiry_date": "2027-01-10T14:30:00.000Z",
                                                 "parent_id_tag": "FLEET"}},
            {"id_tag": "LOST-2", "id_tag_info": {"status": "Blocked"}}]})]


async def test_local_list_without_a_version_sends_the_chargers_next(http, cp):
    r = await act(http, "local-list", {"update_type": "Differential",
                                       "entries": [{"id_tag": "GONE-3"}]})
    assert r.status_code == 200 and r.json() == {"status": "Accepted", "list_version": 8}
    assert cp.got == [("GetLocalListVersion", {}), ("SendLocalList", {
        "list_version": 8, "update_type": "Differential",
        "local_authorization_list": [{"id_tag": "GONE-3"}]})]  # no idTagInfo: deleted
    cp.got.clear()
    cp.answers.update({"GetLocalListVersion": -1, "SendLocalList": "NotSupported"})
    r = await act(http, "local-list", {"update_type": "Full"})  # no entries: an empty list
    assert r.status_code == 200 and r.json() == {"status": "NotSupported", "list_version": 1}
    assert cp.got[1] == ("SendLocalList", {"list_version": 1, "update_type": "Full",
                                           "local_authorization_list": []})


@pytest.mark.parametrize("status", ["Failed", "VersionMismatch"])
async def test_a_refused_local_list_is_the_chargers_word(http, cp, status):
    cp.answers["SendLocalList"] = status
    r = await act(http, "local-list", {"list_version": 2, "update_type": "Full", "entries": []})
    assert r.status_code == 200 and r.json() == {"status": status, "list_version": 2}


async def test_local_list_version_reads_the_chargers(http, cp):
    r = await act(http, "local-list-version", {})
    assert r.status_code == 200 and r.json() == {"list_version": 7}
    cp.answers["GetLocalListVersion"] = 0
    r = await act(http, "local-list-version")  # no body at all
    assert r.status_code == 200 and r.json() == {"list_version": 0}


# --- when the charger does not answer with a status -------------------------------------------

@pytest.mark.parametrize(("action", "body"), ALL)
async def test_a_callerror_is_502_naming_its_code(http, cp, action, body):
    for name in ("RemoteStartTransaction", "RemoteStopTransaction", "SetChargingProfile",
                 "ReserveNow", "CancelReservation", "SendLocalList", "GetLocalListVersion"):
        cp.answers[name] = "error"
    r = await act(http, action, body)
    assert r.status_code == 502, r.text
    err = r.json()
    assert "with the error NotSupported" in err["message"] and "not built yet" in err["message"]
    assert err["ocpp_error"]["code"] == "NotSupported" and err["ocpp_error"]["from_charger"]


async def test_an_answer_outside_the_schema_is_502(http, cp):
    cp.answers["SetChargingProfile"] = "bad"
    r = await act(http, "charge-limit", {"connector_id": 1, "limit": 16})
    assert r.status_code == 502, r.text
    assert "breaks the OCPP 1.6 schema" in r.json()["message"]
    assert r.json()["ocpp_error"]["from_charger"] is False


async def test_no_answer_in_time_is_504(http, cp):
    cp.answers["ReserveNow"] = "hang"
    r = await act(http, "reserve", {"connector_id": 1, "id_token": "T", "minutes": 5})
    assert r.status_code == 504, r.text
    assert f"did not answer within {CALL_TIMEOUT:g} s" in r.json()["message"]
    await asyncio.sleep(CALL_TIMEOUT * 1.5)  # its late answer arrives and is dropped
    cp.answers.clear()
    r = await act(http, "charge-limit", {"connector_id": 1, "limit": 16})
    assert r.status_code == 200, r.text  # the connection still works


@pytest.mark.parametrize(("action", "body"), ALL)
async def test_an_offline_charger_is_400(http, action, body):
    r = await act(http, action, body, identity="CP-PRIV")  # in the chargers file, not connected
    assert r.status_code == 400, r.text
    assert r.json() == {"message": "The charger CP-PRIV is offline: it has no OCPP connection "
                                   "to this backend."}


async def test_an_unknown_charger_is_404(http):
    r = await act(http, "start", {"id_token": "T"}, identity="ABC123")  # a public code
    assert r.status_code == 404
    assert r.json() == {"message": "No charger with identity 'ABC123' in this backend's chargers "
                                   "file."}


# --- every field's bad case -------------------------------------------------------------------

BAD = [
    ("start", {}, "id_token", "The id token field is required."),
    ("start", {"id_token": 7}, "id_token", "The id token field must be a string."),
    ("start", {"id_token": "X" * 21}, "id_token",
     "The id token field must not be greater than 20 characters."),
    ("start", {"id_token": "caf\u00e9"}, "id_token",
     "The id token field must contain printable ASCII characters only (an OCPP idTag)."),
    ("start", {"id_token": "T", "connector_id": 0}, "connector_id",
     "The connector id field must be between 1 and 100."),
    ("start", {"id_token": "T", "connector_id": 3}, "connector_id",
     "The selected connector id is invalid: this charger has 2 connector(s)."),
    ("start", {"id_token": "T", "connector_id": "1"}, "connector_id",
     "The connector id field must be an integer."),
    ("start", {"id_token": "T", "connector_id": True}, "connector_id",
     "The connector id field must be an integer."),
    ("stop", {}, "transaction_id", "The transaction id field is required."),
    ("stop", {"transaction_id": 1.5}, "transaction_id",
     "The transaction id field must be an integer."),
    ("stop", {"transaction_id": -1}, "transaction_id",
     "The transaction id field must be between 0 and 2147483647."),
    ("charge-limit", {"limit": 6}, "connector_id", "The connector id field is required."),
    ("charge-limit", {"connector_id": -1, "limit": 6}, "connector_id",
     "The connector id field must be between 0 and 100."),
    ("charge-limit", {"connector_id": 1}, "limit", "The limit field is required."),
    ("charge-limit", {"connector_id": 1, "limit": "6"}, "limit", "The limit field must be a number."),
    ("charge-limit", {"connector_id": 1, "limit": -0.1}, "limit",
     "The limit field must be between 0 and 1000 (amperes)."),
    ("charge-limit", {"connector_id": 1, "limit": 1e300}, "limit",
     "The limit field must be between 0 and 1000 (amperes)."),
    ("charge-limit", {"connector_id": 1, "limit": 6.25}, "limit",
     "The limit field must have 0-1 decimal places."),
    ("charge-limit", {"connector_id": 1, "limit": 6, "stack_level": -1}, "stack_level",
     "The stack level field must be between 0 and 100."),
    ("charge-limit", {"connector_id": 1, "limit": 6, "stack_level": "high"}, "stack_level",
     "The stack level field must be an integer."),
    ("reserve", {"id_token": "T", "minutes": 5}, "connector_id",
     "The connector id field is required."),
    ("reserve", {"connector_id": 1, "minutes": 5}, "id_token", "The id token field is required."),
    ("reserve", {"connector_id": 1, "id_token": "T"}, "expires_at",
     "The expires at field is required when minutes is not present."),
    ("reserve", {"connector_id": 1, "id_token": "T", "minutes": 5,
                 "expires_at": "2026-01-10T02:00:00Z"}, "expires_at",
     "The expires at field prohibits minutes from being present."),
    ("reserve", {"connector_id": 1, "id_token": "T", "expires_at": "tomorrow"}, "expires_at",
     "The expires at field must be a date and time with its offset, e.g. 2026-01-10T14:30:00Z."),
    ("reserve", {"connector_id": 1, "id_token": "T", "expires_at": "2026-01-10T02:00:00"},
     "expires_at",
     "The expires at field must be a date and time with its offset, e.g. 2026-01-10T14:30:00Z."),
    ("reserve", {"connector_id": 1, "id_token": "T", "expires_at": "2026-01-10T01:00:00Z"},
     "expires_at", "The expires at field must be a date after now and at most 24 hours ahead."),
    ("reserve", {"connector_id": 1, "id_token": "T", "expires_at": "2026-01-12T01:00:00Z"},
     "expires_at", "The expires at field must be a date after now and at most 24 hours ahead."),
    ("reserve", {"connector_id": 1, "id_token": "T", "minutes": 0}, "minutes",
     "The minutes field must be between 1 and 1440."),
    ("reserve", {"connector_id": 1, "id_token": "T", "minutes": 5, "reservation_id": "r"},
     "reservation_id", "The reservation id field must be an integer."),
    ("cancel-reservation", {}, "reservation_id", "The reservation id field is required."),
    ("local-list", {"entries": []}, "update_type", "The update type field is required."),
    ("local-list", {"update_type": "full"}, "update_type",
     "The selected update type is invalid: Full or Differential."),
    ("local-list", {"update_type": "Full", "list_version": 0}, "list_version",
     "The list version field must be between 1 and 2147483647."),
    ("local-list", {"update_type": "Full", "list_version": "2"}, "list_version",
     "The list version field must be an integer."),
    ("local-list", {"update_type": "Full", "entries": {"id_tag": "A"}}, "entries",
     "The entries field must be an array."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A", "status": "Accepted"}] * 501},
     "entries", "The entries field must not have more than 500 items."),
    ("local-list", {"update_type": "Full", "entries": ["A"]}, "entries.0",
     "The entries.0 field must be an object."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A", "status": "Accepted", "x": 1}]},
     "entries.0", "The entries.0 field has unknown fields: x."),
    ("local-list", {"update_type": "Full", "entries": [{"status": "Accepted"}]}, "entries.0.id_tag",
     "The entries.0.id_tag field must be a string."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "X" * 21, "status": "Accepted"}]},
     "entries.0.id_tag", "The entries.0.id_tag field must not be greater than 20 characters."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A", "status": "Accepted"},
                                                       {"id_tag": "a", "status": "Blocked"}]},
     "entries.1.id_tag", "The entries.1.id_tag field is entries.0's idTag again (idTags compare "
                         "case-insensitively)."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A"}]}, "entries.0.status",
     "The entries.0.status field is required in a Full update (in a Differential one, no status "
     "deletes the idTag)."),
    ("local-list", {"update_type": "Differential", "entries": [{"id_tag": "A", "parent_id_tag": "P"}]},
     "entries.0.status", "The entries.0.status field is required with expiry_date or parent_id_tag."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A", "status": "Maybe"}]},
     "entries.0.status", "The selected entries.0.status is invalid: one of Accepted, Blocked, "
                         "Expired, Invalid, ConcurrentTx."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A", "status": "Accepted",
                                                        "expiry_date": "2027-01-01T00:00:00"}]},
     "entries.0.expiry_date", "The entries.0.expiry_date field must be a date and time with its "
                              "offset, e.g. 2027-01-10T14:30:00Z."),
    ("local-list", {"update_type": "Full", "entries": [{"id_tag": "A", "status": "Accepted",
                                                        "parent_id_tag": "caf\u00e9"}]},
     "entries.0.parent_id_tag", "The entries.0.parent_id_tag field must contain printable ASCII "
                                "characters only (an OCPP idTag)."),
    ("cancel-reservation", {"reservation_id": 2**31}, "reservation_id",
     "The reservation id field must be between 0 and 2147483647."),
]


@pytest.mark.parametrize(("action", "body", "field", "sentence"), BAD,
                         ids=[f"{a}-{f}-{i}" for i, (a, _, f, _) in enumerate(BAD)])
async def test_a_bad_field_is_422_with_its_sentence(http, cp, action, body, field, sentence):
    r = await act(http, action, body)
    assert r.status_code == 422, r.text
    assert r.json() == {"message": "The given data was invalid.", "errors": {field: [sentence]}}
    assert cp.got == []  # nothing reached the charger


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"a string"'])
async def test_a_body_that_is_no_object_is_422(http, cp, raw):
    r = await http.post(ACTIONS.format("CP-1") + "start", content=raw,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"] == {"id_token": ["The id token field is required."]}


async def test_the_openapi_document_has_the_actions_with_bearer_auth(tmp_path):
    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
    doc = app.openapi()
    assert doc["components"]["securitySchemes"]["operatorToken"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]
        ["operatorToken"]["description"]}
    for action in ("start", "stop", "charge-limit", "reserve", "cancel-reservation", "local-list",
                   "local-list-version"):
        op = doc["paths"][f"/api/v3/chargers/{{identity}}/actions/{action}"]["post"]
        assert op["security"] == [{"operatorToken": []}]
        assert {"200", "400", "401", "403", "404", "422", "429", "502", "504"} <= set(op["responses"])
        assert op["requestBody"]["required"] is True
