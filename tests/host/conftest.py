"""Fixtures for the host tools against virtual boards: real unix port, real pty, real mpremote."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools import BOARDS_DIR, FIRMWARE_DIR
from host_tools.virtual_board import VirtualBoard

CHARGERCTL = [sys.executable, "-m", "host_tools.cli"]

# The deploy tests ship the repository's real evse package; main.py is ours so that a boot is
# visible (and independent of the app's state): it prints the identity and a build marker.
TEST_MAIN = """\
import time
from evse import config, testbuild
cfg = config.load()
print("BOOT", cfg["charge_point_id"], testbuild.BUILD)
while True:
    time.sleep(0.05)
"""

# Runs the board's own HAL (F2's simulated hardware and its control server) without the app.
SIM_MAIN = """\
import json, asyncio
from evse import config
from evse.hal.board import build
board = build(json.load(open("board.json")), config.load())
async def run():
    for c in board.tasks():
        asyncio.create_task(c)
    print("SIM READY")
    while True:
        await asyncio.sleep(1)
asyncio.run(run())
"""


@pytest.fixture
def good_config() -> dict:
    return {"charge_point_id": "CP-TEST-1", "csms_url": "ws://127.0.0.1:9/ocpp",
            "public_code": "abc123", "authorization_key": "0123456789abcdef-SECRET"}


@pytest.fixture
def config_file(tmp_path, good_config) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(good_config))
    return path


@pytest.fixture
def firmware(tmp_path) -> Path:
    """A copy of the repository's firmware with the test main.py and a build marker module."""
    fw = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR / "evse", fw / "evse",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (fw / "evse" / "testbuild.py").write_text('BUILD = "one"\n')
    (fw / "main.py").write_text(TEST_MAIN)
    return fw


@pytest.fixture
def real_firmware(tmp_path) -> Path:
    """A copy of the repository's firmware as it is (its main.py boots evse.app), for tests
    that change a module and see the new code boot."""
    fw = tmp_path / "real-firmware"
    shutil.copytree(FIRMWARE_DIR / "evse", fw / "evse", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(FIRMWARE_DIR / "main.py", fw / "main.py")
    return fw


@pytest.fixture
def flashed(vboard, good_config) -> VirtualBoard:
    """A virtual board flashed with the repository's firmware and good_config, its app
    started (its csms_url leads nowhere: no OCPP, so no transaction)."""
    from host_tools import flash

    require_schema()
    mark = vboard.console_mark()
    flash.flash_board(vboard.port, "unix-sim", good_config)
    vboard.wait_for_console("app started", timeout=20, since=mark)
    return vboard


@pytest.fixture
def boards():
    """Start virtual boards; every one is stopped at teardown."""
    started: list[VirtualBoard] = []

    def start(flash_dir, **kwargs) -> VirtualBoard:
        vb = VirtualBoard(flash_dir, **kwargs).start()
        started.append(vb)
        return vb

    yield start
    for vb in started:
        vb.stop()


@pytest.fixture
def vboard(boards, tmp_path) -> VirtualBoard:
    return boards(tmp_path / "flash")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in a flash dir except the console log (which the board appends to)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith("console.log")}


def chargerctl(*args: str, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CHARGERCTL, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, input=input)


def unix_sim_board() -> Path:
    return BOARDS_DIR / "unix-sim.json"


def require_schema() -> None:
    if not (BOARDS_DIR / "schema.json").exists():
        pytest.skip("boards/schema.json (F2) is not in this checkout yet")
