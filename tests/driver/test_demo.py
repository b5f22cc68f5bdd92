"""`chargerctl demo` as a test: the newcomer's first command must work and clean up after itself."""

from __future__ import annotations

import os

import pytest

from tests.driver.test_virtual_board import MISSING

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"end-to-end pieces missing: {MISSING}")


def _children() -> set[int]:
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
            return {int(x) for x in f.read().split()}
    except OSError:
        return set()


def test_demo_runs_one_session_and_stops_everything(tmp_path, capsys):
    from host_tools.demo import run_demo

    before = _children()
    rec = run_demo(tmp_path, code="DEMO42", watch_s=2.0)
    assert rec["status"] == "completed"
    assert float(rec["energy_kwh"]) > 0
    assert rec["amount_captured"] == rec["cost_amount"] <= rec["amount_authorized"]
    png = tmp_path / "display.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    # the commissioning check's steps (the same code as `chargerctl commission`), then the watch
    for text in ("PASS  board reachable", "PASS  public session started",
                 "PASS  relay closed, energy rising", "Watching it charge",
                 "PASS  session settled", "Receipt", "Pre-authorized (hold)",
                 "display was saved to", "Everything started by the demo is stopped"):
        assert text in out, text
    assert "FAIL" not in out
    watched = [line for line in out.splitlines() if "power " in line and "kW" in line]
    # the 7.4 kW EV on the virtual board's 32 A single-phase offer: 7360 W
    assert watched and all("power 7.36 kW" in line or "power 7.35 kW" in line
                           or "power 7.37 kW" in line for line in watched), watched
    assert _children() <= before  # backend and board processes are gone


def _processes_in(folder) -> list[int]:
    """Processes working in `folder` (the board) or naming it on their command line (backend)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().decode(errors="replace")
            except OSError:
                continue
            if cwd.startswith(str(folder)) or f"{folder}/backend" in cmdline:
                found.append(int(entry))
    return found


def test_ctrl_c_stops_everything_the_demo_started(tmp_path):
    """Ctrl-C while charging: exit 130, backend and board gone."""
    import signal
    import subprocess
    import sys
    import time

    work = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "demo", "--workdir", str(work),
                             "--watch", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    deadline = time.monotonic() + 40
    try:
        for line in proc.stdout:
            seen.append(line)
            if "Watching it charge" in line:
                break
            assert time.monotonic() < deadline, "".join(seen)
        assert len(_processes_in(work)) >= 2, "the demo's backend and board should run now"
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(seen) + rest
    intro = " ".join("".join(seen).split())
    assert "CP-BENCH is its OCPP identity" in intro and "DEMO42 is its public code" in intro
    assert "everything the demo started has been stopped" in rest
    assert _processes_in(work) == []
