"""Board commands never end a driver's session silently (issue 11, finding 2).

A real charging session on connector 1 of a virtual board running the real firmware, against
the real backend (host_tools/bench_rig.py, as the e2e tests): `config get`, `config set`,
`flash`, `board reset`, `board ls` and `commission --connector 1` ask the running firmware
first (host_tools.board_probe) and refuse, naming the connector and the session; the board is
never interrupted, the relay stays closed, the session keeps charging. A flash that would copy
nothing says so, even now, without touching the board. Only --force interrupts, and then the
PowerLoss stop carries the meter register as it stood at the restart.

The tests share one rig and run in order: the last one ends the session.
"""

from __future__ import annotations

import json
import re

import pytest

from host_tools.board_probe import probe
from host_tools.exits import Exit
from tests.e2e.conftest import (
    Db,
    board_tail,
    connector_status,
    e2e_rig,
    persisted_register,
    ready_connector,
    start_and_pay,
    start_charging,
    wait_backend_energy,
    wait_until,
)
from tests.host.conftest import chargerctl, require_schema

CODE = "TXO42"


@pytest.fixture(scope="module")
def charging(tmp_path_factory):
    """(rig, token, config file): connector 1 charging a driver's session."""
    require_schema()
    workdir = tmp_path_factory.mktemp("txrig")
    with e2e_rig(workdir, code=CODE, connectors=2) as rig, rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        wait_backend_energy(rig, token, above_wh=0)
        config_file = workdir / "config.json"
        config_file.write_text(json.dumps(rig.config))
        yield rig, token, config_file


def _untouched(rig, boots: int) -> None:
    assert rig.board.boots == boots, board_tail(rig, 800)
    assert rig.connector_state(1)["relay_closed"] is True
    assert "reason=PowerLoss" not in rig.board.console_text()


def _assert_refused(proc, rig) -> None:
    assert proc.returncode == Exit.TRANSACTION_OPEN, (proc.stdout, proc.stderr)
    tx = probe(rig.port).transactions[0]
    sentence = (re.escape(f"connector 1 is charging (transaction ref {tx['ref']}, "
                          f"idTag '{tx['id_tag']}', ") + r"(\d+ Wh|\d+\.\d kWh)"
                + re.escape("): a restart would end the driver's session. "
                            "Wait for it to end, or use --force."))
    assert re.search(sentence, proc.stderr), proc.stderr


def test_the_firmware_reports_the_session_without_being_interrupted(charging):
    rig, _token, _ = charging
    boots = rig.board.boots
    state = probe(rig.port)
    assert state is not None
    (tx,) = state.transactions
    assert tx["connector"] == 1 and tx["id_tag"] and tx["meter_wh"] >= tx["start_wh"]
    assert state.connector_state(1) == "Charging" and state.connector_state(2) != "Charging"
    assert state.data["charge_point_id"] == rig.identity and state.data["public_code"] == CODE
    assert state.data["board"] == "unix-sim" and state.data["version"]
    _untouched(rig, boots)


@pytest.mark.parametrize("argv", [
    ["config", "get"],
    ["config", "get", "public_code", "--json"],
    ["config", "set", "public_code", "NEW42"],
    ["board", "reset"],
    ["board", "ls"],
])
def test_board_commands_refuse_while_charging(charging, argv):
    rig, _token, _ = charging
    boots = rig.board.boots
    proc = chargerctl(*argv[:2], "--port", rig.port, *argv[2:])
    _assert_refused(proc, rig)
    _untouched(rig, boots)
    assert json.loads((rig.board.flash_dir / "config.json").read_text())["public_code"] == CODE


def test_flash_of_a_change_refuses_while_charging(charging, tmp_path):
    rig, _token, _ = charging
    boots = rig.board.boots
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(dict(rig.config, public_code="OTHER1")))
    proc = chargerctl("flash", "--port", rig.port, "--board", "unix-sim", "--config", changed)
    _assert_refused(proc, rig)
    assert "nothing was written" in proc.stderr
    _untouched(rig, boots)


