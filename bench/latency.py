"""Latency: driver confirm -> relay closed, and driver stop -> relay open.

One local backend serves two chargers: the firmware on a flashed virtual board (unix port) and
the reference charge point (bench/refcp.py, the `ocpp` package in CPython). Sessions alternate
between them so both see the same machine load; each runs the driver's calls from
host_tools/driver.py. The clock starts when the driver sends POST .../confirm (payment already
confirmed) or POST .../stop, and stops when a watcher thread, asking the charger's sim control
server for its state every `POLL_S`, first sees the relay in the new position.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Context, Figure, median, percentile, rate_limit_args, wait_until
from host_tools import driver
from host_tools.bench_rig import (
    LocalBackend,
    bench_charger,
    bench_config,
    flash_virtual_board,
    free_port,
)
from host_tools.sim_client import SimClient

POLL_S = 0.002
GOAL = 1.2


class RelayWatch:
    """A thread asking the control server for connector 1's relay until it reads `want`."""

    def __init__(self, control_port: int, want: bool, timeout: float = 15.0):
        self.control_port = control_port
        self.want = want
        self.timeout = timeout
        self.seen_at: float | None = None
        self.error: BaseException | None = None
        self._sim = SimClient(control_port, timeout=5.0)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _relay(self) -> bool:
        return bool(self._sim.state()[0]["relay_closed"])

    def start(self) -> RelayWatch:
        if self._relay() == self.want:
            raise RuntimeError(f"relay already {'closed' if self.want else 'open'} before the call")
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                if self._relay() == self.want:
                    self.seen_at = time.perf_counter()
                    return
                time.sleep(POLL_S)
        except BaseException as e:  # reported by wait()
            self.error = e
        finally:
            self._sim.close()

    def wait(self) -> float:
        self._thread.join(self.timeout + 1)
        if self.error:
            raise self.error
        if self.seen_at is None:
            raise TimeoutError(f"relay not {'closed' if self.want else 'open'} "
                               f"within {self.timeout:g} s")
        return self.seen_at


def _poll_session(client: driver.Client, token: str, wanted: set[str], timeout: float) -> dict:
    def check():
        s, _ = client.session(token)
        if s["status"] in driver.TERMINAL and s["status"] not in wanted:
            raise RuntimeError(f"session ended {s['status']}: {s.get('failure_reason')}")
        return s if s["status"] in wanted else None
    return wait_until(check, timeout, f"session {' or '.join(sorted(wanted))}", interval=0.02)


def _connector_status(client: driver.Client, code: str, wanted: str, timeout: float) -> None:
    wait_until(lambda: client.charger(code)["connectors"][0]["status"] == wanted, timeout,
               f"charger {code} connector 1 {wanted}", interval=0.02)


def one_session(client: driver.Client, code: str, control_port: int) -> dict[str, list[float]]:
    """One public session: for "start" (confirm -> relay closed) and "stop" (stop -> relay
    open), [seconds, wall clock at the call, wall clock when the relay was seen]."""
    started = client.start(code, 1)
    client.confirm_local_payment(started.payment["client_secret"])
    watch = RelayWatch(control_port, True).start()
    wall, t0 = time.time(), time.perf_counter()
    client.confirm(started.token)
    t_close = watch.wait() - t0
    out = {"start": [t_close, wall, wall + t_close]}
    _poll_session(client, started.token, {"charging"}, 15)
    watch = RelayWatch(control_port, False).start()
    wall, t0 = time.time(), time.perf_counter()
    client.stop(started.token)
    t_open = watch.wait() - t0
    out["stop"] = [t_open, wall, wall + t_open]
    _poll_session(client, started.token, {"completed"}, 15)
    _connector_status(client, code, "Finishing", 10)
    # the EV leaves and comes back, so the next session finds the connector Preparing again
    with SimClient(control_port) as sim:
        sim.plug(1, False)
        _connector_status(client, code, "Available", 10)
        sim.plug(1, True)
    _connector_status(client, code, "Preparing", 10)
    return out


_LINE = re.compile(r"^(\S+Z) event=ocpp identity=(\S+) dir=(in|out) type=(CALL|CALLRESULT) "
                   r"action=(RemoteStartTransaction|RemoteStopTransaction) ")


def backend_times(log: Path) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(identity, action) -> [(CALL sent, CALLRESULT received)] in wall-clock seconds, from
    the backend's operator log, in order."""
    sent: dict[tuple[str, str], list[float]] = {}
    got: dict[tuple[str, str], list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            ts = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=UTC).timestamp()
            key = (m.group(2), m.group(5))
            (sent if m.group(3) == "out" else got).setdefault(key, []).append(ts)
    return {k: list(zip(v, got.get(k, []), strict=False)) for k, v in sent.items()}


