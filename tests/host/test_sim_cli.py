"""`chargerctl sim`, `display`, `logs` and `devices` against a virtual board flashed (through
`chargerctl flash`) with the real firmware: main.py runs evse.app, whose offline charge point
drives the simulated hardware, so the power, the screen and the console are the app's own."""

from __future__ import annotations

import json
import re
import shutil
import struct
import threading
import time
import zlib

import pytest
import zxingcpp
from PIL import Image

from host_tools import FIRMWARE_DIR
from host_tools.exits import Exit
from host_tools.sim_client import SimClient, SimError
from host_tools.virtual_board import free_tcp_port
from tests.display_text import PANEL_X, SCAN_Y, STATE_Y, find_code, png_pixels, read_line
from tests.e2e.conftest import wait_until
from tests.host.conftest import chargerctl, require_schema

# No central system answers (port 9): the charge point stays offline, and a card (idTag) at the
# reader starts a transaction offline, so the relay closes and the EV draws power.
OFFLINE_TX = {"AllowOfflineTxForUnknownId": True, "LocalAuthorizeOffline": True}


@pytest.fixture
def appboard(vboard, firmware, good_config, tmp_path):
    require_schema()
    shutil.copy(FIRMWARE_DIR / "main.py", firmware / "main.py")
    cfg = dict(good_config, sim={"ev_plugged": True, "power_w": 7400}, ocpp=OFFLINE_TX)
    config = tmp_path / "app-config.json"
    config.write_text(json.dumps(cfg))
    mark = vboard.console_mark()
    proc = chargerctl("flash", "--port", vboard.port, "--board", "unix-sim", "--config", config,
                      "--firmware-dir", firmware, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    vboard.wait_for_console("app started", timeout=30, since=mark)
    SimClient(vboard.control_port, connect_wait=5).close()
    return vboard


def sim_state(board) -> list[dict]:
    proc = chargerctl("sim", "state", "--control-port", board.control_port, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def drawn_power_w(board, connector: int, seconds: float = 2.0) -> float:
    """What the simulated meter counts: its energy register's rise over `seconds`, as watts."""
    with SimClient(board.control_port) as sim:
        t0, e0 = time.monotonic(), sim.state()[connector - 1]["energy_wh"]
        time.sleep(seconds)
        t1, e1 = time.monotonic(), sim.state()[connector - 1]["energy_wh"]
    return (e1 - e0) * 3600 / (t1 - t0)


def test_sim_power_changes_what_the_ev_draws_and_the_meter_counts(appboard):
    """The app closes the relay for a card presented offline; `sim power` then changes what
    the EV draws, and the meter register rises at the new rate."""
    with SimClient(appboard.control_port) as sim:
        sim.request({"cmd": "idtag", "connector": 1, "id_tag": "BENCH1"})
    appboard.wait_for_console("tx start connector=1", timeout=15)
    wait_until(lambda: sim_state(appboard)[0]["relay_closed"], 10, "relay 1 closed by the app")
    assert sim_state(appboard)[0]["power_w"] == 7360  # 7.4 kW on the board's 32 A offer
    before = drawn_power_w(appboard, 1)
    assert 5500 < before < 9500, before

    proc = chargerctl("sim", "power", "--control-port", appboard.control_port, "--connector", "1", "3700")
    assert proc.returncode == 0, proc.stderr
    one, two = sim_state(appboard)
    assert (one["power_w"], one["ev_power_w"]) == (3700, 3700)
    assert two["power_w"] == 0 and two["relay_closed"] is False  # no transaction there
    after = drawn_power_w(appboard, 1)
    assert 2500 < after < 5000, after  # 3.7 kW, not the 7.4 kW of before


def test_state_plug_fault_round_trip(appboard):
    port = str(appboard.control_port)
    state = sim_state(appboard)
    assert [c["id"] for c in state] == [1, 2]
    assert state[0]["plugged"] is True

    assert chargerctl("sim", "plug", "--control-port", port, "--connector", "1", "--unplugged").returncode == 0
    assert chargerctl("sim", "fault", "--control-port", port, "--connector", "2", "welded").returncode == 0
    one, two = sim_state(appboard)
    assert one["plugged"] is False and two["plugged"] is True
    assert two["fault"] == "welded"
    # The app sees the unplugged EV (the console says so) and the welded relay (Faulted).
    appboard.wait_for_console("status connector=1 state=Available", timeout=10)
    appboard.wait_for_console("status connector=2 state=Faulted", timeout=10)

    assert chargerctl("sim", "fault", "--control-port", port, "--connector", "2", "none").returncode == 0
    text = chargerctl("sim", "state", "--control-port", port).stdout
    assert "connector 1: unplugged" in text and "fault none" in text


def test_refusal_and_unreachable_are_errors_for_people(appboard, tmp_path):
    proc = chargerctl("sim", "plug", "--control-port", appboard.control_port, "--connector", "9")
    assert proc.returncode == 9
    assert "connector must be 1..2" in proc.stderr
    with SimClient(appboard.control_port) as sim, pytest.raises(SimError):
        sim.power(1, -5)
    proc = chargerctl("sim", "state", "--control-port", free_tcp_port())
    assert proc.returncode == 9 and "no sim control server" in proc.stderr


def screen(board, png, scale: int = 2):
    proc = chargerctl("display", "--control-port", board.control_port, "--png", png, "--scale", scale)
    assert proc.returncode == 0, proc.stderr
    return png_pixels(png, scale)


def test_display_png_shows_what_the_app_draws(appboard, tmp_path):
    """The app's screen through `chargerctl display`: the QR code decodes to the public URL,
    the public code reads back on one line, "Scan to pay", each connector in words (the EV is
    plugged in on both: Ready; unplugged: Available), the offline banner lit at the bottom."""
    png = tmp_path / "screen.png"
    pixel = screen(appboard, png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (256, 128)
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == ["https://app.plugchoice.com/p/ABC123"]
    assert find_code(pixel) == "ABC123"
    assert read_line(pixel, PANEL_X, SCAN_Y) == "Scan to pay"
    assert [read_line(pixel, PANEL_X, STATE_Y + 9 * i) for i in range(2)] == ["1 Ready", "2 Ready"]
    assert pixel(PANEL_X, 63) and pixel(127, 63)  # the offline banner

    assert chargerctl("sim", "plug", "--control-port", appboard.control_port, "--connector", "2",
                      "--unplugged").returncode == 0
    wait_until(lambda: read_line(screen(appboard, png), PANEL_X, STATE_Y + 9) == "2 Available", 10,
             "the screen saying connector 2 is available")


def test_logs_follow_the_console_without_interrupting(appboard):
    """`logs` only listens: the firmware keeps running (no reboot, sim still answers), and the
    app's own reaction to the EV shows in what it follows."""
    boots = appboard.boots
    out = {}
    follower = threading.Thread(target=lambda: out.update(
        p=chargerctl("logs", "--port", appboard.port, "--duration", "2.5", "--json")))
    follower.start()
    with SimClient(appboard.control_port) as sim:
        # Events keep coming while the follower starts (a Python start-up), as on a live board.
        for i in range(7):
            sim.plug(2, i % 2 == 1)
            time.sleep(0.25)
    follower.join(10)
    proc = out["p"]
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    live = [x for x in lines if not x.get("backlog")]  # the backlog has no time of its own
    assert any("sim" in x["line"] and "plug" in x["line"] for x in live), lines
    assert any(re.search(r"status connector=2 state=(Available|Preparing)", x["line"]) for x in live), lines
    assert live and all(x["time"][:4].isdigit() for x in live)
    assert appboard.boots == boots
    with SimClient(appboard.control_port) as sim:
        assert sim.state()[1]["plugged"] is False


def test_devices_json_is_a_list():
    proc = chargerctl("devices", "--json")
    found = json.loads(proc.stdout)
    assert isinstance(found, list)
    assert proc.returncode == (Exit.OK if found else Exit.NOTHING_FOUND)  # a script can test it


def test_image_refused_for_a_virtual_board(vboard, config_file, firmware, tmp_path):
    require_schema()
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    proc = chargerctl("flash", "--port", vboard.port, "--board", "unix-sim", "--config", config_file,
                      "--firmware-dir", firmware, "--image", image)
    assert proc.returncode == 7
    assert "virtual board" in proc.stderr
