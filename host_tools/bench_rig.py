"""A bench on loopback: the local backend plus a flashed virtual board, for demos and tests.

Everything runs the way a user would run it: `chargerctl backend` as a subprocess (tmp db, a
chargers file with one bench charger), a `VirtualBoard` with a blank flash folder, flashed with
the same deploy code as `chargerctl flash --board unix-sim`, and a config pointing at the
backend. `make demo`, `chargerctl commission` tests and the end-to-end tests all use it.

    from host_tools.bench_rig import bench_rig

    with bench_rig(tmp_path, code="DEMO42") as rig:
        rig.api                    # "http://127.0.0.1:P/api/v3" (give it to driver.Client)
        rig.port                   # the virtual board's pty, e.g. "/dev/pts/7"
        rig.code, rig.identity     # public code and OCPP identity of the bench charger
        rig.sim({"cmd": "state"})  # the simulated hardware's control server
        rig.connector_state(1)     # {"id":1,"plugged":..,"relay_closed":..,"energy_wh":..}
        rig.save_display(path)     # the board's display as a PNG (its QR code: rig.page_url)
        rig.wait_online()          # until the backend's lookup says online
        rig.backend.stop() / .start()   # a backend outage (same port and db)
        rig.board.kill()           # a power loss; the board boots again from its flash
    # leaving the block stops the board and the backend, also on an exception or Ctrl-C

Pieces usable alone: `LocalBackend(workdir, chargers)` (a context manager too) and
`flash_virtual_board(board, config)`. `bench_config(...)` is the board config the rig uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from host_tools import driver
from host_tools.children import die_with_parent
from host_tools.scan_to_pay import page_url_for

# Small OCPP intervals so a demo or a test sees energy within seconds (intervals are config).
BENCH_OCPP = {"HeartbeatInterval": 30, "MeterValueSampleInterval": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_charger(identity: str = "CP-BENCH", code: str = "DEMO42", connectors: int = 1,
                  **overrides: Any) -> dict:
    """One entry of the chargers file (format in ARCHITECTURE.md)."""
    entry = {"identity": identity, "name": "Bench charger", "public_code": code,
             "public_charging": True, "connectors": connectors,
             "pricing": {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50},
             "preauth_amount": 5000, "max_sessions_per_hour": 10, "authorization_key": None}
    entry.update(overrides)
    return entry


class BackendFailed(RuntimeError):
    """The backend process did not come up; the message ends with its log's tail."""


class LocalBackend:
    """`chargerctl backend` in a subprocess on a free loopback port, with a tmp db."""

    def __init__(self, workdir: str | os.PathLike, chargers: list[dict], *,
                 port: int | None = None, echo: bool = False, extra_args: list[str] | None = None,
                 env: dict | None = None):
        self.workdir = Path(workdir)
        self.chargers = chargers
        self.port = port or free_port()
        self.db = self.workdir / "backend.db"
        self.chargers_file = self.workdir / "chargers.json"
        self.log_path = self.workdir / "backend.log"
        self.echo = echo
        self.extra_args = extra_args or []
        self.env = env
        self._proc: subprocess.Popen | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    @property
    def ws_url(self) -> str:
        """The board's csms_url: the firmware appends /{charge_point_id}."""
        return f"ws://127.0.0.1:{self.port}/ocpp"

    @property
    def page_url(self) -> str:
        """The board's public_url: the driver's Scan to Pay page of this backend."""
        return f"http://127.0.0.1:{self.port}/p/{{public_code}}"

    def start(self, timeout: float = 20.0) -> LocalBackend:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.chargers_file.write_text(json.dumps({"chargers": self.chargers}, indent=2))
        argv = [sys.executable, "-m", "host_tools.cli", "backend", "--host", "127.0.0.1",
                "--port", str(self.port), "--db", str(self.db),
                "--chargers", str(self.chargers_file), *self.extra_args]
        log = None if self.echo else open(self.log_path, "ab")  # noqa: SIM115 - closed in stop
        self._log = log
        self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                      env={**os.environ, **(self.env or {})},
                                      # new session: Ctrl-C goes to us, not to it
                                      preexec_fn=lambda: die_with_parent(new_session=True))
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        probe = f"{self.api}/public-charging/chargers/__ready_probe__"
        while True:
            if self._proc.poll() is not None:
                raise BackendFailed(f"the backend exited with {self._proc.returncode}: "
                                    f"{self.log_tail()}")
            try:
                httpx.get(probe, timeout=1.0)  # any HTTP answer (404) means it serves
                return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise BackendFailed(f"the backend did not answer on port {self.port} within "
                                    f"{timeout:g} s: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bench_config(identity: str, code: str, csms_url: str, *, connectors: int = 1,
                 power_w: int = 7400, ev_plugged: bool = True, control_port: int | None = None,
                 ocpp: dict | None = None, **extra: Any) -> dict:
    """The virtual board's config.json: points at the backend, simulated EV plugged in, and
    the display's QR code leads to that backend's Scan to Pay page."""
    cfg = {"charge_point_id": identity, "csms_url": csms_url, "public_code": code,
           "connectors": connectors,
           "sim": {"ev_plugged": ev_plugged, "power_w": power_w,
                   "control_port": control_port or free_port()},
           "ocpp": dict(BENCH_OCPP if ocpp is None else ocpp)}
    page = page_url_for(csms_url)
    if page:
        cfg["public_url"] = page
    cfg.update(extra)
    return cfg


def flash_virtual_board(port: str, config: dict, board: str = "unix-sim",
                        reporter: Any = None) -> Any:
    """`chargerctl flash --board unix-sim` as a function: the same deploy code path."""
    from host_tools import flash

    image = flash.build_image()
    board_dict, board_raw = flash.load_board(board)
    checked = flash.check_config(config, board_dict)
    return flash.deploy(port, image, board_raw, checked, reporter=reporter)


