"""Memory: the smallest `-X heapsize` in which a charger runs what it meets in the field.

Three builds, measured in the same run (tests/builds.py): the 64-bit PyPI unix port with the
firmware as `.mpy` (as `chargerctl flash` deploys it: host_tools.flash.build_image), the 32-bit
unix port built from MicroPython's source with the same `.mpy` files, and the 32-bit port with
`evse` frozen into it (firmware/manifest.py; no lib/evse on its flash, so the frozen copy runs).
The 32-bit ones come from `make bench MPY_SRC=...`; without it their rows say they were skipped.

One session is a whole virtual board (host_tools.virtual_board.VirtualBoard: pseudo-terminal,
simulated relay, meter and plug with their control server, `--heapsize`) against the `ocpp`
central system of tests/ocpp: boot with the EV plugged in, then from the central system a
ChangeConfiguration, a GetConfiguration and a TriggerMessage (rare operations, loaded per use:
they need free heap late in a session too), RemoteStartTransaction, `samples` MeterValues at
MeterValueSampleInterval 1 s, RemoteStopTransaction, StopTransaction, Finishing. It passes when
all of that happens with every answer as expected, no CALLERROR, no MemoryError, crash or
restart of the board.

Smallest heap: bisected in `STEP_K` steps between the instrumented run's live peak (expected to
fail) and a margin above it; the answer must pass once more. The instrumented run (same
session, roomy heap, a main.py that samples `gc.collect(); gc.mem_alloc()` every 10 ms from an
asyncio task) gives the working set: sampled live peak - heap after start (the firmware's
`app started mem_alloc`, logged after a gc.collect()).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Context, Figure
from host_tools import BOARDS_DIR

STEP_K = 4  # bisection granularity
GOALS_K = {"unix32": 80, "unix32-frozen": 32}  # issue 10: smallest heap
GOAL_WORKING_K = 16
LABEL = {"unix64": "64-bit .mpy (PyPI port)", "unix32": "32-bit .mpy", "unix32-frozen": "32-bit frozen"}
OCPP_KEYS = {"HeartbeatInterval": 30, "MeterValueSampleInterval": 1, "ConnectionTimeOut": 30,
             "TransactionMessageRetryInterval": 1, "ReconnectBackoffMax": 1}
_HEAP_TOO_SMALL = re.compile(r"MemoryError|crash|Traceback")

# main.py's job (asyncio.run(app.main()), relays opened on a crash by nobody: any crash fails the
# run anyway) with a task that records the live heap's peak.
_WRAPPER = """\
import gc
import asyncio
from evse import app
_peak = [0]

async def _sample():
    while True:
        gc.collect()
        a = gc.mem_alloc()
        if a > _peak[0]:
            _peak[0] = a
            print("@@peak", a)
        await asyncio.sleep_ms(10)

async def _main():
    asyncio.create_task(_sample())
    await app.main()

