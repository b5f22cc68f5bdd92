"""An update on a virtual board flashed by `chargerctl flash` (host_tools.flash.flash_board): the
real deploy layout (/main.py, /lib/evse/*.mpy, MICROPYPATH=lib:.frozen), the bundle staged
beside the running app with the board's own evse.bundle/evse.install (tests/ocpp/test_install.py's
STAGE), power cuts by VirtualBoard.kill, and the central system of tests/ocpp."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

from host_tools import flash
from host_tools.bundle import build_bundle
from host_tools.micropython import micropython_binary
from tests.host.conftest import require_schema
from tests.ocpp import conftest as ocpp_conftest
from tests.ocpp.test_install import STAGE


async def test_flashed_board_installs_an_update_through_power_cuts(boards, tmp_path):
    """Flashed 0.1.0 boots; 0.2.0 staged and switched; a power cut (SIGKILL) instead of the
    reboot, another in the trial's first boot: the board comes back each time on 0.2.0, which
    is then kept and reported Installed."""
    require_schema()
    server = ocpp_conftest.Server()
    await server.start()
    vb = boards(tmp_path / "flash")
    try:
        cfg = {"charge_point_id": "CP-1", "csms_url": f"ws://127.0.0.1:{server.port}/ocpp",
               "public_code": "ABC123", "update_trial_s": 10}
        await asyncio.to_thread(flash.flash_board, vb.port, "unix-sim", cfg)
        boot = await server.wait_msg("BootNotification", timeout=30)
        assert boot["firmware_version"] == "0.1.0"
        (tmp_path / "b.bundle").write_bytes(build_bundle(version="0.2.0"))
        (tmp_path / "stage.py").write_text(STAGE)
        env = dict(os.environ, MICROPYPATH="lib:.frozen", KILL_AT="0")
        proc = await asyncio.to_thread(subprocess.run, [micropython_binary(), str(tmp_path / "stage.py"),
                                       str(tmp_path / "b.bundle"), "4096"], cwd=vb.flash_dir, env=env,
                                       capture_output=True, text=True, timeout=60)
        assert "switched 0.2.0" in proc.stdout, proc.stdout + proc.stderr
        for n in (2, 3):  # a power cut instead of the reboot; one more in the trial's boot
            vb.kill()
            await server.wait_msg("BootNotification", n=n, timeout=30)
        versions = [kw["firmware_version"] for kw in server.actions("BootNotification")]
        assert versions == ["0.1.0", "0.2.0", "0.2.0"]
        fsn = await server.wait_msg("FirmwareStatusNotification", timeout=40)
        assert fsn["status"] == "Installed"
        b = json.loads((vb.flash_dir / "app" / "boot.json").read_text())
        assert b["state"] == "kept" and b["run"] == "app/a" and b["boots"] == 0, b
        assert "crash" not in vb.console_text()
        # `chargerctl flash` again: the board is not "up to date" while an update runs, and the
        # code it deploys (the factory's, 0.1.0) is what boots next
        result = await asyncio.to_thread(flash.flash_board, vb.port, "unix-sim", cfg)
        assert not result.up_to_date and result.restarted
        assert not (vb.flash_dir / "app" / "boot.json").exists()
        boot = await server.wait_msg("BootNotification", n=4, timeout=30)
        assert boot["firmware_version"] == "0.1.0"
    finally:
        vb.stop()
        await server.stop()
