"""The virtual board's sim control server, spoken to from CPython over loopback TCP while the
firmware's unix-sim board runs in a real MicroPython process (protocol in contracts.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest
import zxingcpp
from PIL import Image

from host_tools import BOARDS_DIR
from host_tools.display_png import fetch_display, framebuffer_to_png
from host_tools.micropython import micropython_binary, micropython_path

URL = "https://app.plugchoice.com/p/ABC123"

# Stands in for the app: builds the board, shows the code, closes relay 1, runs the board's
# tasks and reads the meters every 20 ms the way the app's sampling task does.
_APP = """
import asyncio, json
from evse.hal import MeterError
from evse.hal.board import build
with open(%(board)r) as f:
    board = build(json.load(f), %(config)r)
board.display.show("ABC123", %(url)r, [(1, "Charging"), (2, "Available")])
board.outlets[0].relay.close()

async def main():
    for t in board.tasks():
        asyncio.create_task(t)
    while True:
        for i, o in enumerate(board.outlets):
            try:
                await o.meter.read()
            except MeterError:
                print("meter_lost", i + 1)
        await asyncio.sleep_ms(20)

asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def raw(self, line: bytes) -> dict:
        self.sock.sendall(line + b"\n")
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n", 1)
        return json.loads(reply)

    def __call__(self, **msg) -> dict:
        return self.raw(json.dumps(msg).encode())

    def close(self):
        self.sock.close()


@pytest.fixture
def board(tmp_path):
    port = free_port()
    config = {"sim": {"ev_plugged": True, "power_w": 7400}}
    code = _APP % {"board": str(BOARDS_DIR / "unix-sim.json"), "config": config, "url": URL}
    env = dict(os.environ, MICROPYPATH=micropython_path(), EVSE_SIM_PORT=str(port))
    console = open(tmp_path / "console.log", "w")  # a file, so a chatty board never blocks on a full pipe
    proc = subprocess.Popen([micropython_binary(), "-c", code], cwd=tmp_path, env=env,
                            stdout=console, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    client = None
    while client is None:
        try:
            client = Client(port)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sim control server did not start: {(tmp_path / 'console.log').read_text()}")
            time.sleep(0.05)
    yield client, port, tmp_path
    client.close()
    proc.kill()
    proc.wait(timeout=5)
    console.close()


def wait_for(client, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = client(cmd="state")
        if pred(st):
            return st
        time.sleep(0.02)
    raise AssertionError(f"condition not reached; last state {st}")


def test_state_shape(board):
    client, _, _ = board
    st = client(cmd="state")
    assert st["ok"] is True
    c1, c2 = st["connectors"]
    assert set(c1) >= {"id", "plugged", "relay_closed", "power_w", "energy_wh", "fault"}
    # the EV's 7.4 kW capped by what the pilot offers: the virtual board's 32 A x 230 V
    assert (c1["id"], c1["plugged"], c1["relay_closed"], c1["power_w"], c1["fault"]) == (1, True, True, 7360, None)
    assert (c1["ev_power_w"], c1["offered_a"]) == (7400, 32)
    assert (c2["id"], c2["relay_closed"], c2["power_w"]) == (2, False, 0)


def test_energy_grows_while_charging_and_is_persisted(board):
    client, _, flash = board
    st = wait_for(client, lambda s: s["connectors"][0]["energy_wh"] > 0.5)
    assert st["connectors"][1]["energy_wh"] == 0.0
    assert json.loads((flash / "data" / "simmeter_1.json").read_text())["energy_wh"] > 0


def test_plug_and_power_commands(board):
    client, _, _ = board
    assert client(cmd="power", connector=1, power_w=3700) == {"ok": True}
    wait_for(client, lambda s: s["connectors"][0]["power_w"] == 3700)
    assert client(cmd="plug", connector=1, plugged=False) == {"ok": True}
    st = wait_for(client, lambda s: not s["connectors"][0]["plugged"])
    assert st["connectors"][0]["power_w"] == 0
    e = st["connectors"][0]["energy_wh"]
    time.sleep(0.1)
    assert client(cmd="state")["connectors"][0]["energy_wh"] == e  # unplugged: no energy


def test_fault_commands(board):
    client, _, flash = board
    assert client(cmd="fault", connector=2, fault="welded") == {"ok": True}
    st = client(cmd="state")
    assert st["connectors"][1]["fault"] == "welded" and st["connectors"][1]["relay_closed"] is True
    assert client(cmd="fault", connector=1, fault="meter_lost") == {"ok": True}
    assert client(cmd="state")["connectors"][0]["power_w"] == 0
    deadline = time.monotonic() + 5
    while "meter_lost 1" not in (flash / "console.log").read_text():  # the app's read raised MeterError
        assert time.monotonic() < deadline, "the lost meter still answered"
        time.sleep(0.02)
    assert client(cmd="fault", connector=1, fault=None) == {"ok": True}
    assert client(cmd="state")["connectors"][0]["fault"] is None


def test_display_command_gives_a_decodable_framebuffer(board, tmp_path):
    client, port, _ = board
    reply = client(cmd="display")
    assert (reply["ok"], reply["width"], reply["height"], reply["format"]) == (True, 128, 64, "MONO_HLSB")
    assert len(bytes.fromhex(reply["data"])) == 1024
    w, h, data = fetch_display(port)  # the host helper behind `python -m host_tools.display_png`
    png = framebuffer_to_png(w, h, data, tmp_path / "d.png")
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [URL]


@pytest.mark.parametrize("line", [
    b"not json", b"[]", b'{"cmd": "explode"}', b'{"nocmd": 1}',
    b'{"cmd": "plug", "connector": 9, "plugged": true}',
    b'{"cmd": "plug", "connector": "1", "plugged": true}',
    b'{"cmd": "plug", "connector": 1, "plugged": 1}',
    b'{"cmd": "power", "connector": 1, "power_w": "fast"}',
    b'{"cmd": "fault", "connector": 1, "fault": "melted"}',
])
def test_bad_input_gets_an_error_and_the_connection_survives(board, line):
    client, _, _ = board
    reply = client.raw(line)
    assert reply["ok"] is False and isinstance(reply["error"], str) and reply["error"]
    assert client(cmd="state")["ok"] is True
