"""`chargerctl ocpp-log`: a charger's frames from the real backend, each one line, secrets
redacted, following live; the charge point is the `ocpp` package's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from click.testing import CliRunner

from host_tools.bench_rig import LocalBackend, bench_charger
from host_tools.exits import Exit
from tests.driver.ocpp_peer import OcppPeer

KEY = "0123456789abcdef0123"


def _run(*args: str):
    from host_tools.cli import main

    return CliRunner(mix_stderr=False).invoke(main, ["ocpp-log", *args], catch_exceptions=False)


def test_backlog_has_the_chargers_frames_one_line_each(backend, charger):
    result = _run("CP-ON", "--api", backend.api, "--no-follow", "--lines", "100", "--json")
    assert result.exit_code == 0, result.stderr
    frames = [json.loads(line) for line in result.stdout.splitlines()]
    assert frames[0]["type"] == "CONNECTED"
    boot = next(f for f in frames if f["action"] == "BootNotification" and f["type"] == "CALL")
    assert boot["direction"] == "in" and boot["payload"]["chargePointModel"] == "ocpp-peer"
    assert any(f["action"] == "BootNotification" and f["type"] == "CALLRESULT"
               and f["direction"] == "out" for f in frames)
    statuses = [f["payload"]["status"] for f in frames
                if f["action"] == "StatusNotification" and f["type"] == "CALL"]
    assert statuses == ["Available", "Charging"]
    text = _run("CP-ON", "--api", backend.api, "--no-follow", "--lines", "2")
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and all(" StatusNotification " in x for x in lines), lines
    assert lines[-1].split()[1:3] == ["out", "CALLRESULT"]


def test_the_authorization_header_is_redacted(tmp_path):
    with LocalBackend(tmp_path / "b", [bench_charger("CP-KEY", "KEY1", authorization_key=KEY)]) as b, \
            OcppPeer(b.ws_url, "CP-KEY", password=KEY):
        result = _run("CP-KEY", "--api", b.api, "--no-follow", "--json")
    assert result.exit_code == 0, result.stderr
    connected = json.loads(result.stdout.splitlines()[0])
    assert connected["type"] == "CONNECTED" and connected["payload"]["authorization"] == "***"
    assert KEY not in result.stdout


def test_unknown_charger_is_exit_20_with_a_sentence(backend):
    result = _run("ONLINE1", "--api", backend.api)  # a public code, not an identity
    assert result.exit_code == Exit.NOT_FOUND == 20
    assert "No charger with identity 'ONLINE1'" in result.stderr
    assert "charge point identity" in result.stderr


def test_follow_prints_new_frames_as_they_happen(backend, charger, cli):
    """Through a pipe, following: a remote start appears while the command runs."""
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "ocpp-log", "CP-ON",
                             "--api", backend.api, "--lines", "0", "--duration", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "80"})
    try:
        time.sleep(1.5)  # it is waiting now
        assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
        assert cli("session confirm").exit_code == 0
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    start = next(x for x in lines if " RemoteStartTransaction " in x and " CALL " in x)
    assert start.split()[1] == "out" and '"idTag":"PC' in start and len(start) > 80
    assert any(" StartTransaction " in x for x in lines)
    assert not any("BootNotification" in x for x in lines)  # --lines 0: no backlog
