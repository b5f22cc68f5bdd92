"""`chargerctl charger`: the operator's actions through the real local backend (a `chargerctl
backend` subprocess with an operator token) to a charge point of the `ocpp` package; the
human and --json output, and every exit code the command documents. One backend and one
charger serve the module.
"""

from __future__ import annotations

import json
import shlex
import time

import pytest
from click.testing import CliRunner

from host_tools.bench_rig import LocalBackend, bench_charger
from host_tools.exits import Exit
from tests.driver.conftest import ROOT
from tests.driver.ocpp_peer import OcppPeer

TOKEN = "cli-operator-token-0123456789"


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    chargers = [bench_charger("CP-OPS", "OPS1", connectors=2), bench_charger("CP-OFF", "OFF1")]
    with LocalBackend(tmp_path_factory.mktemp("ops"), chargers,
                      extra_args=["--operator-token", TOKEN, "--call-timeout", "1"]) as b:
        yield b


@pytest.fixture(scope="module")
def peer(backend):
    with OcppPeer(backend.ws_url, "CP-OPS", connectors=2) as cp:
        yield cp


@pytest.fixture
def cp(peer):
    peer.answers.clear()
    peer.calls.clear()
    peer.refuse_start = peer.refuse_stop = False
    return peer


@pytest.fixture
def run(backend, monkeypatch):
    monkeypatch.setenv("CHARGERCTL_OPERATOR_TOKEN", TOKEN)

    def invoke(args: str, charger: str = "CP-OPS"):
        from host_tools.cli import main

        sub, *rest = shlex.split(args)
        argv = ["charger", sub, "--charger", charger, "--api", backend.api, *rest]
        return CliRunner(mix_stderr=False).invoke(main, argv, catch_exceptions=False)

    return invoke


