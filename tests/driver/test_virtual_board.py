"""`chargerctl commission` and `chargerctl session` against a flashed virtual board.

The whole chain is real: `chargerctl backend` subprocess, the firmware on the MicroPython unix
port behind a pseudo-terminal, flashed with `chargerctl flash`'s deploy code, simulated relay,
meter and EV (host_tools/bench_rig.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from host_tools.commission import FAIL, PASS, SKIP, STEPS, Commissioning, Timeouts
from host_tools.exits import Exit

ROOT = Path(__file__).resolve().parents[2]
NEEDS = [ROOT / "firmware" / "main.py", ROOT / "firmware" / "evse" / "app.py",
         ROOT / "host_tools" / "backend" / "cli.py", ROOT / "host_tools" / "flash.py",
         ROOT / "host_tools" / "virtual_board.py"]
MISSING = [str(p.relative_to(ROOT)) for p in NEEDS if not p.exists()]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"end-to-end pieces missing: {MISSING}")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    from host_tools.bench_rig import bench_rig

    with bench_rig(tmp_path_factory.mktemp("rig"), code="DEMO42", connectors=1,
                   backend_args=["--rate-limit", "start=30"]) as r:
        yield r


def _statuses(report) -> dict[str, str]:
    return {s.name: s.status for s in report.steps}


def test_commission_passes_on_a_healthy_virtual_board(rig, tmp_path):
    """Every step passes; the report is printed and written as JSON; exit 0."""
    from host_tools.cli import main

    report_file = tmp_path / "report.json"
    result = CliRunner(mix_stderr=False).invoke(main, [
        "commission", "--port", rig.port, "--code", "demo42", "--connector", "1",
        "--api", rig.api, "--report", str(report_file)], catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(report_file.read_text())
    assert report["passed"] is True and report["failed_step"] is None
    assert [s["name"] for s in report["steps"]] == [name for name, _ in STEPS]
    assert all(s["status"] == PASS for s in report["steps"]), report
    assert "relay closed" in report["steps"][4]["detail"]
    assert "PASSED" in result.stdout
    for _, title in STEPS:
        assert title in result.stdout


def test_commission_judges_energy_by_the_backend_as_on_a_real_board(rig):
    """Without the simulated hardware, energy rising is read from the session's energy_kwh."""
    rig.wait_online(30)
    report = Commissioning(rig.port, "DEMO42", 1, rig.api, use_sim=False,
                           timeouts=Timeouts(energy=30.0)).run()
    assert report.passed, report.as_dict()
    assert "(from the backend)" in report.steps[4].detail


def test_commission_fails_at_config_when_the_public_code_is_wrong(rig, tmp_path):
    """The board's public_code must be --code: config fails, the rest is skipped, exit 1."""
    report = Commissioning(rig.port, "WRONG1", 1, rig.api).run()
    assert not report.passed and report.failed_step == "config"
    steps = _statuses(report)
    assert steps["board"] == PASS and steps["config"] == FAIL
    assert all(steps[n] == SKIP for n in ("online", "session", "charging", "stopped", "settled"))
    detail = report.steps[1].detail
    assert "public_code is DEMO42, not WRONG1" in detail
    rig.wait_online(30)  # the check restarted the board; it reconnects by itself


