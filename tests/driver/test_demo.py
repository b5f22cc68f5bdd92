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
    for text in ("Driver looks up charger DEMO42", "Driver confirms the payment", "Receipt",
                 "display was saved to", "Everything started by the demo is stopped"):
        assert text in out
    assert _children() <= before  # backend and board processes are gone