def _answer(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_start_then_stop_a_transaction(run, cp):
    result = run("start --connector 1 --id-token TECH-01")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == ("CP-OPS answered Accepted: a transaction for TECH-01 starts "
                                     "on connector 1 once an EV is plugged in.")
    deadline = time.monotonic() + 5
    while 1 not in cp.tx and time.monotonic() < deadline:
        time.sleep(0.05)
    tx = cp.tx[1]  # the peer started it; the backend accepted the operator's idTag
    time.sleep(0.3)
    assert cp.tx.get(1) == tx  # and did not stop it as a transaction nobody pays for
    result = run(f"stop --transaction {tx} --json")
    assert result.exit_code == 0, result.stderr
    assert _answer(result) == {"status": "Accepted"}


def test_a_refused_start_is_exit_28_and_says_why(run, cp):
    cp.refuse_start = True
    result = run("start --id-token TECH-01")
    assert result.exit_code == Exit.CHARGER_REFUSED == 28
    assert "CP-OPS answered Rejected: the connector is busy" in result.stderr
    result = run("start --id-token TECH-01 --json")
    assert result.exit_code == 28
    body = _answer(result)
    assert body["exit_code"] == 28 and body["answer"] == {"status": "Rejected"}


def test_stop_of_an_unknown_transaction_is_exit_28(run, cp):
    result = run("stop --transaction 999999")
    assert result.exit_code == 28
    assert "answered Rejected: it has no transaction with that id" in result.stderr


def test_limit(run, cp):
    result = run("limit --connector 1 --amps 10")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == ("CP-OPS answered Accepted: connector 1 is limited to 10 A "
                                     "(stack level 1).")
    action, payload = cp.calls[-1]
    assert action == "SetChargingProfile" and payload["connector_id"] == 1
    period = payload["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"]
    assert period == [{"start_period": 0, "limit": 10}]
    result = run("limit --connector 0 --amps 0 --stack-level 3 --json")
    assert result.exit_code == 0 and _answer(result) == {"status": "Accepted"}
    profile = cp.calls[-1][1]["cs_charging_profiles"]
    assert profile["charging_profile_purpose"] == "ChargePointMaxProfile"
    assert profile["stack_level"] == 3


def test_limit_on_a_charger_without_smart_charging_is_exit_28_naming_the_error(run, cp):
    cp.answers["SetChargingProfile"] = "error"
    result = run("limit --connector 1 --amps 10")
    assert result.exit_code == 28
    assert "answered SetChargingProfile with the error NotSupported" in result.stderr
    result = run("limit --connector 1 --amps 10 --json")
    body = _answer(result)
    assert body["http_status"] == 502 and body["answer"]["ocpp_error"]["code"] == "NotSupported"


def test_limit_with_a_bad_value_is_exit_22(run, cp):
    result = run("limit --connector 1 --amps 6.25")
    assert result.exit_code == Exit.UNPROCESSABLE == 22
    assert "limit: The limit field must have 0-1 decimal places." in result.stderr
    result = run("limit --connector 3 --amps 6")
    assert result.exit_code == 22
    assert "this charger has 2 connector(s)" in result.stderr
    assert cp.calls == []


def test_reserve_and_cancel(run, cp):
    result = run("reserve --connector 2 --id-token TECH-01 --minutes 30")
    assert result.exit_code == 0, result.stderr
    assert "CP-OPS answered Accepted: reservation " in result.stdout
    assert " holds connector 2 for TECH-01 until 20" in result.stdout
    result = run("reserve --connector 0 --id-token TECH-01 --until 2099-01-01T00:00:00Z --json")
    assert result.exit_code == 22  # more than 24 hours ahead
    result = run("reserve --connector 2 --id-token TECH-01 --minutes 5 --reservation 40 --json")
    body = _answer(result)
    assert body["status"] == "Accepted" and body["reservation_id"] == 40
    assert cp.calls[-1] == ("ReserveNow", {"connector_id": 2, "expiry_date": cp.calls[-1][1]
                                           ["expiry_date"], "id_tag": "TECH-01",
                                           "reservation_id": 40})
    result = run("cancel-reservation --reservation 40")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "CP-OPS answered Accepted: reservation 40 is cancelled."
    cp.answers["CancelReservation"] = "Rejected"
    result = run("cancel-reservation --reservation 40")
    assert result.exit_code == 28
    assert "it has no reservation with that id" in result.stderr


def test_reserve_occupied_is_exit_28(run, cp):
    cp.answers["ReserveNow"] = "Occupied"
    result = run("reserve --connector 1 --id-token TECH-01 --minutes 5")
    assert result.exit_code == 28
    assert "answered Occupied: the connector is in use" in result.stderr


def test_reserve_needs_minutes_or_until(run, cp):
    result = run("reserve --connector 1 --id-token TECH-01")
    assert result.exit_code == Exit.USAGE
    assert "Give --minutes or --until" in result.stderr
    result = run("reserve --connector 1 --id-token TECH-01 --until nextweek")
    assert result.exit_code == Exit.USAGE and "not a date and time" in result.stderr


def test_token_missing_or_wrong(run, cp, monkeypatch):
    monkeypatch.delenv("CHARGERCTL_OPERATOR_TOKEN")
    result = run("limit --connector 1 --amps 10")
    assert result.exit_code == Exit.USAGE
    assert "No operator token: give --token or set CHARGERCTL_OPERATOR_TOKEN" in result.stderr
    result = run("limit --connector 1 --amps 10 --token wrong-token-0123456789 --json")
    assert result.exit_code == Exit.UNAUTHORIZED == 29
    assert _answer(result)["http_status"] == 401
    assert "the operator token is wrong" in result.stderr
    assert TOKEN not in result.stderr + result.stdout
    assert cp.calls == []


def test_unknown_charger_is_exit_20(run):
    result = run("start --id-token T", charger="OPS1")  # the public code, not the identity
    assert result.exit_code == Exit.NOT_FOUND == 20
    assert "Use the charge point identity" in result.stderr


def test_offline_charger_is_exit_21(run):
    result = run("limit --connector 1 --amps 10", charger="CP-OFF")
    assert result.exit_code == Exit.REFUSED == 21
    assert "The charger CP-OFF is offline" in result.stderr


def test_no_answer_in_time_is_exit_21(run, cp):
    cp.answers["CancelReservation"] = "hang"
    cp.hang_s = 1.3  # past the backend's --call-timeout 1
    result = run("cancel-reservation --reservation 1")
    assert result.exit_code == 21
    assert "did not answer within 1 s" in result.stderr
    time.sleep(0.5)  # until the charge point is back (it answered late, to nobody)


def test_unreachable_api_is_exit_25(run):
    from host_tools.cli import main

    result = CliRunner(mix_stderr=False).invoke(main, [
        "charger", "start", "--charger", "CP-OPS", "--id-token", "T",
        "--api", "http://127.0.0.1:9/api/v3"])
    assert result.exit_code == Exit.NETWORK == 25
    assert "Cannot reach the API" in result.stderr


def test_operator_actions_off_is_exit_29(tmp_path):
    from host_tools.cli import main

    with LocalBackend(tmp_path / "b", [bench_charger("CP-X", "X1")]) as b:
        result = CliRunner(mix_stderr=False).invoke(main, [
            "charger", "start", "--charger", "CP-X", "--id-token", "T", "--api", b.api,
            "--token", TOKEN])
    assert result.exit_code == 29
    assert "operator actions are off" in result.stderr



def test_the_readme_examples_are_valid_command_lines():
    """Every `chargerctl charger ...` line of the README's section parses (options exist, values
    in range), so the examples cannot drift from the command."""
    from host_tools.cli import main

    text = (ROOT / "README.md").read_text()
    section = text.split("## Operator actions: `chargerctl charger`", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("#", 1)[0].split() for line in section.splitlines()
             if line.startswith("chargerctl charger ")]
    assert {argv[2] for argv in lines} == {"start", "stop", "limit", "reserve",
                                           "cancel-reservation", "local-list", "certificates"}
    for argv in lines:
        group = main.get_command(None, "charger")
        command = group.get_command(None, argv[2])
        args = argv[3:]
        if argv[2] in ("local-list", "certificates"):  # a group: its sub-command
            command = command.get_command(None, argv[3])
            args = argv[4:]
        with command.make_context(argv[2], args + ["--token", TOKEN]) as ctx:
            assert ctx.params["identity"] == "CP-1", argv


def test_the_backend_takes_its_token_from_the_environment(tmp_path, monkeypatch):
    """`chargerctl backend` reads CHARGERCTL_OPERATOR_TOKEN, as `chargerctl charger` does: one
    export serves both. Authenticated, the call gets as far as the (offline) charger."""
    from host_tools.cli import main

    monkeypatch.setenv("CHARGERCTL_OPERATOR_TOKEN", TOKEN)
    with LocalBackend(tmp_path / "b", [bench_charger("CP-X", "X1")],
                      env={"CHARGERCTL_OPERATOR_TOKEN": TOKEN}) as b:
        result = CliRunner(mix_stderr=False).invoke(main, [
            "charger", "limit", "--charger", "CP-X", "--connector", "0", "--amps", "16",
            "--api", b.api])
        log = b.log_tail(5000)
    assert result.exit_code == Exit.REFUSED, result.stderr
    assert "The charger CP-X is offline" in result.stderr
    assert "operator actions on" in log and TOKEN not in log