def test_flash_that_would_copy_nothing_is_fine_while_charging(charging):
    rig, _token, config_file = charging
    boots = rig.board.boots
    proc = chargerctl("flash", "--port", rig.port, "--board", "unix-sim", "--config", config_file)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{rig.port}: up to date: nothing copied, board not interrupted"
    _untouched(rig, boots)


def test_commission_refuses_on_the_charging_connector(charging, tmp_path):
    rig, _token, _ = charging
    boots = rig.board.boots
    proc = chargerctl("commission", "--port", rig.port, "--code", CODE, "--connector", "1",
                      "--api", rig.api, "--report", tmp_path / "r.json")
    assert proc.returncode == Exit.TRANSACTION_OPEN, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["failed_step"] == "board"
    assert "connector 1 is charging (transaction ref" in report["steps"][0]["detail"]
    assert "the check needs this connector free for its test session" in report["steps"][0]["detail"]
    _untouched(rig, boots)


def test_an_authorised_connector_waiting_for_the_cable_is_protected(charging):
    """A driver's RemoteStart accepted on connector 2 with no cable yet: Preparing, as a plugged
    connector without authorisation is, but the firmware holds the idTag and a restart would
    drop it. The firmware names it; board commands refuse for it too."""
    rig, _token, _ = charging
    with rig.client() as client:
        rig.sim({"cmd": "plug", "connector": 2, "plugged": False})
        wait_until(lambda: connector_status(rig, client, 2) == "Available", 15,
                   "connector 2 Available without the EV", detail=lambda: board_tail(rig, 600))
        token2, _ = start_and_pay(rig, client, 2)
        try:
            state = wait_until(lambda: (s := probe(rig.port)) and s.authorised and s, 20,
                               "connector 2 authorised, waiting for the cable",
                               detail=lambda: board_tail(rig, 800))
            (held,) = state.authorised
            assert held["connector"] == 2 and held["id_tag"]
            assert state.connector_state(2) == "Preparing" and len(state.transactions) == 1
            boots = rig.board.boots
            proc = chargerctl("board", "ls", "--port", rig.port)
            assert proc.returncode == Exit.TRANSACTION_OPEN, (proc.stdout, proc.stderr)
            text = " ".join(proc.stderr.split())
            assert f"connector 2 is authorised for idTag '{held['id_tag']}' and waits for the cable" in text
            assert "connector 1 is charging" in text
            _untouched(rig, boots)
            proc = chargerctl("commission", "--port", rig.port, "--code", CODE, "--connector", "2",
                              "--api", rig.api, "--report", rig.board.flash_dir.parent / "r2.json")
            assert proc.returncode == Exit.TRANSACTION_OPEN, proc.stdout + proc.stderr
            _untouched(rig, boots)
        finally:
            try:
                client.cancel(token2)
            except Exception:  # noqa: BLE001 - the next test restarts the board anyway
                pass


def test_forced_reset_stops_the_session_as_power_loss_at_the_register(charging):
    """With --force the board restarts: the transaction ends PowerLoss, and its meterStop is the
    meter's register as it stood at the restart (to within 1 Wh)."""
    rig, token, _ = charging
    boots = rig.board.boots
    mark = rig.board.console_mark()
    proc = chargerctl("board", "reset", "--port", rig.port, "--force")
    assert proc.returncode == 0, proc.stderr
    assert "restarting (the app was running)" in proc.stdout
    rig.board.wait_boot(boots + 1)
    line = rig.board.wait_for_console("reason=PowerLoss", timeout=20, since=mark)
    assert rig.connector_state(1)["relay_closed"] is False
    register = persisted_register(rig)
    tx_id = Db(rig).session(token)["transaction_id"]
    stop = wait_until(lambda: Db(rig).transaction(tx_id)["meter_stop"], 20,
                      "the PowerLoss StopTransaction at the backend", detail=lambda: line[-800:])
    assert abs(stop - register) <= 1, (stop, register)
    assert probe(rig.port, timeout=5).transactions == []
