"""The operator's actions end to end: `chargerctl charger ...` -> the backend's operator API
(Bearer token) -> OCPP -> the real firmware on a virtual board, and back.

Plugchoice's operator API (reference/plugchoice-operator-api.md): `actions/start` becomes
RemoteStartTransaction, `actions/stop` RemoteStopTransaction, `actions/charge-limit`
SetChargingProfile; each answers "the charger's answer". Reservations are ours in the same
style (ReserveNow, CancelReservation; reference/ocpp16-profiles.md section 2).
"""

from __future__ import annotations

import json
import re

import httpx
import pytest
from click.testing import CliRunner

from host_tools import driver
from tests.e2e.conftest import (
    E2E_OCPP,
    FAST_LIMITS,
    POLL_S,
    ROOT,
    Db,
    assert_settled,
    board_tail,
    connector_status,
    persisted_register,
    ready_connector,
    start_charging,
    wait_until,
)

TOKEN = "e2e-operator-token-0123456789"
# The meter's power and the current offered in every sample: the live view shows both.
SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Offered"
RIG = {"code": "OPS42",
       "backend_args": [*FAST_LIMITS, "--rate-limit", "actions=6000", "--operator-token", TOKEN],
       "config": {"ocpp": {**E2E_OCPP, "MeterValuesSampledData": SAMPLED}}}
ID_TAG = "TECH-E2E"


def _route(action: str) -> str:
    """How the firmware's route table holds `action`: `no` until its profile is built."""
    table = (ROOT / "firmware" / "evse" / "ocpp" / "operations" / "__init__.py").read_text()
    m = re.search(rf'"\\n{action} (\w+)', table)
    return m.group(1) if m else "missing"


def charger(rig, args: str):
    from host_tools.cli import main

    sub, *rest = args.split()
    argv = ["charger", sub, "--charger", rig.identity, "--api", rig.api, "--token", TOKEN, *rest]
    return CliRunner(mix_stderr=False).invoke(main, argv, catch_exceptions=False)


def _transactions(rig, id_tag: str) -> list[dict]:
    return Db(rig).rows("SELECT * FROM transactions WHERE id_tag = ? ORDER BY id", id_tag)


