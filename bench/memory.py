"""Memory: the smallest `-X heapsize` with which a full session of the complete firmware passes.

The firmware is compiled the way `chargerctl flash` compiles it (host_tools.flash.build_image:
every module of firmware/evse as .mpy, main.py as source) and laid out like a board's flash.
A full session: boot, BootNotification accepted, RemoteStartTransaction, StartTransaction,
`samples` MeterValues (MeterValueSampleInterval 1 s), RemoteStopTransaction, StopTransaction,
against the `ocpp`-package central system of tests/ocpp (conftest.Server). It passes when all of
that happens with no MemoryError, crash or restart.

The smallest heap is found by bisection (granularity `STEP_K`). One more instrumented run at a
roomy heap splits it: a wrapper main (`_WRAPPER`) samples the live heap (gc.collect() then
gc.mem_alloc()) every 10 ms from an asyncio task and reports the peak and the modules loaded;
a fresh interpreter that only imports those modules gives the heap after imports (code).
Working set = sampled peak - code. The sampler sees the heap between task steps only; a
transient peak inside one step (the QR render at boot, building a frame) shows in the bisected
minimum instead, hence the second split: minimum heap - code.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import Context, Figure
from host_tools import BOARDS_DIR
from host_tools.micropython import micropython_binary

STEP_K = 2  # bisection granularity (the tiny size of the smoke test uses 16)
GOAL_TOTAL_K = 96
GOAL_WORKING_K = 24
OCPP_KEYS = {"HeartbeatInterval": 30, "MeterValueSampleInterval": 1, "ConnectionTimeOut": 30,
             "TransactionMessageRetryInterval": 1, "ReconnectBackoffMax": 1}

# main.py's job (asyncio.run(app.main())) with a task that records the live heap's peak. Not
# `import main`: a session run from inside an import needs ~10 KB more heap than main.py run as
# the script (as the board runs it), which would skew the split.
_WRAPPER = """\
import gc, sys
gc.collect()
print("@@base", gc.mem_alloc())
import asyncio
from evse import app
_peak = [0, 0]

async def _sample():
    while True:
        gc.collect()
        a = gc.mem_alloc()
        if a > _peak[0]:
            _peak[0] = a
            print("@@peak", a)
        if len(sys.modules) != _peak[1]:
            _peak[1] = len(sys.modules)
            print("@@mods", " ".join(sorted(sys.modules)))
        await asyncio.sleep_ms(10)

async def _main():
    asyncio.create_task(_sample())
    await app.main()

asyncio.run(_main())
"""

_IMPORTS = """\
import gc
gc.collect()
base = gc.mem_alloc()
for name in %r:
    try:
        __import__(name)
    except ImportError as e:
        print("@@missing", name, e)
