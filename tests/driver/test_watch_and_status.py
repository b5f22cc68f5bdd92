"""`session watch` / `status` against the real backend and an `ocpp` charge point whose meter
follows a known power: the figure shown is the meter's, within a tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from host_tools.exits import Exit
from tests.driver.ocpp_peer import OcppPeer


def _rows(result) -> list[dict]:
    return [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]


def _charging(cli) -> str:
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    assert cli("session confirm").exit_code == 0
    assert cli("session watch --until charging --timeout 30").exit_code == 0
    return json.loads(cli.state.read_text())["session_token"]


@pytest.mark.parametrize("send_power", [False, True], ids=["from-readings", "charger-power"])
def test_watch_power_is_the_meters_within_tolerance(cli, backend, send_power):
    """7.4 kW drawn, a MeterValues every 2 s: watch shows 7.4 kW (not the energy since the watch
    started), from the readings' own timestamps or the charger's Power.Active.Import."""
    with OcppPeer(backend.ws_url, "CP-ON", connectors=2, sample_s=2.0, power_w=7400,
                  send_power=send_power):
        _charging(cli)
        rising = cli("session watch --json --timeout 9")
        assert rising.exit_code == Exit.SESSION_FAILED, rising.stderr  # --timeout while charging
        powers = [r["power_kw"] for r in _rows(rising) if r.get("power_kw") is not None]
        assert len(powers) >= 2, rising.stdout
        for kw in powers:
            assert kw == pytest.approx(7.4, rel=0.05), powers
        assert cli("session stop").exit_code == 0


def test_before_the_first_meter_reading_it_says_so(cli, backend):
    """Default MeterValueSampleInterval 60 s: no energy yet is not `0.000 kWh power -`."""
    with OcppPeer(backend.ws_url, "CP-ON", connectors=2, sample_s=60.0, power_w=7400):
        token = _charging(cli)
        text = cli(f"session status --token {token}")
        assert text.exit_code == 0, text.stderr
        assert "waiting for the first meter reading (every 60 s by default)" in text.stdout
        row = json.loads(cli(f"session status --token {token} --json").stdout)
        assert row["status"] == "charging" and row["power_kw"] is None
        assert row["meter_note"].startswith("waiting for the first meter reading")
        assert token not in text.stdout  # shortened
        assert cli("session stop").exit_code == 0


def test_status_takes_any_session_by_token(cli, charger, tmp_path):
    """`status --token T`: not only the saved session; an unknown token is 404 (exit 20)."""
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    token = json.loads(cli.state.read_text())["session_token"]
    cli.state.unlink()  # no saved session any more
    row = json.loads(cli(f"session status --token {token} --json").stdout)
    assert row["status"] == "created" and row["data"]["connector_id"] == 1
    assert cli("session status").exit_code == Exit.USAGE
    unknown = cli("session status --token tok_unknown_0123456789")
    assert unknown.exit_code == Exit.NOT_FOUND and "unknown or has expired" in unknown.stderr


def test_second_cancel_is_refused_409(cli, charger):
    """cancel "allowed only in created, authorized, starting" (a cancelled session is not)."""
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    assert cli("session cancel").exit_code == 0
    again = cli("session cancel")
    assert again.exit_code == Exit.CONFLICT == 23
    assert "is already cancelled; its payment hold was released." in again.stderr


def test_piped_output_is_not_wrapped_and_the_receipt_rows_say_what_they_are(backend, charger, tmp_path):
    """Through a pipe (not a terminal) a long line arrives whole, not cut at 80 columns."""
    env = {**os.environ, "CHARGERCTL_API": backend.api, "CHARGERCTL_STATE": str(tmp_path / "s.json"),
           "COLUMNS": "80"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "host_tools.cli", "session", *args],
                              env=env, capture_output=True, text=True, timeout=60)

    assert run("start", "--code", "ONLINE1", "--connector", "1").returncode == 0
    assert run("cancel").returncode == 0
    busy = run("start", "--code", "ONLINE1", "--connector", "2")
    assert busy.returncode == Exit.CONFLICT
    line = next(x for x in busy.stderr.splitlines() if "Connector 2" in x)
    assert len(line) > 80 and line.rstrip().endswith("wait until that session ends.")
    receipt = run("receipt")
    assert receipt.returncode == 0, receipt.stderr
    labels = [row.split("│")[1].strip() for row in receipt.stdout.splitlines() if row.count("│") >= 3]
    assert "Pre-authorized (hold)" in labels and "Payment authorized at" in labels
    assert labels.count("Authorized") == 0 and len(labels) == len(set(labels))
