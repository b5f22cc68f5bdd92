"""Client for a virtual board's simulated hardware (the sim control protocol in contracts.md).

One JSON object per line to 127.0.0.1:<control_port>, one JSON line back:

    with SimClient(vb.control_port) as sim:
        sim.state()                         # [{"id": 1, "plugged": True, "relay_closed": False, ...}]
        sim.plug(1, False)                  # unplug the EV on connector 1
        sim.power(1, 3700)                  # what the EV draws when the relay lets it
        sim.fault(1, "welded")              # or "meter_lost", or None to clear
        width, height, data = sim.display() # MONO_HLSB framebuffer bytes

A refused command raises SimError with the server's reason; no server raises SimUnreachable.
The server lives in the firmware, so it only answers while the firmware runs (not while a
host tool holds the raw REPL).
"""

from __future__ import annotations

import json
import socket
import time


class SimError(Exception):
    """The control server answered {"ok": false, "error": ...}."""


class SimUnreachable(SimError):
    """Nothing answers on the control port (board not running, or not a virtual board)."""


class SimClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 connect_wait: float = 0.0) -> None:
        """`connect_wait`: keep retrying the connection this long (a board that is booting)."""
        self.address = (host, int(port))
        self.timeout = timeout
        deadline = time.monotonic() + connect_wait
        while True:
            try:
                self._sock = socket.create_connection(self.address, timeout=timeout)
                break
            except OSError as e:
                if time.monotonic() >= deadline:
                    raise SimUnreachable(
                        f"no sim control server on {host}:{port} ({e.strerror or e}); is the "
                        "virtual board running its firmware?") from e
                time.sleep(0.1)
        self._file = self._sock.makefile("rb")

    def request(self, msg: dict) -> dict:
        try:
            self._sock.sendall(json.dumps(msg).encode() + b"\n")
            line = self._file.readline()
        except OSError as e:
            raise SimUnreachable(f"sim control server on {self.address[0]}:{self.address[1]} "
                                 f"went away: {e}") from e
        if not line:
            raise SimUnreachable("the sim control server closed the connection (board restarting?)")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise SimError(reply.get("error") or f"refused: {reply}")
        return reply

    def state(self) -> list[dict]:
        return self.request({"cmd": "state"})["connectors"]

    def plug(self, connector: int, plugged: bool) -> None:
        self.request({"cmd": "plug", "connector": connector, "plugged": plugged})

    def power(self, connector: int, power_w: float) -> None:
        self.request({"cmd": "power", "connector": connector, "power_w": power_w})

    def fault(self, connector: int, fault: str | None) -> None:
        self.request({"cmd": "fault", "connector": connector, "fault": fault})

    def display(self) -> tuple[int, int, bytes]:
        reply = self.request({"cmd": "display"})
        if reply.get("format", "MONO_HLSB") != "MONO_HLSB":
            raise SimError(f"unexpected framebuffer format {reply.get('format')!r}")
        return reply["width"], reply["height"], bytes.fromhex(reply["data"])

    def close(self) -> None:
        for closer in (self._file.close, self._sock.close):
            try:
                closer()
            except OSError:
                pass

    def __enter__(self) -> SimClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
