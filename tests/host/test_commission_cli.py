"""`chargerctl commission` as a technician runs it on a virtual board (the real firmware and
the real backend): it asks the firmware instead of interrupting it, and leaves the connector as
it found it, so that the README's next step (`session start`) works (issue 11, finding 4)."""

from __future__ import annotations

import json

from host_tools.board_probe import probe
from host_tools.exits import Exit
from tests.e2e.conftest import connector_status, e2e_rig
from tests.host.conftest import chargerctl, require_schema


def test_commission_passes_without_a_restart_and_leaves_the_connector_startable(tmp_path):
    require_schema()
    with e2e_rig(tmp_path / "rig", code="COM42") as rig, rig.client() as client:
        boots = rig.board.boots
        report_file = tmp_path / "report.json"
        proc = chargerctl("commission", "--port", rig.port, "--code", "com42", "--connector", "1",
                          "--api", rig.api, "--report", report_file, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        last = proc.stdout.strip().splitlines()[-1]
        assert last.startswith("PASSED: all 7 steps. Report: ")
        assert last.endswith("Connector 1 left Preparing: the simulated EV was unplugged and "
                             "plugged in again, as it was found."), last
        report = json.loads(report_file.read_text())
        assert report["exit_code"] == 0 and report["connector_left"].startswith("connector 1 left Preparing")
        assert "(not interrupted)" in report["steps"][0]["detail"]
        assert rig.board.boots == boots  # asked, never interrupted
        assert connector_status(rig, client, 1) == "Preparing"
        assert rig.connector_state(1)["plugged"] is True
        # the README's next step
        started = client.start(rig.code, 1)
        client.cancel(started.token)
        assert probe(rig.port).transactions == []


def test_commission_of_an_unreachable_board_exits_5(tmp_path):
    proc = chargerctl("commission", "--port", tmp_path / "ttyUSB7", "--code", "X1",
                      "--connector", "1", "--api", "http://127.0.0.1:9/api/v3",
                      "--report", tmp_path / "r.json")
    assert proc.returncode == Exit.UNREACHABLE, proc.stdout + proc.stderr
    assert "FAILED at step 'board'" in proc.stdout