asyncio.run(_main())
"""


class SessionFailed(Exception):
    pass


@dataclass
class Result:
    build: str
    started: int | None = None  # app started mem_alloc
    peak: int | None = None  # instrumented run
    smallest_k: int | None = None
    fails_k: int | None = None
    fail_reason: str = ""
    trials: list = field(default_factory=list)
    error: str = ""


def build_lib(dest: Path) -> int:
    """The firmware image (our deploy's compile step) laid out as a board's flash; its size."""
    from host_tools.flash import build_image

    image = build_image()
    for path, data in image.files.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return image.total_bytes


def _flash(flash: Path, image: Path, frozen: bool, wrapper: bool, csms_port: int, sim_port: int) -> None:
    if flash.exists():
        shutil.rmtree(flash)
    flash.mkdir(parents=True)
    if not frozen:
        shutil.copytree(image / "lib", flash / "lib")
    (flash / "main.py").write_text(_WRAPPER if wrapper else (image / "main.py").read_text())
    shutil.copy(BOARDS_DIR / "unix-sim.json", flash / "board.json")
    cfg = {"charge_point_id": "CP-MEM", "csms_url": f"ws://127.0.0.1:{csms_port}/ocpp",
           "public_code": "MEM123", "connectors": 1,
           "sim": {"ev_plugged": True, "power_w": 7400, "control_port": sim_port},
           "ocpp": OCPP_KEYS}
    (flash / "config.json").write_text(json.dumps(cfg))


async def session(flash: Path, image: Path, micropython: str, frozen: bool, heap_k: int,
                  samples: int, wrapper: bool = False) -> str:
    """One field session at `heap_k` KB on a virtual board; its console text. SessionFailed
    says what went wrong first."""
    from ocpp.exceptions import OCPPError
    from ocpp.v16 import call
    from ocpp.v16.enums import MessageTrigger

    from host_tools.virtual_board import VirtualBoard
    from tests.ocpp.conftest import Server, free_port

    server = Server()
    _flash(flash, image, frozen, wrapper, server.port, free_port())
    await server.start()
    vb = VirtualBoard(flash, heapsize=f"{heap_k}k", micropython=micropython)
    await asyncio.to_thread(vb.start)

    def check(what: str) -> None:
        text = vb.console_text()
        bad = _HEAP_TOO_SMALL.search(text)
        if bad:
            line = text[text.rfind("\n", 0, bad.start()) + 1:].split("\n", 1)[0].strip()
            raise SessionFailed(f"{what}: {line[:200]}")
        if vb.boots > 1:
            raise SessionFailed(f"{what}: the board restarted")

    async def wait(pred, timeout: float, what: str):
        end = time.monotonic() + timeout
        while True:
            check(what)
            value = pred()
            if value:
                return value
            if time.monotonic() > end:
                raise SessionFailed(f"{what}: not within {timeout:g} s")
            await asyncio.sleep(0.05)

    def msgs(action: str, **match):
        return [kw for a, kw in server.got if a == action
                and all(kw.get(k) == v for k, v in match.items())]

    async def ask(payload, what: str):
        try:
            res = await asyncio.wait_for(server.cp.call(payload, suppress=False), 10)
        except OCPPError as e:  # a CALLERROR, e.g. InternalError from a MemoryError
            check(what)
            raise SessionFailed(f"{what} answered {type(e).__name__}: {e.description}") from None
        except TimeoutError:
            check(what)
            raise SessionFailed(f"{what}: no answer within 10 s") from None
        check(what)
        return res

    try:
        await wait(lambda: msgs("StatusNotification", connector_id=1, status="Preparing"), 20, "boot")
        res = await ask(call.ChangeConfiguration(key="HeartbeatInterval", value="60"),
                        "ChangeConfiguration")
        if res.status != "Accepted":
            raise SessionFailed(f"ChangeConfiguration answered {res.status}")
        res = await ask(call.GetConfiguration(key=["HeartbeatInterval", "MeterValueSampleInterval"]),
                        "GetConfiguration")
        got = {k["key"]: k.get("value") for k in res.configuration_key or []}
        if got.get("HeartbeatInterval") != "60" or res.unknown_key:
            raise SessionFailed(f"GetConfiguration answered {got}, unknown {res.unknown_key}")
        beats = len(msgs("Heartbeat"))
        res = await ask(call.TriggerMessage(requested_message=MessageTrigger.heartbeat),
                        "TriggerMessage")
        if res.status != "Accepted":
            raise SessionFailed(f"TriggerMessage answered {res.status}")
        await wait(lambda: len(msgs("Heartbeat")) > beats, 10, "triggered Heartbeat")
        res = await ask(call.RemoteStartTransaction(id_tag="MEMTAG", connector_id=1), "RemoteStart")
        if res.status != "Accepted":
            raise SessionFailed(f"RemoteStart answered {res.status}")
        await wait(lambda: msgs("StartTransaction"), 10, "StartTransaction")
        tid = server.next_tx
        await wait(lambda: len(msgs("MeterValues", transaction_id=tid)) >= samples, samples + 15,
                   f"{samples} MeterValues")
        res = await ask(call.RemoteStopTransaction(transaction_id=tid), "RemoteStop")
        if res.status != "Accepted":
            raise SessionFailed(f"RemoteStop answered {res.status}")
        await wait(lambda: msgs("StopTransaction"), 10, "StopTransaction")
        await wait(lambda: msgs("StatusNotification", connector_id=1, status="Finishing"), 10,
                   "Finishing")
        await asyncio.sleep(0.3)  # the wrapper's last samples
        check("end")
        return vb.console_text()
    finally:
        await asyncio.to_thread(vb.stop)
        server._srv.close()


def _started(text: str) -> int | None:
    m = re.search(r"app started .*mem_alloc=(\d+)", text)
    return int(m.group(1)) if m else None


def measure(build: str, micropython: str, image: Path, work: Path, samples: int, step: int,
            confirm: int, tiny: bool, log: list[str], lock: threading.Lock) -> Result:
    """Instrumented run, then the smallest heap by bisection, for one build."""
    frozen = build == "unix32-frozen"
    r = Result(build)

    def trial(k: int, wrapper: bool = False) -> tuple[bool, str, str]:
        try:
            text = asyncio.run(session(work / f"flash-{build}", image, micropython, frozen, k,
                                       samples, wrapper))
            ok, why = True, ""
        except SessionFailed as e:
            text, ok, why = "", False, str(e)
        with lock:
            log.append(f"{build} {k}k {'pass' if ok else 'FAIL ' + why}")
        if not wrapper:
            r.trials.append((k, why or "pass"))
        return ok, why, text

    ok, why, text = trial(256, wrapper=True)
    if not ok:
        r.error = f"the instrumented session fails at 256k: {why}"
        return r
    r.started = _started(text)
    r.peak = max((int(x.split()[1]) for x in text.splitlines() if x.startswith("@@peak ")), default=None)
    lo = max(8, (r.peak or 16 * 1024) // 1024 // step * step)  # the live peak itself cannot fit
    hi = lo + 6 * step
    while not trial(hi)[0]:  # widen until a pass (bounded)
        lo, hi = hi, hi + 8 * step
        if hi > 256:
            r.error = f"no pass up to 256k: {r.trials[-1][1]}"
            return r
    if not tiny:
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step
            if mid in (lo, hi):
                break
            if trial(mid)[0]:
                hi = mid
            else:
                lo = mid
        for _ in range(confirm):  # near the edge a pass depends on fragmentation: once more
            if trial(hi)[0]:
                break
            hi += step
    r.smallest_k = hi
    fails = [(k, why) for k, why in r.trials if why != "pass" and k < hi]
    if fails:
        r.fails_k, r.fail_reason = max(fails)
    return r


def run(ctx: Context) -> list[Figure]:
    import host_tools.virtual_board  # noqa: F401 - imported here, not first in three threads
    import tests.ocpp.conftest  # noqa: F401
    from tests import builds

    samples = ctx.pick(1, 10, 60)
    step = ctx.pick(16, STEP_K, STEP_K)
    confirm = ctx.pick(0, 1, 1)
    work = ctx.workdir
    image = work / "image"
    image.mkdir(parents=True, exist_ok=True)
    image_bytes = build_lib(image)
    available = {b: builds.binary(b) for b in LABEL}
    log: list[str] = []
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=3) as pool:  # each session mostly waits on its samples
        futures = {b: pool.submit(measure, b, exe, image, work, samples, step, confirm,
                                  ctx.size == "tiny", log, lock)
                   for b, exe in available.items() if exe}
        results = {b: f.result() for b, f in futures.items()}
    (work / "trials.log").write_text("\n".join(log) + "\n")

    figures: list[Figure] = []
    base = {"unix32": "unix64", "unix32-frozen": "unix32"}
    note_session = (f"virtual board; Change/GetConfiguration, TriggerMessage, RemoteStart, "
                    f"{samples} samples, RemoteStop; step {step}k")
    for b in LABEL:
        if b not in results:
            figures.append(Figure("memory", f"{LABEL[b]}: skipped", None, "",
                                  note=f"{builds.SKIP_REASON.replace('make test', 'make bench')}",
                                  details={"skipped": True}))
            continue
        r = results[b]
        if r.error:
            figures.append(Figure("memory", f"{LABEL[b]}: error", None, "", met=False,
                                  note=r.error[:400], details={"trials_k": r.trials}))
            continue
        ref = results.get(base.get(b, ""))
        goal = GOALS_K.get(b)
        fail = (f"fails at {r.fails_k}k: {r.fail_reason[:160]}" if r.fails_k
                else "nothing smaller tried")
        figures.append(Figure(
            "memory", f"smallest heap, {LABEL[b]}", r.smallest_k, "KB",
            ref.smallest_k if ref and not ref.error else None,
            LABEL[base[b]] if b in base else "", f"<= {goal}k" if goal else "",
            None if goal is None else r.smallest_k <= goal, f"{fail}; {note_session}",
            {"trials_k": r.trials, "image_bytes": image_bytes, "samples": samples}))
        figures.append(Figure(
            "memory", f"app started mem_alloc, {LABEL[b]}", round(r.started / 1024, 1)
            if r.started else None, "KB",
            round(ref.started / 1024, 1) if ref and ref.started else None,
            LABEL[base[b]] if b in base else "",
            note="heap after start (code, board, settings, charge point), after gc.collect()",
            details={"bytes": r.started}))
        working = (r.peak - r.started) if r.peak and r.started else None
        figures.append(Figure(
            "memory", f"working set, {LABEL[b]}", round(working / 1024, 1) if working else None,
            "KB", goal=f"<= {GOAL_WORKING_K} KB",
            met=None if working is None else working <= GOAL_WORKING_K * 1024,
            note=f"sampled live peak {r.peak / 1024:.1f} KB (gc.collect + mem_alloc every 10 ms) "
                 f"- app started" if r.peak else "no peak sampled",
            details={"peak_bytes": r.peak}))
    return figures