def test_start_then_stop_on_the_virtual_board(rig):
    """The firmware starts a transaction for the operator's idTag (EV plugged in), the backend
    accepts it without a public session and does not stop it; `stop` ends it (Remote)."""
    with rig.client() as client:
        ready_connector(rig, client)
        result = charger(rig, f"start --connector 1 --id-token {ID_TAG}")
        assert result.exit_code == 0, result.stderr + board_tail(rig)
        assert "answered Accepted" in result.stdout
        tx = wait_until(lambda: _transactions(rig, ID_TAG), 15, "StartTransaction of the "
                        "operator's idTag", detail=lambda: board_tail(rig))[0]
        wait_until(lambda: rig.connector_state(1)["relay_closed"], 10, "relay closed",
                   detail=lambda: board_tail(rig))
        wait_until(lambda: connector_status(rig, client) == "Charging", 10, "connector Charging")
        # charging goes on: nobody stops the operator's transaction (2 meter samples' time)
        wait_until(lambda: len(Db(rig).rows("SELECT id FROM meter_values WHERE transaction_id = ?",
                                            tx["id"])) >= 2, 10, "meter values of the transaction")
        assert Db(rig).transaction(tx["id"])["meter_stop"] is None
        assert rig.connector_state(1)["relay_closed"]

        result = charger(rig, f"stop --transaction {tx['id']} --json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout) == {"status": "Accepted"}
        done = wait_until(lambda: (t := Db(rig).transaction(tx["id"]))["meter_stop"] is not None
                          and t, 15, "StopTransaction", detail=lambda: board_tail(rig))
        assert done["stop_reason"] == "Remote" and done["meter_stop"] >= done["meter_start"]
        assert rig.connector_state(1)["relay_closed"] is False
        # a second stop: the charger no longer has that transaction
        result = charger(rig, f"stop --transaction {tx['id']}")
        assert result.exit_code == 28 and "answered Rejected" in result.stderr


def test_charge_limit_reaches_the_firmware(rig):
    """Until the firmware has smart charging it answers SetChargingProfile with the CALLERROR
    NotSupported ("Action of a profile not built: CALLERROR NotSupported"), which the command
    names (exit 28); with it, Accepted."""
    result = charger(rig, "limit --connector 1 --amps 10")
    if _route("SetChargingProfile") == "no":
        assert result.exit_code == 28, result.stderr
        assert "answered SetChargingProfile with the error NotSupported" in result.stderr
    else:
        assert result.exit_code == 0, result.stderr + board_tail(rig)
        assert "connector 1 is limited to 10 A" in result.stdout


@pytest.mark.skipif(_route("ReserveNow") == "no", reason="the firmware has no reservations yet")
def test_reserve_holds_the_connector_against_a_public_session_until_cancelled(rig):
    """"Accepted on N -> StatusNotification(N, Reserved)"; a public session there is refused
    with the state in plain words; "Cancel known id -> Accepted, Available"."""
    with rig.client() as client:
        ready_connector(rig, client)  # a finished transaction before: start from a fresh plug
        rig.sim({"cmd": "plug", "connector": 1, "plugged": False})
        wait_until(lambda: connector_status(rig, client) == "Available", 10, "Available")
        result = charger(rig, f"reserve --connector 1 --id-token {ID_TAG} --minutes 10 --json")
        assert result.exit_code == 0, result.stderr + board_tail(rig)
        answer = json.loads(result.stdout)
        assert answer["status"] == "Accepted" and answer["reservation_id"] >= 1
        wait_until(lambda: connector_status(rig, client) == "Reserved", 10, "connector Reserved",
                   detail=lambda: board_tail(rig))
        with pytest.raises(driver.ConnectorUnavailable) as refused:
            client.start(rig.code, 1)
        assert refused.value.connector_status == "Reserved"
        assert "is Reserved: it is reserved for another driver" in refused.value.message

        result = charger(rig, f"cancel-reservation --reservation {answer['reservation_id']}")
        assert result.exit_code == 0, result.stderr
        wait_until(lambda: connector_status(rig, client) == "Available", 10,
                   "connector Available after the cancel", detail=lambda: board_tail(rig))
        result = charger(rig, f"cancel-reservation --reservation {answer['reservation_id']}")
        assert result.exit_code == 28 and "answered Rejected" in result.stderr  # TC_052
        rig.sim({"cmd": "plug", "connector": 1, "plugged": True})


@pytest.mark.skipif(_route("ReserveNow") == "no", reason="the firmware has no reservations yet")
def test_the_reserved_idtag_starts_and_ends_the_reservation(rig):
    """"Only the idTag ... may start; others refused"; "That StartTransaction carries
    reservationId and ends it (Reserved -> Preparing)"."""
    with rig.client() as client:
        ready_connector(rig, client)
        rig.sim({"cmd": "plug", "connector": 1, "plugged": False})
        wait_until(lambda: connector_status(rig, client) == "Available", 10, "Available")
        result = charger(rig, f"reserve --connector 1 --id-token {ID_TAG} --minutes 10 --json")
        assert result.exit_code == 0, result.stderr + board_tail(rig)
        rid = json.loads(result.stdout)["reservation_id"]
        wait_until(lambda: connector_status(rig, client) == "Reserved", 10, "connector Reserved")
        result = charger(rig, "start --connector 1 --id-token SOMEONE-ELSE")
        assert result.exit_code == 28 and "answered Rejected" in result.stderr, result.stderr
        rig.sim({"cmd": "plug", "connector": 1, "plugged": True})
        before = len(_transactions(rig, ID_TAG))
        result = charger(rig, f"start --connector 1 --id-token {ID_TAG}")
        assert result.exit_code == 0, result.stderr + board_tail(rig)
        tx = wait_until(lambda: _transactions(rig, ID_TAG)[before:], 15, "StartTransaction",
                        detail=lambda: board_tail(rig))[0]
        wait_until(lambda: connector_status(rig, client) == "Charging", 10, "connector Charging")
        frames = httpx.get(f"{rig.api}/operator/chargers/{rig.identity}/ocpp-log",
                           params={"limit": 500}, timeout=10).json()["data"]
        start = [f["payload"] for f in frames if f["action"] == "StartTransaction"
                 and f["type"] == "CALL" and f["payload"]["idTag"] == ID_TAG][-1]
        assert start.get("reservationId") == rid, start
        result = charger(rig, f"stop --transaction {tx['id']}")
        assert result.exit_code == 0, result.stderr
        wait_until(lambda: Db(rig).transaction(tx["id"])["meter_stop"] is not None, 15,
                   "StopTransaction", detail=lambda: board_tail(rig))


def local_list(rig, args: list[str]):
    from host_tools.cli import main

    sub, *rest = args
    argv = ["charger", "local-list", sub, "--charger", rig.identity, "--api", rig.api,
            "--token", TOKEN, *rest]
    return CliRunner(mix_stderr=False).invoke(main, argv, catch_exceptions=False)


def test_local_list_push_and_version_on_the_virtual_board(rig, tmp_path):
    """`chargerctl charger local-list`: SendLocalList and GetLocalListVersion (reference/
    ocpp16-profiles.md section 3) with the real firmware. "Version: ... 0 empty, else stored";
    a push without --version sends the charger's next; a Differential one not above the
    charger's is VersionMismatch and one over SendLocalListMaxLength Failed (exit 28, the
    charger's no); a bad file is named by its line and nothing is sent (exit 22)."""
    if _route("SendLocalList") == "no":
        pytest.skip("the firmware has no LocalAuthListManagement yet")
    result = local_list(rig, ["version", "--json"])
    assert result.exit_code == 0, result.stderr + board_tail(rig)
    start = json.loads(result.stdout)["list_version"]
    assert start >= 0
    cards = tmp_path / "cards.csv"
    cards.write_text("id_tag,status,expiry_date,parent_id_tag\n# the bench\nTECH-01,Accepted,,\n"
                     "LOST-02,Blocked,,\nFLEET-03,Accepted,2030-06-30T23:59:59Z,FLEET\n")
    result = local_list(rig, ["push", str(cards)])
    assert result.exit_code == 0, result.stderr + board_tail(rig)
    assert f"Full list of 3 entries is version {start + 1} now" in result.stdout
    changes = tmp_path / "changes.json"
    changes.write_text(json.dumps([{"id_tag": "LOST-02"}, {"id_tag": "NEW-04", "status": "Accepted"}]))
    result = local_list(rig, ["push", "--differential", str(changes), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "Accepted", "list_version": start + 2}
    result = local_list(rig, ["version"])
    assert result.exit_code == 0 and f"local list version {start + 2}" in result.stdout

    sent = rig.board.console_text().count("local list version=")
    bad = tmp_path / "bad.csv"
    bad.write_text("id_tag,status\nOK-1,Accepted\nBAD-2,Maybe\n")
    result = local_list(rig, ["push", str(bad)])
    assert result.exit_code == 22, result.stdout + result.stderr
    assert "line 3 (status): The selected status is invalid" in result.stderr
    assert "nothing was sent" in result.stderr

    result = local_list(rig, ["push", "--differential", "--version", str(start + 2), str(changes)])
    assert result.exit_code == 28 and "VersionMismatch" in result.stderr, result.stderr
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"id_tag": f"T{i}", "status": "Accepted"} for i in range(33)]))
    result = local_list(rig, ["push", str(many), "--json"])
    assert result.exit_code == 28, result.stdout + result.stderr
    assert json.loads(result.stdout)["answer"]["status"] == "Failed"
    result = local_list(rig, ["version", "--json"])
    assert json.loads(result.stdout) == {"list_version": start + 2}  # untouched by both
    # the bad file reached nothing: two more SendLocalList on the board (mismatch, failed)
    assert rig.board.console_text().count("local list version=") == sent + 2


