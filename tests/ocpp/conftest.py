"""The firmware in the unix port against a central system built on the `ocpp` package.

`station` starts the real firmware (compiled to .mpy, as on a board) in a tmp flash folder and
a CSMS on 127.0.0.1; it restarts the firmware whenever the interpreter exits (a reset), like
the virtual board. Every frame the firmware sends is validated against the official OCPP 1.6
JSON schemas shipped in the `ocpp` package (the package also validates what it receives).

Every test runs on the 64-bit PyPI unix port and on the 32-bit build from MicroPython's source
(`mp_build`, see tests/builds.py; skipped with the way to enable it when not built), with the
same .mpy files, as a board with a stock image gets them.
"""

from __future__ import annotations

import asyncio
import decimal
import json
import os
import re
import shutil
import signal
import socket
from pathlib import Path

import jsonschema
import ocpp
import pytest
import websockets
from ocpp.exceptions import GenericError
from ocpp.routing import on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action

from host_tools.micropython import micropython_binary
from tests import builds

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
CALLERROR_CODES = {"NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
                   "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
                   "TypeConstraintViolation", "GenericError"}
FAST = {"HeartbeatInterval": 30, "MeterValueSampleInterval": 1, "ConnectionTimeOut": 5,
        "TransactionMessageRetryInterval": 1, "ReconnectBackoffMax": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# On 32 bits a representative subset runs, to keep `make test` under 10 minutes on 2 cores
# (measured: the whole folder on unix32 takes 77 s, the journal's SIGKILL runs 28 s of it):
# the journal's power-loss runs test restarts and file order, nothing that depends on pointer or
# small-int size, and the journal's own arithmetic (struct ">I" index, offsets) runs on unix32 in
# tests/firmware/test_journal.py.
# A single test whose 32-bit run adds only time carries `@pytest.mark.unix64_only(why)`: the
# cases where the word size matters stay on unix32 (memory, ticks arithmetic and intervals,
# times and other numbers past 2**30, hostile input), the plain control flow runs once.
_64_BIT_ONLY = {"test_offline_journal.py": "power-loss runs: pointer-size independent; the journal's "
                "32-bit arithmetic is tests/firmware/test_journal.py[unix32]",
                "test_clear_cache.py": "the cache's control flow: pointer-size independent"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("mp_build") != "unix32":
            continue
        mark = item.get_closest_marker("unix64_only")
        why = mark.args[0] if mark else _64_BIT_ONLY.get(item.path.name)
        if why:
            item.add_marker(pytest.mark.skip(reason=f"unix32 subset: {why}"))


@pytest.fixture(scope="session", params=["unix64", "unix32"])
def mp_build(request) -> str:
    """The unix-port build the firmware runs on (tests/builds.py)."""
    if builds.binary(request.param) is None:
        pytest.skip(builds.SKIP_REASON)
    return request.param


@pytest.fixture(scope="session")
def micropython(mp_build) -> str:
    return builds.binary(mp_build)


def build_lib(lib: Path) -> Path:
    """The firmware package as `chargerctl flash` deploys it (host_tools.flash.build_image: .mpy
    with relative source names, which are qstrs in the heap: absolute ones cost ~1.3 KB more),
    laid out in `lib` like /lib on a board."""
    from host_tools.flash import build_image
    for path, data in build_image().files.items():
        if path.startswith("lib/"):
            dst = lib / path[4:]
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(data)
    return lib


@pytest.fixture(scope="session")
def firmware_lib(tmp_path_factory) -> Path:
    """One per session: the .mpy files are the same for every build, as a stock image of any
    port loads them."""
    return build_lib(tmp_path_factory.mktemp("lib"))


def board_build(build: str, tmp_path_factory) -> tuple[str, Path]:
    """The interpreter of a 32-bit `build` (the test is skipped when it is not built) and the lib
    folder its firmware loads from: an empty one for the frozen build (evse is in the binary),
    else the .mpy firmware as a board gets it (build_lib)."""
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    if builds.frozen(build):
        return binary, tmp_path_factory.mktemp("empty-lib")
    return binary, build_lib(tmp_path_factory.mktemp("mpy-lib"))


_schemas: dict[str, dict] = {}


def schema_errors(action: str, payload, response: bool) -> list[str]:
    # Numbers as decimals, schema and payload alike, as the `ocpp` package checks them: 0.3 is a
    # multiple of 0.1 (a composite schedule's limit), which no binary float is.
    name = action + ("Response" if response else "")
    if name not in _schemas:
        _schemas[name] = json.loads((SCHEMAS / f"{name}.json").read_text(), parse_float=decimal.Decimal)
    v = jsonschema.Draft4Validator(_schemas[name])
    payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    return [f"{name}: {e.message}" for e in v.iter_errors(payload)]


_waiting: list[asyncio.Future] = []  # the waits (Server.wait, Firmware.wait_log) between polls


def recorded():
    """Something was recorded (a frame, a message the central system handled, a console line):
    every wait looks again now instead of at its next poll."""
    while _waiting:
        f = _waiting.pop()
        if not f.done():
            f.set_result(None)


async def _until_recorded(timeout: float):
    """Sleep until the next record, `timeout` s at most (for what nobody announces)."""
    f = asyncio.get_running_loop().create_future()
    _waiting.append(f)
    try:
        await asyncio.wait_for(f, timeout)
    except TimeoutError:
        pass
    finally:
        if f in _waiting:
            _waiting.remove(f)


class Recorder:
    """The server side of the WebSocket, keeping every frame in both directions."""

    def __init__(self, ws, log: list):
        self.ws = ws
        self.log = log

    async def recv(self):
        text = await self.ws.recv()
        self.log.append(("cp", text))
        recorded()
        return text

    async def send(self, text):
        await self.ws.send(text)
        self.log.append(("cs", text))  # only what actually went out
        recorded()


def charge_point_calls(log: list) -> tuple[list, list]:
    """The charge point's CALLs as (action, payload, last), split into answered and unanswered;
    `last` is True for the final CALL of a connection. The charge point has at most one CALL
    outstanding, so an answer belongs to the CALL just before it."""
    answered, unanswered, pending = [], [], None
    for side, text in log + [("open", "")]:
        if side == "open":  # a new connection (or the end of the log)
            if pending:
                unanswered.append(pending[1:] + (True,))
            elif answered:
                answered[-1] = answered[-1][:2] + (True,)
            pending = None
            continue
        msg = json.loads(text)
        if side == "cp" and msg[0] == 2:
            if pending:
                unanswered.append(pending[1:] + (False,))
            pending = (msg[1], msg[2], msg[3])
        elif side == "cs" and msg[0] in (3, 4) and pending and msg[1] == pending[0]:
            answered.append(pending[1:] + (False,))
            pending = None
    return answered, unanswered


def frame_problems(log: list) -> list[str]:
    """Every frame the charge point sent, checked against the official schemas."""
    problems, ours = [], {}
    for side, text in log:
        if side == "open":
            continue
        try:
            msg = json.loads(text)
        except ValueError:
            if side == "cp":
                problems.append(f"not JSON: {text!r}")
            continue
        if side == "cs":
            if isinstance(msg, list) and msg and msg[0] == 2:
                ours[msg[1]] = msg[2]
            continue
        if not isinstance(msg, list) or msg[0] not in (2, 3, 4) or not isinstance(msg[1], str) or len(msg[1]) > 36:
            problems.append(f"bad frame {text}")
        elif msg[0] == 2:
            problems += schema_errors(msg[2], msg[3], False) if len(msg) == 4 else [f"bad CALL {text}"]
        elif msg[0] == 3:
            if msg[1] in ours:
                problems += schema_errors(ours[msg[1]], msg[2], True)
        elif len(msg) != 5 or msg[2] not in CALLERROR_CODES or not isinstance(msg[3], str) or not isinstance(msg[4], dict):
            problems.append(f"bad CALLERROR {text}")
    return problems


class CSMS(ChargePoint):
    """A central system that records what it receives and answers as the test configures."""

    def __init__(self, cp_id, conn, server):
        super().__init__(cp_id, conn, response_timeout=10)
        self.server = server
        self.got = server.got

    def _note(self, action, **kw):
        self.got.append((action, kw))
        recorded()

    @on(Action.boot_notification)
    def on_boot(self, **kw):
        self._note("BootNotification", **kw)
        s = self.server
        status = s.boot_status.pop(0) if len(s.boot_status) > 1 else s.boot_status[0]
        return result.BootNotification(current_time=s.now(), interval=s.boot_interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **kw):
        self._note("Heartbeat", **kw)
        return result.Heartbeat(current_time=self.server.now())

    @on(Action.status_notification)
    def on_status(self, **kw):
        self._note("StatusNotification", **kw)
        if self.server.fail_status:
            self.server.fail_status -= 1
            raise GenericError("refusing StatusNotification for the test")
        return result.StatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **kw):
        self._note("FirmwareStatusNotification", **kw)
        return result.FirmwareStatusNotification()

    # The other notifications of the FirmwareManagement profile and the security whitepaper:
    # recorded and answered, as a central system does (left to the `ocpp` package they would be
    # answered NotImplemented, and the charge point would drop them)
    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **kw):
        self._note("DiagnosticsStatusNotification", **kw)
        return result.DiagnosticsStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status(self, **kw):
        self._note("LogStatusNotification", **kw)
        return result.LogStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event(self, **kw):
        self._note("SecurityEventNotification", **kw)
        return result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status(self, **kw):
        self._note("SignedFirmwareStatusNotification", **kw)
        return result.SignedFirmwareStatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **kw):
        self._note("Authorize", **kw)
        info = {"status": self.server.id_status(kw["id_tag"])}
        if kw["id_tag"] in self.server.parents:
            info["parent_id_tag"] = self.server.parents[kw["id_tag"]]
        return result.Authorize(id_tag_info=info)

    @on(Action.start_transaction)
    async def on_start(self, **kw):
        self._note("StartTransaction", **kw)
        if self.server.hang_start:
            self.server.hang_start -= 1
            await asyncio.sleep(10)  # no answer within MessageTimeout (5 s at least): the charge point gives up on the link
        if self.server.fail_start:
            self.server.fail_start -= 1
            raise GenericError("refusing StartTransaction for the test")
        self.server.next_tx += 1
        return result.StartTransaction(transaction_id=self.server.next_tx,
                                       id_tag_info={"status": self.server.id_status(kw["id_tag"])})

    @on(Action.stop_transaction)
    def on_stop(self, **kw):
        self._note("StopTransaction", **kw)
        return result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **kw):
        self._note("MeterValues", **kw)
        return result.MeterValues()