def test_driver_session_commands_on_the_virtual_board(rig, tmp_path):
    """The `session` commands drive the firmware: relay closes, energy rises, receipt settles."""
    from host_tools.cli import main

    runner = CliRunner(mix_stderr=False)
    base = ["session", "--api", rig.api, "--state", str(tmp_path / "s.json")]

    def run(*args: str):
        result = runner.invoke(main, [*base, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr
        return result

    rig.wait_online(30)
    run("start", "--code", "DEMO42", "--connector", "1")
    run("confirm")
    run("watch", "--until", "charging", "--timeout", "30")
    first = rig.connector_state(1)
    assert first["relay_closed"] is True
    deadline = time.monotonic() + 15
    while rig.connector_state(1)["energy_wh"] < first["energy_wh"] + 5:  # 7.4 kW: ~3 s
        assert time.monotonic() < deadline, "the simulated meter's energy does not rise"
        time.sleep(0.2)
    run("stop")
    rec = json.loads(run("receipt", "--wait", "30", "--json").stdout)
    assert rec["status"] == "completed"
    assert float(rec["energy_kwh"]) > 0
    assert rec["amount_captured"] <= rec["amount_authorized"]
    assert rig.connector_state(1)["relay_closed"] is False


def test_commission_fails_at_online_when_the_board_cannot_reach_the_backend(tmp_path):
    """A board whose csms_url points nowhere: `online` fails naming the check to make."""
    from host_tools.bench_rig import bench_rig, free_port

    nowhere = f"ws://127.0.0.1:{free_port()}/ocpp"
    with bench_rig(tmp_path, code="OFF42", csms_url=nowhere, wait_online=False) as rig:
        report = Commissioning(rig.port, "OFF42", 1, rig.api,
                               timeouts=Timeouts(online=5.0)).run()
    assert report.failed_step == "online"
    steps = _statuses(report)
    assert steps["board"] == PASS and steps["config"] == PASS and steps["online"] == FAIL
    assert steps["settled"] == SKIP
    assert "has not seen charger OFF42 online within 5 s" in report.steps[2].detail


def test_commission_fails_at_board_when_nothing_answers(tmp_path):
    """No board on the port: the first step fails, everything else is skipped, exit 5
    (board unreachable, as for every board command)."""
    from host_tools.cli import main

    report_file = tmp_path / "r.json"
    result = CliRunner(mix_stderr=False).invoke(main, [
        "commission", "--port", str(tmp_path / "no-such-tty"), "--code", "X1", "--connector", "1",
        "--api", "http://127.0.0.1:9/api/v3", "--report", str(report_file)])
    assert result.exit_code == Exit.UNREACHABLE
    report = json.loads(report_file.read_text())
    assert report["failed_step"] == "board"
    assert [s["status"] for s in report["steps"]] == [FAIL] + [SKIP] * 6
    assert "FAILED at step 'board'" in result.stdout


def test_commission_fails_at_config_when_the_board_config_is_invalid(tmp_path):
    """config.json is checked by the firmware's own rules on the board; the key is named."""
    from host_tools.bench_rig import bench_rig

    with bench_rig(tmp_path, code="BAD42", wait_online=False) as rig:
        # Behind flash's back (it would refuse this): edit the flash folder, then power-cycle.
        cfg = dict(rig.config, csms_url="http://not-a-websocket")
        (rig.board.flash_dir / "config.json").write_text(json.dumps(cfg))
        boots = rig.board.boots
        rig.board.kill()
        rig.board.wait_boot(boots + 1)
        report = Commissioning(rig.port, "BAD42", 1, rig.api).run()
    assert report.failed_step == "config"
    detail = report.steps[1].detail
    assert detail.startswith("config.json is invalid: csms_url:"), detail


def test_commission_fails_at_charging_without_an_ev_and_cancels_its_session(tmp_path):
    """No EV plugged: the session never charges; the step says why and the hold is released."""
    from host_tools.bench_rig import bench_rig, free_port
    from host_tools.driver import Client

    sim = {"ev_plugged": False, "power_w": 7400, "control_port": free_port()}
    with bench_rig(tmp_path, code="NOEV1", config={"sim": sim}) as rig:
        check = Commissioning(rig.port, "NOEV1", 1, rig.api, timeouts=Timeouts(charging=6.0))
        report = check.run()
        with Client(rig.api) as client:
            session, _ = client.session(check.token)
    assert report.failed_step == "charging"
    assert "is an EV (or EV simulator) plugged in" in report.steps[4].detail
    assert session["status"] == "cancelled"  # nothing left held or waiting on the charger
