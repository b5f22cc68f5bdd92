"""A firmware update and a diagnostics upload end to end, as a technician does them:
`chargerctl bundle` -> `chargerctl charger update` -> the backend (stores and serves the bundle,
sends UpdateFirmware) -> the real firmware on a virtual board (downloads, checks, stages,
switches, restarts into the new version, keeps it once healthy) -> FirmwareStatusNotification
Installed and a BootNotification with the new version; `chargerctl charger diagnostics` ->
GetDiagnostics -> the board PUTs its log to the backend -> the file on the technician's disk.

OCPP 1.6 section 6.17 UpdateFirmware and 4.5 FirmwareStatusNotification: "the Charge Point
SHALL send a FirmwareStatusNotification.req PDU ... to inform the Central System about the
progress of the downloading and installation of a firmware update"; section 6.6 GetDiagnostics
and 4.4 DiagnosticsStatusNotification.

The update tests run on the firmware of branches `install` and `update` (merged here). The
diagnostics test needs branch `diag`: it is skipped, naming the branch, only while the route
table's GetDiagnostics row says `no`; any other state runs it (a rename fails, loudly).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import E2E_OCPP, FAST_LIMITS, ROOT, Db, board_tail

TOKEN = "e2e-operator-token-0123456789"
SECRET = "e2e-charger-secret-0123456789"  # the charger's AuthorizationKey: never in diagnostics
NEW_VERSION = "0.2.0"
TRIAL_S = 10  # update_trial_s: the new version is kept after this long healthy
RIG = {"code": "FW42",
       "charger": {"authorization_key": SECRET},
       "backend_args": [*FAST_LIMITS, "--rate-limit", "actions=6000", "--operator-token", TOKEN],
       "config": {"ocpp": dict(E2E_OCPP), "authorization_key": SECRET,
                  "update_trial_s": TRIAL_S}}
CHARGERCTL = [sys.executable, "-m", "host_tools.cli"]


def _route(action: str) -> str:
    """How the firmware's route table holds `action`: `no` until it is built."""
    table = (ROOT / "firmware" / "evse" / "ocpp" / "operations" / "__init__.py").read_text()
    m = re.search(rf'"\\n{action} (\w+)', table)
    return m.group(1) if m else "missing"


def _diagnostics_unbuilt() -> bool:
    """True only in the one known state before branch `diag` is merged: GetDiagnostics' row
    says `no` (NotSupported). Anything else runs the test, so a renamed table or module fails
    it loudly instead of skipping it."""
    return _route("GetDiagnostics") == "no"


def chargerctl(rig, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CHARGERCTL, *argv], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "CHARGERCTL_OPERATOR_TOKEN": TOKEN,
                               "CHARGERCTL_API": rig.api})


def test_tc_044_1_bundle_update_installed_and_the_board_runs_the_new_version(rig, tmp_path):
    """TC_044_1 (Firmware Update - Download and install): the charger reports Downloading,
    Downloaded, Installing, Installed, and its BootNotification then carries the new
    firmwareVersion."""
    bundle = tmp_path / f"evse-{NEW_VERSION}.bundle"
    made = chargerctl(rig, "bundle", "--version", NEW_VERSION, "-o", str(bundle))
    assert made.returncode == 0, made.stderr
    before = Db(rig).rows("SELECT firmware_version FROM chargers WHERE identity = ?",
                          rig.identity)[0]["firmware_version"]
    assert before != NEW_VERSION
    proc = chargerctl(rig, "charger", "update", "--charger", rig.identity, str(bundle),
                      "--json", "--timeout", str(TRIAL_S * 6 + 60))
    assert proc.returncode == 0, proc.stdout + proc.stderr + board_tail(rig, 3000)
    doc = json.loads(proc.stdout)
    print(f"update: {bundle.stat().st_size} bytes, Installed after {doc['seconds']} s")
    statuses = [e["status"] for e in doc["events"] if e["kind"] == "status"]
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"], doc["events"]
    boots = [e["detail"] for e in doc["events"] if e["kind"] == "boot"]
    assert boots and boots[-1] == NEW_VERSION
    assert Db(rig).rows("SELECT firmware_version FROM chargers WHERE identity = ?",
                        rig.identity)[0]["firmware_version"] == NEW_VERSION
    # the board is back, online and charging-ready on the new version
    rig.wait_online(30)


@pytest.mark.skipif(_diagnostics_unbuilt(), reason=(
    "needs branch `diag` (helper A: operations/GetDiagnostics.py, GetDiagnostics `rare` in the "
    "route table); its merge with `update` conflicts in chargepoint.py, TriggerMessage.py and "
    "the route table (keep both sides: this test then passes)"))
def test_tc_045_1_diagnostics_fetched_hold_the_log_and_no_secret(rig, tmp_path):
    """TC_045_1 (Get Diagnostics): the charger answers a fileName, uploads it to the location
    and reports Uploaded; the file holds the console log and none of the charger's secrets."""
    assert _route("GetDiagnostics") == "rare", "GetDiagnostics' route row is not where it was"
    assert (ROOT / "firmware" / "evse" / "ocpp" / "operations" / "GetDiagnostics.py").exists()
    out = tmp_path / "diag.txt"
    proc = chargerctl(rig, "charger", "diagnostics", "--charger", rig.identity, "-o", str(out),
                      "--timeout", "120")
    assert proc.returncode == 0, proc.stdout + proc.stderr + board_tail(rig, 3000)
    text = out.read_text(errors="replace")
    assert rig.identity in text  # the summary names the charger
    # the log: lines the firmware wrote on its console are in it (with the OCPP time before)
    console = rig.board.console_text()
    logged = [re.sub(r"^\S+Z ", "", ln.strip()) for ln in text.splitlines()]
    assert sum(1 for ln in logged if len(ln) > 20 and ln in console) >= 3, text[:2000]
    for secret in (SECRET, TOKEN):
        assert secret not in text


@pytest.mark.long  # ~12 s more: a crash loop of boots; the rollback itself is tests/firmware's
def test_tc_044_3_a_version_that_crashes_at_import_is_rolled_back_and_exits_30(rig, tmp_path):
    """TC_044_3 (Installation failed): a bundle whose code cannot even be imported is rolled
    back by the charger, which reports InstallationFailed and boots its previous version;
    `chargerctl charger update` exits 30 and names the version that runs."""
    import shutil

    firmware = tmp_path / "firmware"
    shutil.copytree(ROOT / "firmware", firmware)
    app = firmware / "evse" / "app.py"
    app.write_text("raise ImportError('a broken release')\n" + app.read_text())
    bundle = tmp_path / "broken.bundle"
    made = chargerctl(rig, "bundle", "--firmware", str(firmware), "--version", "0.9.9-broken",
                      "-o", str(bundle))
    assert made.returncode == 0, made.stderr
    before = Db(rig).rows("SELECT firmware_version FROM chargers WHERE identity = ?",
                          rig.identity)[0]["firmware_version"]
    proc = chargerctl(rig, "charger", "update", "--charger", rig.identity, str(bundle),
                      "--json", "--timeout", str(TRIAL_S * 6 + 60))
    assert proc.returncode == 30, proc.stdout + proc.stderr + board_tail(rig, 3000)
    doc = json.loads(proc.stdout)
    assert "InstallationFailed" in doc["error"] and f"It runs {before}" in doc["error"]
    assert doc["events"][-1]["status"] == "InstallationFailed"
    rig.wait_online(30)
    assert Db(rig).rows("SELECT firmware_version FROM chargers WHERE identity = ?",
                        rig.identity)[0]["firmware_version"] == before