class Server:
    # a test module's central system may answer more: a CSMS subclass with its @on handlers here
    # (None: the module's CSMS, which a test may patch too)
    csms: type[CSMS] | None = None

    def __init__(self):
        self.port = free_port()
        self.got: list = []
        self.frames: list = []
        self.cps: list[CSMS] = []
        self.paths: list[str] = []
        self.auth_headers: list[str | None] = []
        self.boot_status = ["Accepted"]
        self.boot_interval = 30
        self.next_tx = 100
        self.invalid_tags: set[str] = set()
        self.parents: dict[str, str] = {}  # idTag -> the parentIdTag Authorize answers with
        self.fail_start = 0  # answer this many StartTransaction with a CALLERROR
        self.fail_status = 0  # ... and StatusNotification
        self.hang_start = 0  # leave this many StartTransaction unanswered
        self._srv = None
        self._conns: list = []
        self.connected = asyncio.Event()

    def now(self) -> str:
        from datetime import UTC, datetime
        return datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def id_status(self, tag):
        return "Invalid" if tag in self.invalid_tags else "Accepted"

    async def _handler(self, ws):
        self.paths.append(ws.request.path)
        self.auth_headers.append(ws.request.headers.get("Authorization"))
        self.frames.append(("open", ws.request.path))
        self._conns.append(ws)
        cp = (self.csms or CSMS)(ws.request.path.rsplit("/", 1)[-1], Recorder(ws, self.frames), self)
        self.cps.append(cp)
        self.connected.set()
        recorded()
        try:
            await cp.start()
        except websockets.ConnectionClosed:
            pass

    async def start(self):
        self._srv = await websockets.serve(self._handler, "127.0.0.1", self.port, subprotocols=["ocpp1.6"])

    async def stop(self):
        """Go offline: stop listening and drop the charge point's connection."""
        self.connected.clear()
        self._srv.close()
        for ws in self._conns:
            await ws.close()
        await self._srv.wait_closed()
        self._conns.clear()

    @property
    def cp(self) -> CSMS:
        return self.cps[-1]

    def actions(self, name=None):
        return [kw for a, kw in self.got if a == name] if name else [a for a, _ in self.got]

    async def wait(self, pred, timeout=10.0, what="condition"):
        """Poll `pred()` until truthy; return its value."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            v = pred()
            if v:
                return v
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}; CSMS got {self.actions()}")
            await _until_recorded(0.02)

    async def wait_msg(self, action, n=1, timeout=10.0, **match):
        def pick():
            found = [kw for kw in self.actions(action) if all(kw.get(k) == v for k, v in match.items())]
            return found if len(found) >= n else None
        return (await self.wait(pick, timeout, f"{n} x {action} {match}"))[n - 1]

    async def wait_status(self, connector, status, timeout=10.0):
        return await self.wait_msg("StatusNotification", timeout=timeout, connector_id=connector, status=status)


class Firmware:
    """micropython main.py in a flash folder; restarted when it exits, like a board resetting."""

    def __init__(self, flash: Path, lib: Path, heap: str = "256k", micropython: str | None = None,
                 stdin: bool = False):
        self.heap = heap
        self.stdin = stdin  # a pipe on the interpreter's stdin (self.proc.stdin): the serial console
        self.micropython = micropython or micropython_binary()
        self.flash = flash
        self.lib = lib
        self.lines: list[str] = []
        self.exits: list[int] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._task = None
        self._stopping = False

    async def start(self):
        self._stopping = False
        self._task = asyncio.create_task(self._supervise())
        await self.wait_log(r"app started", timeout=10)

    async def _supervise(self):
        env = dict(os.environ, MICROPYPATH=f"{self.lib}:.frozen")
        while not self._stopping:
            self.proc = await asyncio.create_subprocess_exec(
                self.micropython, "-X", f"heapsize={self.heap}", "main.py", cwd=self.flash, env=env,
                stdin=asyncio.subprocess.PIPE if self.stdin else None,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                self.lines.append(line.decode(errors="replace").rstrip())
                recorded()
            self.exits.append(await self.proc.wait())
            self.lines.append(f"@@exit {self.exits[-1]}")
            recorded()

    def log_matches(self, pattern):
        rx = re.compile(pattern)
        return [m for m in (rx.search(line) for line in self.lines) if m]

    async def wait_log(self, pattern, n=1, timeout=10.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            found = self.log_matches(pattern)
            if len(found) >= n:
                return found[n - 1]
            await _until_recorded(0.02)
        raise AssertionError(f"no log line /{pattern}/ x{n}; last lines:\n" + "\n".join(self.lines[-40:]))

    def kill(self):
        """Power loss: SIGKILL, nothing gets to run."""
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self):
        self._stopping = True
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        if self._task:
            await asyncio.wait_for(self._task, 5)


class Station:
    """A CSMS, a firmware process and the simulated EV's control port, for one test."""

    def __init__(self, tmp: Path, lib: Path, micropython: str | None = None):
        self.tmp = tmp
        self.server = Server()
        self.sim_port = free_port()
        self.fw = Firmware(tmp, lib, micropython=micropython)
        self.connectors = 1

    def write_config(self, connectors=1, ocpp_keys=None, sim=None):
        self.connectors = connectors
        board = json.loads((ROOT / "boards" / "unix-sim.json").read_text())
        (self.tmp / "board.json").write_text(json.dumps(board))
        cfg = {"charge_point_id": "CP-1", "csms_url": f"ws://127.0.0.1:{self.server.port}/ocpp",
               "public_code": "ABC123", "connectors": connectors,
               "sim": {"ev_plugged": False, "power_w": 7400, "control_port": self.sim_port, **(sim or {})},
               "ocpp": {**FAST, **(ocpp_keys or {})}}
        (self.tmp / "config.json").write_text(json.dumps(cfg))
        shutil.copy(FIRMWARE / "main.py", self.tmp / "main.py")

    async def start(self, connectors=1, ocpp_keys=None, sim=None, online=True):
        self.write_config(connectors, ocpp_keys, sim)
        if online:
            await self.server.start()
        await self.fw.start()

    async def sim(self, **cmd):
        # The simulated EV's control server listens a few ms after "app started" (at each boot):
        # a connection refused is tried again for a while, as a technician's tool would.
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while True:
            try:
                r, w = await asyncio.open_connection("127.0.0.1", self.sim_port)
                break
            except ConnectionRefusedError:
                if loop.time() > end:
                    raise
                await asyncio.sleep(0.02)
        try:
            w.write(json.dumps(cmd).encode() + b"\n")
            await w.drain()
            reply = json.loads(await asyncio.wait_for(r.readline(), 5))
        finally:
            w.close()
        assert reply.get("ok"), reply
        return reply

    async def plug(self, connector=1, plugged=True):
        await self.sim(cmd="plug", connector=connector, plugged=plugged)

    async def booted(self, timeout=10.0):
        """The first boot accepted and its StatusNotifications sent, for connector 0 and every
        connector with its state then (4.9): the test's first action comes after them, so the
        statuses it counts are its own (a state that changed before its boot report went out is
        reported as it is then, and the one it replaced never)."""
        srv = self.server
        await srv.wait_msg("BootNotification", timeout=timeout)
        await self.fw.wait_log(r"boot accepted", timeout=timeout)

        def reported():
            boot = srv.actions().index("BootNotification")
            ids = {kw["connector_id"] for a, kw in srv.got[boot + 1:] if a == "StatusNotification"}
            return ids >= set(range(self.connectors + 1))

        await srv.wait(reported, timeout, "the boot's StatusNotifications")

    async def remote_start(self, tag="TAG1", connector=1):
        from ocpp.v16 import call
        res = await self.server.cp.call(call.RemoteStartTransaction(id_tag=tag, connector_id=connector))
        return res.status

    async def remote_stop(self, transaction_id):
        from ocpp.v16 import call
        res = await self.server.cp.call(call.RemoteStopTransaction(transaction_id=transaction_id))
        return res.status

    async def raw(self, text, timeout=5.0):
        """Send a raw frame to the charge point and return its answer (parsed)."""
        cp = self.server.cp
        n = len(self.server.frames)
        await cp._connection.send(text)
        def answer():
            for side, t in self.server.frames[n:]:
                if side == "cp":
                    m = json.loads(t)
                    if m[0] in (3, 4):
                        return m
            return None
        return await self.server.wait(answer, timeout, f"answer to {text}")

    async def close(self):
        await self.fw.stop()
        if self.server._srv is not None:
            self.server._srv.close()


