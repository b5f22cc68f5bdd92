"""`chargerctl sim`, `display`, `logs` and `devices` against a virtual board running the board's
own HAL (F2's simulated hardware and control server), and the console follower."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib

import pytest

from host_tools import flash as fl
from host_tools.sim_client import SimClient, SimError
from host_tools.virtual_board import free_tcp_port
from tests.host.conftest import SIM_MAIN, chargerctl, require_schema


@pytest.fixture
def simboard(vboard, firmware, good_config):
    require_schema()
    (firmware / "main.py").write_text(SIM_MAIN)
    cfg = dict(good_config, sim={"ev_plugged": True, "power_w": 7400})
    board, raw = fl.load_board("unix-sim")
    fl.deploy(vboard.port, fl.build_image(firmware), raw, fl.check_config(cfg, board))
    vboard.wait_boot(2)
    vboard.wait_for_console("SIM READY")
    SimClient(vboard.control_port, connect_wait=5).close()
    return vboard


def test_state_plug_power_fault_round_trip(simboard):
    port = str(simboard.control_port)
    state = json.loads(chargerctl("sim", "state", "--control-port", port, "--json").stdout)
    assert [c["id"] for c in state] == [1, 2]
    assert state[0]["plugged"] is True

    assert chargerctl("sim", "plug", "--control-port", port, "--connector", "1", "--unplugged").returncode == 0
    assert chargerctl("sim", "power", "--control-port", port, "--connector", "2", "3700").returncode == 0
    assert chargerctl("sim", "fault", "--control-port", port, "--connector", "2", "welded").returncode == 0
    with SimClient(simboard.control_port) as sim:
        one, two = sim.state()
    assert one["plugged"] is False and two["plugged"] is True
    assert two["fault"] == "welded"

    assert chargerctl("sim", "fault", "--control-port", port, "--connector", "2", "none").returncode == 0
    text = chargerctl("sim", "state", "--control-port", port).stdout
    assert "connector 1: unplugged" in text and "fault none" in text


def test_refusal_and_unreachable_are_errors_for_people(simboard, tmp_path):
    proc = chargerctl("sim", "plug", "--control-port", simboard.control_port, "--connector", "9")
    assert proc.returncode == 9
    assert "connector must be 1..2" in proc.stderr
    with SimClient(simboard.control_port) as sim, pytest.raises(SimError):
        sim.power(1, -5)
    proc = chargerctl("sim", "state", "--control-port", free_tcp_port())
    assert proc.returncode == 9 and "no sim control server" in proc.stderr


def test_display_is_saved_as_png(simboard, tmp_path):
    png = tmp_path / "screen.png"
    proc = chargerctl("display", "--control-port", simboard.control_port, "--png", png, "--scale", "2")
    assert proc.returncode == 0, proc.stderr
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (256, 128)
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]


def test_logs_follow_the_console_without_interrupting(simboard):
    """`logs` only listens: the firmware keeps running (no reboot, sim still answers)."""
    boots = simboard.boots
    out = {}
    follower = threading.Thread(target=lambda: out.update(
        p=chargerctl("logs", "--port", simboard.port, "--duration", "2.5", "--json")))
    follower.start()
    with SimClient(simboard.control_port) as sim:
        # Events keep coming while the follower starts (a Python start-up), as on a live board.
        for _ in range(7):
            sim.plug(2, False)
            time.sleep(0.25)
    follower.join(10)
    proc = out["p"]
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert any("sim" in x["line"] and "plug" in x["line"] for x in lines), lines
    assert all(x["time"][:4].isdigit() for x in lines)
    assert simboard.boots == boots
    with SimClient(simboard.control_port) as sim:
        assert sim.state()[1]["plugged"] is False


def test_devices_json_is_a_list():
    proc = chargerctl("devices", "--json")
    assert proc.returncode == 0
    assert isinstance(json.loads(proc.stdout), list)


def test_image_refused_for_a_virtual_board(vboard, config_file, firmware, tmp_path):
    require_schema()
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    proc = chargerctl("flash", "--port", vboard.port, "--board", "unix-sim", "--config", config_file,
                      "--firmware-dir", firmware, "--image", image)
    assert proc.returncode == 7
    assert "virtual board" in proc.stderr