def split(calls: list[tuple[float, float]], spans: list[list[float]]) -> dict[str, float]:
    """Median ms of: API call -> backend sends the OCPP CALL; CALL -> charge point's answer
    (the relay switches in between); answer -> relay seen by the watcher."""
    parts: dict[str, list[float]] = {"backend": [], "charge point": [], "after answer": []}
    for (out, back), (_, start, seen) in zip(calls, spans, strict=False):
        parts["backend"].append((out - start) * 1000)
        parts["charge point"].append((back - out) * 1000)
        parts["after answer"].append((seen - back) * 1000)
    return {k: round(median(v), 2) for k, v in parts.items() if v}


class ReferenceProcess:
    def __init__(self, url: str, identity: str, control_port: int, log: Path):
        self.argv = [sys.executable, "-m", "bench.refcp", "--url", url, "--identity", identity,
                     "--control-port", str(control_port)]
        self.log = log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ReferenceProcess:
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.argv, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._out.close()


def run(ctx: Context) -> list[Figure]:
    from host_tools.virtual_board import VirtualBoard

    sessions = ctx.pick(1, 5, 20)
    warmup = ctx.pick(0, 1, 1)
    work = ctx.workdir / "latency"
    work.mkdir(parents=True, exist_ok=True)
    fw = bench_charger("CP-FW", "FW0001", max_sessions_per_hour=10_000)
    ref = bench_charger("CP-REF", "REF001", max_sessions_per_hour=10_000)
    ref_port = free_port()
    spans: dict[str, dict[str, list[list[float]]]] = {k: {"start": [], "stop": []}
                                                      for k in ("firmware", "reference")}
    with contextlib.ExitStack() as stack:
        backend = stack.enter_context(LocalBackend(work / "backend", [fw, ref],
                                                   extra_args=rate_limit_args()))
        cfg = bench_config("CP-FW", "FW0001", backend.ws_url)
        board = stack.enter_context(VirtualBoard(work / "flash",
                                                 control_port=cfg["sim"]["control_port"]))
        flash_virtual_board(board.port, cfg)
        stack.enter_context(ReferenceProcess(backend.ws_url, "CP-REF", ref_port,
                                             work / "refcp.log"))
        client = stack.enter_context(driver.Client(backend.api))
        targets = {"firmware": ("FW0001", cfg["sim"]["control_port"]),
                   "reference": ("REF001", ref_port)}
        for code, _ in targets.values():
            try:
                wait_until(lambda c=code: client.charger(c)["online"], 40, f"{code} online", 0.1)
                _connector_status(client, code, "Preparing", 10)
            except TimeoutError as e:
                raise TimeoutError(f"{e}; board console: {board.console_text()[-600:]!r}; "
                                   f"backend log: {backend.log_tail(600)!r}") from None
        for _ in range(warmup + sessions):
            for name, (code, port) in targets.items():
                for what, span in one_session(client, code, port).items():
                    spans[name][what].append(span)
        calls = backend_times(backend.log_path)
    identities = {"firmware": "CP-FW", "reference": "CP-REF"}
    actions = {"start": "RemoteStartTransaction", "stop": "RemoteStopTransaction"}
    figures = []
    for what, label in (("start", "confirm -> relay closed"), ("stop", "stop -> relay open")):
        where = {name: split(calls.get((identities[name], actions[what]), [])[warmup:],
                             spans[name][what][warmup:]) for name in spans}
        fw_t = [s[0] for s in spans["firmware"][what][warmup:]]
        ref_t = [s[0] for s in spans["reference"][what][warmup:]]
        for stat, fn in (("median", median), ("p95", lambda v: percentile(v, 95))):
            value, base = fn(fw_t) * 1000, fn(ref_t) * 1000
            figures.append(Figure(
                "latency", f"{label}, {stat}", round(value, 1), "ms", round(base, 1),
                "reference CP (ocpp pkg)", f"<= {GOAL}x", value <= GOAL * base,
                f"{len(fw_t)} sessions each" + (
                    "; median ms backend / charge point / after answer: firmware "
                    + " / ".join(f"{v:g}" for v in where["firmware"].values()) + ", reference "
                    + " / ".join(f"{v:g}" for v in where["reference"].values())
                    if stat == "median" and where["firmware"] and where["reference"] else ""),
                {"firmware_ms": [round(t * 1000, 2) for t in fw_t],
                 "reference_ms": [round(t * 1000, 2) for t in ref_t],
                 "median_split_ms": where}))
    return figures