@pytest.fixture
async def station(tmp_path, firmware_lib, micropython):
    st = Station(tmp_path, firmware_lib, micropython)
    yield st
    await st.close()
    problems = frame_problems(st.server.frames)
    assert not problems, "frames from the charge point that break the OCPP 1.6 schemas:\n" + "\n".join(problems)
    crashed = [line for line in st.fw.lines if "crash" in line or "Traceback" in line]
    assert not crashed, "firmware crashed:\n" + "\n".join(st.fw.lines[-60:])


def assert_clean(station: Station):
    """After a station's run: every frame it sent kept the 1.6 schemas, and the firmware never
    crashed, printed a traceback or ran out of heap."""
    problems = frame_problems(station.server.frames)
    assert not problems, "frames that break the OCPP 1.6 schemas:\n" + "\n".join(problems)
    bad = [line for line in station.fw.lines if "crash" in line or "Traceback" in line or "MemoryError" in line]
    assert not bad, "firmware crashed:\n" + "\n".join(station.fw.lines[-60:])


async def module_station(folder: Path, lib: Path, binary: str, keys: dict):
    """The station a test module shares (its `st` fixture: `async for station in
    module_station(...): yield station`): booted, connector 1 Available; checked clean after."""
    station = Station(folder, lib, binary)
    await station.start(ocpp_keys=keys)
    await station.booted()
    await station.server.wait_status(1, "Available")
    yield station
    await station.close()
    assert_clean(station)


def utc_in(seconds: float = 0) -> str:
    """An OCPP date-time `seconds` from now (negative: ago), UTC with Z."""
    from datetime import UTC, datetime, timedelta
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