def sim_command(control_port: int, cmd: dict, timeout: float = 5.0,
                connect_wait: float = 0.0) -> dict:
    """One request to the simulated hardware (host_tools/sim_client.py); raises SimError.
    `connect_wait`: retry the connection this long (a board that is booting)."""
    from host_tools.sim_client import SimClient

    with SimClient(control_port, timeout=timeout, connect_wait=connect_wait) as sim:
        return sim.request(cmd)


@dataclass
class Rig:
    backend: LocalBackend
    board: Any  # host_tools.virtual_board.VirtualBoard
    config: dict
    code: str
    identity: str

    @property
    def api(self) -> str:
        return self.backend.api

    @property
    def port(self) -> str:
        return self.board.port

    @property
    def page_url(self) -> str:
        """The Scan to Pay page of this bench charger (what its display's QR code encodes)."""
        return self.backend.page_url.replace("{public_code}", self.code)

    @property
    def control_port(self) -> int:
        return self.config["sim"]["control_port"]

    def client(self) -> driver.Client:
        return driver.Client(self.api)

    def sim(self, cmd: dict) -> dict:
        # After a restart the control server listens a moment after the app starts.
        return sim_command(self.control_port, cmd, connect_wait=5.0)

    def connector_state(self, connector: int = 1) -> dict:
        for c in self.sim({"cmd": "state"})["connectors"]:
            if c.get("id") == connector:
                return c
        raise KeyError(f"the simulated hardware has no connector {connector}")

    def save_display(self, path: str | os.PathLike, scale: int = 4) -> Path:
        from host_tools.display_png import framebuffer_to_png

        frame = self.sim({"cmd": "display"})
        framebuffer_to_png(frame["width"], frame["height"], bytes.fromhex(frame["data"]),
                           str(path), scale=scale)
        return Path(path)

    def wait_online(self, timeout: float = 30.0, online: bool = True) -> dict:
        """Poll the public lookup (its limit is 30/min: every 2 s) until online is `online`."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                try:
                    data = client.charger(self.code)
                except driver.RateLimited as err:  # 30 lookups/min per IP, shared with the test
                    time.sleep(min(err.retry_after or driver.MIN_POLL_S, 10.0))
                    data = {}
                if data and bool(data.get("online")) == online:
                    return data
                if time.monotonic() + driver.MIN_POLL_S > deadline:
                    raise TimeoutError(
                        f"charger {self.code} not {'online' if online else 'offline'} within "
                        f"{timeout:g} s; board console: {self.board.console_text()[-800:]!r}; "
                        f"backend log: {self.backend.log_tail(800)!r}")
                time.sleep(driver.MIN_POLL_S)


@contextlib.contextmanager
def bench_rig(workdir: str | os.PathLike, *, code: str = "DEMO42", identity: str = "CP-BENCH",
              connectors: int = 1, charger: dict | None = None, config: dict | None = None,
              csms_url: str | None = None, heapsize: str | None = None,
              micropython: str | None = None, echo: bool = False,
              wait_online: bool = True, online_timeout: float = 30.0,
              backend_args: list[str] | None = None,
              on_stage: Callable[[str, str], None] | None = None) -> Iterator[Rig]:
    """Backend + flashed virtual board, torn down on exit (see the module doc).

    `charger` overrides fields of the chargers-file entry; `config` overrides fields of the
    board config (e.g. `{"sim": {...}}`); `csms_url` points the board elsewhere (an offline
    board); `wait_online=False` skips waiting for the board to connect; `backend_args` go to
    `chargerctl backend` (e.g. `["--rate-limit", "start=30"]` for a test module that starts
    many sessions). `heapsize` (e.g. "80k") and `micropython` (another unix-port binary, such
    as the 32-bit build of tests/builds.py) hold the board to an ESP32's budget. `on_stage(key, text)` narrates: keys "backend", "board", "flash", "online"
    as each starts, and the same with ".ready"/".done" and details when it is done.
    """
    from host_tools.virtual_board import VirtualBoard

    def stage(key: str, text: str) -> None:
        if on_stage:
            on_stage(key, text)

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    entry = bench_charger(identity, code, connectors, **(charger or {}))
    with contextlib.ExitStack() as stack:
        stage("backend", "starting the local backend")
        backend = stack.enter_context(LocalBackend(workdir / "backend", [entry],
                                                   extra_args=backend_args))
        stage("backend.ready", f"API {backend.api}, OCPP {backend.ws_url}/{identity}")
        cfg = bench_config(identity, code, csms_url or backend.ws_url, connectors=connectors)
        cfg.update(config or {})
        stage("board", "starting a virtual board")
        board = stack.enter_context(VirtualBoard(workdir / "flash", heapsize=heapsize,
                                                 control_port=cfg["sim"]["control_port"],
                                                 echo=echo, micropython=micropython))
        stage("board.ready", f"serial port {board.port}, flash folder {board.flash_dir}")
        stage("flash", f"flashing the firmware to {board.port}")
        boots = board.boots
        result = flash_virtual_board(board.port, cfg)
        board.wait_boot(boots + 1, timeout=10)  # the deploy's restart has happened
        stage("flash.done", f"{len(result.copied)} files, {result.bytes_copied} bytes in "
                            f"{result.seconds:.1f} s; the board restarted")
        rig = Rig(backend, board, cfg, code.upper(), identity)
        if wait_online:
            stage("online", f"waiting for charger {rig.code} to come online")
            data = rig.wait_online(online_timeout)
            stage("online.done", f"{data.get('name')} is online")
        yield rig
