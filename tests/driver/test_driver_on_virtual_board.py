"""The driver's commands against the real firmware on a flashed virtual board: the power shown
is the simulated meter's, the README's order (a session, then another) gets a refusal that says
to unplug the EV, and `sim` prints numbers for people."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

from tests.driver.test_virtual_board import MISSING

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"end-to-end pieces missing: {MISSING}")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    from host_tools.bench_rig import bench_rig

    with bench_rig(tmp_path_factory.mktemp("rig"), code="VB42", connectors=1,
                   backend_args=["--rate-limit", "start=30", "--rate-limit", "get=600"]) as r:
        yield r


def _cli(*args: str, ok: bool = True):
    from host_tools.cli import main

    result = CliRunner(mix_stderr=False).invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.stdout + result.stderr
    return result


def test_watch_shows_the_simulated_power_and_a_second_start_says_unplug(rig, tmp_path):
    """7.4 kW simulated: watch shows 7.4 kW (the firmware's Power.Active.Import). After the
    session the connector is Finishing while the EV stays plugged: the next start is refused
    in plain words until the EV is unplugged (`chargerctl sim plug`)."""
    from host_tools.exits import Exit

    opts = ["--api", rig.api, "--state", str(tmp_path / "s.json")]
    _cli("session", "start", "--code", "VB42", "--connector", "1", *opts)
    _cli("session", "confirm", *opts)
    _cli("session", "watch", "--until", "charging", "--timeout", "30", *opts)
    rows = [json.loads(x) for x in _cli("session", "watch", "--json", "--timeout", "6", *opts,
                                        ok=False).stdout.splitlines() if x.startswith("{")]
    powers = [r["power_kw"] for r in rows if r.get("power_kw") is not None]
    assert len(powers) >= 2 and all(p == pytest.approx(7.4, rel=0.05) for p in powers), rows

    text = _cli("sim", "state", "--control-port", str(rig.control_port)).stdout
    assert re.search(r"connector 1: plugged, relay closed, 7360 W, \d+\.\d Wh, fault none", text), text
    raw = json.loads(_cli("sim", "state", "--control-port", str(rig.control_port), "--json").stdout)
    assert isinstance(raw[0]["energy_wh"], float | int)

    _cli("session", "stop", *opts)
    assert json.loads(_cli("session", "receipt", "--wait", "30", "--json", *opts).stdout)["status"] == "completed"
    again = _cli("session", "start", "--code", "VB42", "--connector", "1", *opts, ok=False)
    assert again.exit_code == Exit.CONFLICT, again.stderr
    message = " ".join(again.stderr.split())
    assert ("Connector 1 of charger VB42 is Finishing: the last session ended; unplug the EV to "
            "start a new one (on a virtual board: `chargerctl sim plug") in message, message

    port = str(rig.control_port)
    _cli("sim", "plug", "--control-port", port, "--connector", "1", "--unplugged")
    time.sleep(1.0)  # as a person types the next command; the firmware polls its plug sense
    _cli("sim", "plug", "--control-port", port, "--connector", "1", "--plugged")
    deadline = time.monotonic() + 15
    while True:
        result = _cli("session", "start", "--code", "VB42", "--connector", "1", *opts, ok=False)
        if result.exit_code == 0:
            break
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
    _cli("session", "cancel", *opts)