gc.collect()
print("@@code", base, gc.mem_alloc())
"""


class SessionFailed(Exception):
    pass


def build_lib(dest: Path) -> int:
    """The firmware image (our deploy's compile step) laid out as /lib; returns its size."""
    from host_tools.flash import build_image

    image = build_image()
    for path, data in image.files.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return image.total_bytes


async def _session(flash: Path, lib: Path, heap_k: int, samples: int, wrapper: bool) -> list[str]:
    """One full session at `heap_k` KB; returns the console lines, raises SessionFailed."""
    from tests.ocpp.conftest import Server, free_port

    if flash.exists():
        shutil.rmtree(flash)
    flash.mkdir(parents=True)
    shutil.copy(lib / "main.py", flash / "main.py")
    shutil.copy(BOARDS_DIR / "unix-sim.json", flash / "board.json")
    server = Server()
    cfg = {"charge_point_id": "CP-MEM", "csms_url": f"ws://127.0.0.1:{server.port}/ocpp",
           "public_code": "MEM123", "connectors": 1,
           "sim": {"ev_plugged": True, "power_w": 7400, "control_port": free_port()},
           "ocpp": OCPP_KEYS}
    (flash / "config.json").write_text(json.dumps(cfg))
    entry = "main.py"
    if wrapper:
        (flash / "bench_main.py").write_text(_WRAPPER)
        entry = "bench_main.py"
    await server.start()
    env = dict(os.environ, MICROPYPATH=f"{lib / 'lib'}:.frozen")
    proc = await asyncio.create_subprocess_exec(
        micropython_binary(), "-X", f"heapsize={heap_k}k", entry, cwd=flash, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[str] = []

    async def read() -> None:
        while line := await proc.stdout.readline():
            lines.append(line.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read())

    async def wait(pred, timeout: float, what: str):
        end = time.monotonic() + timeout
        while True:
            bad = [x for x in lines if "MemoryError" in x or "crash" in x or "Traceback" in x]
            if bad:
                raise SessionFailed(f"{what}: {bad[0][:200]}")
            if proc.returncode is not None or reader.done():
                raise SessionFailed(f"{what}: the interpreter exited ({proc.returncode})")
            value = pred()
            if value:
                return value
            if time.monotonic() > end:
                raise SessionFailed(f"{what}: not within {timeout:g} s")
            await asyncio.sleep(0.02)

    def msgs(action: str, **match):
        return [kw for a, kw in server.got if a == action
                and all(kw.get(k) == v for k, v in match.items())]

    try:
        await wait(lambda: msgs("StatusNotification", connector_id=1, status="Preparing"), 15,
                   "boot")
        res = await asyncio.wait_for(server.cp.call(
            __import__("ocpp.v16", fromlist=["call"]).call.RemoteStartTransaction(
                id_tag="MEMTAG", connector_id=1)), 10)
        if res is None or res.status != "Accepted":
            raise SessionFailed(f"remote start answered {res}")
        await wait(lambda: msgs("StartTransaction"), 10, "StartTransaction")
        tid = server.next_tx
        await wait(lambda: len(msgs("MeterValues", transaction_id=tid)) >= samples,
                   samples + 10, f"{samples} MeterValues")
        from ocpp.v16 import call

        res = await asyncio.wait_for(server.cp.call(call.RemoteStopTransaction(
            transaction_id=tid)), 10)
        if res is None or res.status != "Accepted":
            raise SessionFailed(f"remote stop answered {res}")
        await wait(lambda: msgs("StopTransaction"), 10, "StopTransaction")
        await wait(lambda: msgs("StatusNotification", connector_id=1, status="Finishing"), 10,
                   "Finishing")
        await asyncio.sleep(0.3)  # the last samples of the wrapper
        await wait(lambda: True, 0, "end")
    except TimeoutError as e:
        raise SessionFailed(f"no answer from the charge point ({type(e).__name__})") from None
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await asyncio.wait_for(reader, 5)
        server._srv.close()
    return lines


def smallest_heap(flash: Path, lib: Path, samples: int, lo: int, hi: int, step: int,
                  confirm: int) -> tuple[int, list[tuple[int, str]]]:
    """Bisect the smallest heap (KB, multiple of `step`) with which a session passes: `hi` must
    pass, `lo` is expected to fail. Near the edge a pass depends on fragmentation, so the
    answer must pass once more (up to `confirm` steps up)."""
    trials: list[tuple[int, str]] = []

    def trial(k: int) -> bool:
        ok, why = passes(flash, lib, k, samples)
        trials.append((k, why or "pass"))
        return ok

    if not trial(hi):
        raise RuntimeError(f"a full session fails even at {hi}k: {trials[-1][1]}")
    lo = max(16, lo)
    if trial(lo):
        hi, lo = lo, 16
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid in (lo, hi):
            break
        if trial(mid):
            hi = mid
        else:
            lo = mid
    for _ in range(confirm):
        if trial(hi):
            break
        hi += step
    return hi, trials


def passes(flash: Path, lib: Path, heap_k: int, samples: int) -> tuple[bool, str]:
    try:
        asyncio.run(_session(flash, lib, heap_k, samples, wrapper=False))
        return True, ""
    except SessionFailed as e:
        return False, str(e)


def source_lib(dest: Path) -> None:
    """The same firmware as .py sources in the same layout (plain `mpremote cp -r`)."""
    from host_tools import FIRMWARE_DIR

    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(FIRMWARE_DIR / "evse", dest / "lib" / "evse",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(FIRMWARE_DIR / "main.py", dest / "main.py")


def code_bytes(lib: Path, modules: list[str]) -> tuple[int, int]:
    """(interpreter base, heap after importing `modules`) in a fresh interpreter."""
    env = dict(os.environ, MICROPYPATH=f"{lib / 'lib'}:.frozen")
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=512k", "-c", _IMPORTS % modules],
                          capture_output=True, text=True, timeout=30, env=env, cwd=lib)
    m = re.search(r"@@code (\d+) (\d+)", proc.stdout)
    if not m:
        raise RuntimeError(f"import run failed: {(proc.stdout + proc.stderr)[-500:]}")
    return int(m.group(1)), int(m.group(2))


def run(ctx: Context) -> list[Figure]:
    samples = ctx.pick(1, 3, 10)
    work = ctx.workdir
    lib = work / "image"
    lib.mkdir(parents=True, exist_ok=True)
    image_bytes = build_lib(lib)

    # instrumented run at a roomy heap: peak live heap and the modules a session loads
    lines = asyncio.run(_session(work / "flash-instrumented", lib, 192, samples, wrapper=True))
    peak = max(int(x.split()[1]) for x in lines if x.startswith("@@peak "))
    base = int(next(x.split()[1] for x in lines if x.startswith("@@base ")))
    mods = [x.split()[1:] for x in lines if x.startswith("@@mods ")][-1]
    started = next((int(m.group(1)) for x in lines
                    if (m := re.search(r"app started .*mem_alloc=(\d+)", x))), None)
    interp, code = code_bytes(lib, mods)

    step = ctx.pick(16, STEP_K, STEP_K)
    confirm = ctx.pick(0, 3, 4)
    total_k, trials = smallest_heap(work / "flash", lib, samples, (peak // 1024) // step * step,
                                    192, step, confirm)
    # the baseline: the same firmware deployed as .py sources (compiled on the board at import)
    py_k = py_code = None
    py_trials: list = []
    if ctx.size != "tiny":
        py_lib = work / "sources"
        source_lib(py_lib)
        _, py_code = code_bytes(py_lib, mods)
        try:
            py_k, py_trials = smallest_heap(work / "flash-py", py_lib, samples, total_k, 384,
                                            step, confirm)
        except RuntimeError as e:
            py_trials = [(384, str(e))]
    working = peak - code
    details = {"samples": samples, "trials_k": trials,
               "sampled_peak_bytes": peak, "code_bytes": code, "interpreter_base_bytes": interp,
               "wrapper_base_bytes": base, "app_started_mem_alloc": started,
               "image_bytes": image_bytes, "modules": mods, "py_trials_k": py_trials,
               "py_code_bytes": py_code}
    note = (f"full session, {samples} samples, .mpy image; bisect step {step}k, "
            f"passed twice")
    return [
        Figure("memory", "smallest heap for a full session", total_k, "KB", py_k,
               ".py sources" if py_k else "", f"<= {GOAL_TOTAL_K}k", total_k <= GOAL_TOTAL_K,
               note, details),
        Figure("memory", "code: heap after imports", round(code / 1024, 1), "KB",
               round(py_code / 1024, 1) if py_code else None, ".py sources" if py_code else "",
               note=f"{len(mods)} modules loaded by the session (incl. interpreter "
                    f"{interp / 1024:.1f} KB); 'app started' line said {started}",
               details={"bytes": code}),
        Figure("memory", "working set: sampled live peak - code", round(working / 1024, 1), "KB",
               goal=f"<= {GOAL_WORKING_K} KB", met=working <= GOAL_WORKING_K * 1024,
               note=f"peak {peak / 1024:.1f} KB (gc.collect + mem_alloc every 10 ms)"),
        Figure("memory", "working set: smallest heap - code", round(total_k - code / 1024, 1),
               "KB", goal=f"<= {GOAL_WORKING_K} KB",
               met=total_k * 1024 - code <= GOAL_WORKING_K * 1024,
               note="includes transient peaks and fragmentation"),
    ]