@pytest.mark.skipif(_route("SetChargingProfile") == "no",
                    reason="the firmware answers SetChargingProfile NotSupported until the "
                           "SmartCharging profile is built (route table: SetChargingProfile no); "
                           "the part from Port.offer down is proven by tests/firmware/test_offer.py")
def test_charge_limit_mid_session_lowers_suspends_and_resumes_a_public_session(rig):
    """Issue 13: "a public session on the virtual board, charge-limit to 6 A mid-session, the
    meter's power falls accordingly, 0 A suspends, 16 A resumes; receipt energy matches."
    Pilot (IEC 61851-1): "below 6 A (0 too): no PWM, contactor open, SuspendedEVSE". The
    simulated EV draws min(7.4 kW, A x 230 V) on the virtual board's one phase."""
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)

        def limit(amps):
            result = charger(rig, f"limit --connector 1 --amps {amps}")
            assert result.exit_code == 0, result.stderr + board_tail(rig)
            assert f"connector 1 is limited to {amps:g} A" in result.stdout

        def view():
            return client.session(token)[0]

        def power(watts):  # the meter's power on the board, then in the backend's live view
            wait_until(lambda: rig.connector_state(1)["power_w"] == watts, 10,
                       f"the simulated meter at {watts} W", detail=lambda: board_tail(rig))
            wait_until(lambda: view()["power_w"] == watts, 10, f"the session's power at {watts} W",
                       interval=POLL_S, detail=lambda: str(view()))

        limit(32)  # the module's earlier limit out of the way: the hardware's maximum
        power(7360)
        limit(6)
        power(1380)
        wait_until(lambda: view()["current_offered_a"] == 6.0, 10, "6 A offered in the live view",
                   interval=POLL_S, detail=lambda: str(view()))
        assert view()["charge_limit_a"] == 6.0 and view()["status"] == "charging"

        limit(0)
        wait_until(lambda: connector_status(rig, client) == "SuspendedEVSE", 10,
                   "connector SuspendedEVSE", detail=lambda: board_tail(rig))
        state = rig.connector_state(1)
        assert state["relay_closed"] is False and state["power_w"] == 0
        wait_until(lambda: view()["current_offered_a"] == 0.0, 10, "0 A offered in the live view",
                   interval=POLL_S, detail=lambda: str(view()))
        s = view()
        assert s["status"] == "charging" and s["charge_limit_a"] == 0.0  # the session goes on
        held = rig.connector_state(1)["energy_wh"]
        tx_id = Db(rig).session(token)["transaction_id"]
        wait_until(lambda: len(Db(rig).rows("SELECT id FROM meter_values WHERE transaction_id = ? "
                                            "AND measurand = 'Current.Offered' AND value = '0.0'",
                                            tx_id)) >= 2, 10, "two samples while suspended")
        assert rig.connector_state(1)["energy_wh"] == held  # nothing flows while suspended

        limit(16)
        wait_until(lambda: connector_status(rig, client) == "Charging", 10,
                   "connector Charging again", detail=lambda: board_tail(rig))
        power(3680)
        assert rig.connector_state(1)["relay_closed"] is True

        client.stop(token)
        s, tx = assert_settled(rig, client, token)  # energy = meterStop - meterStart, cost
        assert tx["stop_reason"] == "Remote"
        # the receipt's energy is the meter's: its register when the transaction ended
        assert abs(persisted_register(rig) - tx["meter_stop"]) < 1, (persisted_register(rig), tx)
        limit(32)  # leave the charger unlimited for whatever runs next
