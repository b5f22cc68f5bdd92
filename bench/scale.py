"""Backend scale: N simulated chargers with heartbeats and M concurrent public sessions.

The local backend (`chargerctl backend`, a subprocess) gets a chargers file with N entries.
bench/fleet.py connects N chargers from one process; once all have booted, M drivers (asyncio,
httpx, in this process) each run a public session on a charger of their own at the same time:
look up, start, confirm the local payment, confirm, poll until charging, let it charge `hold`
seconds (polling every second, as the driver's live view does), stop, poll until completed.
Measured: the latency of every API request, and the round trip of every OCPP CALL the chargers
send (heartbeats, MeterValues, Start/StopTransaction, StatusNotification) while the sessions run. The baseline is the same with N=1, M=1, measured
in the same run.
"""

from __future__ import annotations

import asyncio
import json
import random
import select
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.common import Context, Figure, percentile, raise_fd_limit, rate_limit_args
from host_tools.bench_rig import LocalBackend, bench_charger

GOAL_P99_MS = 100.0
HEARTBEAT_S = 10  # 1,000 chargers: 100 heartbeats a second
# Steady state before measuring: the backend asks a charger for BootNotification 5 s after it
# connects if it has not booted (a wave of checks after 1,000 connections), and the boot storm's
# garbage is collected; sessions start after that.
SETTLE_S = 6.0
POLL_S = 1.0


class FleetProcess:
    def __init__(self, url: str, count: int, log: Path):
        self.argv = [sys.executable, "-m", "bench.fleet", "--url", url, "--prefix", "S",
                     "--count", str(count)]
        self.log = log

    def __enter__(self) -> FleetProcess:
        self._err = open(self.log, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, start_new_session=True)
        return self

    def send(self, cmd: str) -> None:
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the fleet did not report {event!r} within {timeout:g} s; "
                                   f"its log: {self.log.read_text(errors='replace')[-500:]!r}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the fleet exited ({self.proc.poll()}): "
                                   f"{self.log.read_text(errors='replace')[-500:]!r}")
            msg = json.loads(line)
            if msg.get("event") == event:
                return msg

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), to tell what saturates during the window."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Failed(Exception):
    pass


async def session_flow(http: httpx.AsyncClient, code: str, lat: list[tuple[str, float, float]],
                       jitter: float, hold: float) -> None:
    async def req(name: str, method: str, path: str, **kw) -> dict:
        t = time.perf_counter()
        r = await http.request(method, path, **kw)
        lat.append((name, time.perf_counter() - t, t))
        if r.status_code >= 300:
            raise Failed(f"{name} {r.status_code}: {r.text[:200]}")
        return r.json()

    async def until(token: str, status: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while True:
            s = (await req("get", "GET", f"/public-charging/sessions/{token}"))["data"]
            if s["status"] == status:
                return
            if s["status"] in ("failed", "cancelled") or time.monotonic() > end:
                raise Failed(f"session {s['status']} ({s.get('failure_reason')}), "
                             f"waited for {status}")
            await asyncio.sleep(POLL_S)

    await asyncio.sleep(jitter)
    await req("charger", "GET", f"/public-charging/chargers/{code}")
    started = await req("start", "POST", "/public-charging/sessions",
                        json={"code": code, "connector_id": 1})
    token, secret = started["session_token"], started["payment"]["client_secret"]
    intent = secret.partition("_secret_")[0]
    await req("local_confirm", "POST", f"/_local/payments/{intent}/confirm",
              json={"client_secret": secret, "payment_method": "pm_card_visa"})
    await req("confirm", "POST", f"/public-charging/sessions/{token}/confirm")
    await until(token, "charging", 30)
    end = time.monotonic() + hold
    while time.monotonic() < end:  # the driver's live view polls while it charges
        await asyncio.sleep(POLL_S)
        await req("get", "GET", f"/public-charging/sessions/{token}")
    await req("stop", "POST", f"/public-charging/sessions/{token}/stop")
    await until(token, "completed", 30)


async def drive(api: str, codes: list[str], hold: float, ramp: float,
                repeat: int = 1) -> tuple[list[tuple[str, float, float]], list[str]]:
    lat: list[tuple[str, float, float]] = []
    limits = httpx.Limits(max_connections=len(codes) + 10,
                          max_keepalive_connections=len(codes) + 10)
    async with httpx.AsyncClient(base_url=api, timeout=30, limits=limits) as http:
        for code in codes[:3]:  # warm the API path; not measured
            await http.get(f"/public-charging/chargers/{code}")
        async def startable(code: str) -> None:  # not measured: the next EV plugging in
            for _ in range(100):
                r = await http.get(f"/public-charging/chargers/{code}")
                if r.json()["data"]["connectors"][0]["status"] in ("Available", "Preparing"):
                    return
                await asyncio.sleep(0.1)

        async def sessions(n: int, code: str) -> None:
            for k in range(repeat):  # one after the other on the same charger
                if k:
                    await startable(code)
                await session_flow(http, code, lat, n * ramp / len(codes), hold)

        results = await asyncio.gather(*(sessions(n, c) for n, c in enumerate(codes)),
                                       return_exceptions=True)
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    return lat, errors


def measure(work: Path, chargers: int, sessions: int, hold: float, ramp: float,
            repeat: int = 1) -> dict:
    """One backend, `chargers` connected, `sessions` drivers starting evenly over `ramp` s,
    each running `repeat` sessions one after the other."""
    entries = [bench_charger(f"S{i:04d}", f"S{i:04d}", max_sessions_per_hour=100)
               for i in range(1, chargers + 1)]
    with ExitStack() as stack:
        backend = stack.enter_context(LocalBackend(
            work / "backend", entries,
            extra_args=rate_limit_args() + ["--heartbeat-interval", str(HEARTBEAT_S)]))
        fleet = stack.enter_context(FleetProcess(backend.ws_url, chargers, work / "fleet.log"))
        ready = fleet.read("ready", timeout=60 + chargers * 0.1)
        if ready["connected"] != chargers:
            raise RuntimeError(f"only {ready['connected']}/{chargers} chargers connected: "
                               f"{ready['errors']}")
        time.sleep(SETTLE_S if chargers > 1 else 0.5)
        fleet.send("mark")
        fleet.read("marked", 10)
        codes = [e["public_code"] for e in random.sample(entries, sessions)]
        import os

        pids = {"backend": backend._proc.pid, "fleet": fleet.proc.pid, "drivers": os.getpid()}
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        t0 = time.perf_counter()
        lat, errors = asyncio.run(drive(backend.api, codes, hold, ramp, repeat))
        window = time.perf_counter() - t0
        cpu = {k: round((cpu_seconds(p) - cpu0[k]) / window, 2) for k, p in pids.items()}
        fleet.send("report")
        report = fleet.read("report", 30)
    api_ms = [s * 1000 for _, s, _ in lat]
    # when the slow requests happened: seconds into the window -> count over 100 ms
    slow: dict[int, int] = {}
    for _, s, at in lat:
        if s > 0.1:
            slow[int(at - t0)] = slow.get(int(at - t0), 0) + 1
    rtt_ms = [x for xs in report["rtt_ms"].values() for x in xs]
    by_action = {k: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)}
                 for k, v in report["rtt_ms"].items()}
    by_endpoint: dict[str, list[float]] = {}
    for name, s, _ in lat:
        by_endpoint.setdefault(name, []).append(s * 1000)
    return {"chargers": chargers, "sessions": sessions, "connect_s": ready["seconds"],
            "window_s": round(window, 1), "cpu_share": cpu, "slow_api_by_second": slow, "session_errors": errors[:5],
            "failed_sessions": len(errors), "ocpp_errors": report["errors"],
            "dropped": report["dropped"],
            "api": {"n": len(api_ms), "p50": percentile(api_ms, 50),
                    "p99": percentile(api_ms, 99)},
            "ocpp": {"n": len(rtt_ms), "p50": percentile(rtt_ms, 50),
                     "p99": percentile(rtt_ms, 99)},
            "api_by_endpoint": {k: {"n": len(v), "p50": round(percentile(v, 50), 2),
                                    "p99": round(percentile(v, 99), 2)}
                                for k, v in by_endpoint.items()},
            "ocpp_by_action": by_action}


def run(ctx: Context) -> list[Figure]:
    raise_fd_limit()
    chargers, sessions = ctx.pick((5, 2), (200, 20), (1000, 100))
    hold = ctx.pick(1.0, 5.0, 15.0)
    # Drivers arrive over `ramp` seconds (10 starts a second at full size) and all charge at
    # the same time for a while; the burst run starts every session within one second.
    ramp = ctx.pick(0.5, 2.0, 10.0)
    work = ctx.workdir
    # the baseline runs its one session three times in a row: enough samples for a p99
    base = measure(work / "baseline", 1, 1, hold, 0, repeat=ctx.pick(1, 2, 3))
    runs = {"": measure(work / "load", chargers, sessions, hold, ramp)}
    if ctx.size == "full":
        runs["burst"] = measure(work / "burst", chargers, sessions, hold, 1.0)
    figures = []
    for tag, big in runs.items():
        load = f"{chargers} chargers, {sessions} sessions" + (
            f" started over {ramp:g} s" if not tag else ", all started within 1 s")
        for kind, label in (("api", "API request"), ("ocpp", "OCPP round trip")):
            for stat in ("p50", "p99"):
                if tag and stat == "p50":
                    continue
                value, baseline = big[kind][stat], base[kind][stat]
                figures.append(Figure(
                    "scale", f"{label} {stat} ({load})", round(value, 1), "ms",
                    round(baseline, 1), "1 charger, 1 session",
                    f"< {GOAL_P99_MS:g} ms" if stat == "p99" else "",
                    (value < GOAL_P99_MS and not big["failed_sessions"]) if stat == "p99" else None,
                    f"n={big[kind]['n']} (baseline n={base[kind]['n']}); CPU share in window: "
                    + ", ".join(f"{k} {v:.0%}" for k, v in big["cpu_share"].items())
                    + (f"; {big['failed_sessions']} sessions FAILED"
                       if big["failed_sessions"] else ""),
                    {"load": big, "baseline": base} if stat == "p99" and kind == "api" else {}))
    return figures
