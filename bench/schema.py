"""What checking incoming payloads against the 1.6 schemas costs (firmware/evse/ocpp/schema.py):
time per message and heap, on the 32-bit unix port with the firmware as .mpy (as
`chargerctl flash` deploys it), with `evse` frozen in when that build is there, and on the
64-bit PyPI port (.mpy).

One MicroPython process per build runs the real ChargePoint on the simulated board and
dispatches the same CALL both ways in turn, in the same process: with the check
(operations.answer: route, schema module loaded and walked, operation) and without it (route
and the operation alone, as before the check existed). The charge point is not yet Accepted,
so RemoteStartTransaction and RemoteStopTransaction are Rejected right after the check: the
lightest dispatch there is, which makes the ratio an upper bound. Heap: bytes allocated by one
call with the collector off (an upper bound of its peak). Also: the frame-level scan for
escaped surrogates (rpc.py) on a frame without one, against json.loads of the same frame.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from bench.common import Context, Figure

# the 32-bit .mpy build is the one the figures are about; 64-bit runs always (no MPY_SRC needed)
LABEL = {"unix32": "32-bit .mpy", "unix32-frozen": "32-bit frozen", "unix64": "64-bit .mpy"}
PROFILE = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
           "chargingProfileKind": "Absolute",
           "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
               {"startPeriod": 0, "limit": 16.0}, {"startPeriod": 3600, "limit": 10.5, "numberPhases": 3}]}}
CASES = [("RemoteStartTransaction", {"idTag": "PUBLIC-7F3A", "connectorId": 1, "chargingProfile": PROFILE},
          "RemoteStartTransaction with a TxProfile"),
         ("RemoteStopTransaction", {"transactionId": 1042}, "RemoteStopTransaction (resident schema)")]

_SCRIPT = r"""
import gc, json, os, sys, time
from evse.hal.sim import build
from evse.ocpp.chargepoint import ChargePoint
from evse.ocpp.journal import Journal
from evse.ocpp.settings import Settings
from evse.ocpp import schema
from evse.ocpp.operations import answer, load, route

N, ROUNDS = int(sys.argv[1]), int(sys.argv[2])
CASES = json.load(open(sys.argv[3]))  # a file: the unix port dies on a long argv word
board = build({"name": "unix-sim", "platform": "unix", "display": {},
               "connectors": [{"relay": {"type": "sim"}, "meter": {"type": "sim"}, "plug": {"type": "sim"}}]},
              {"sim": {"ev_plugged": True}, "connectors": 1})
cp = ChargePoint(Settings(None, 1), board.outlets, Journal("data/journal.log"),
                 {"chargePointVendor": "V", "chargePointModel": "M"})
cp.reg = "Pending"


def checked(a, p):
    return answer(cp, a, p)


def unchecked(a, p):
    route(a)
    return load(a).answer(cp, p)


def per_call_us(fn, a, p):
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(N):
        fn(a, p)
    return time.ticks_diff(time.ticks_us(), t0) / N


def alloc(fn, *args):
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    fn(*args)
    m1 = gc.mem_alloc()
    gc.enable()
    return m1 - m0


for a, p in CASES:
    resident = route(a)[1] == "keep"
    assert checked(a, p) == unchecked(a, p) == {"status": "Rejected"}
    best = {"with": 1e9, "without": 1e9, "check": 1e9}
    for _ in range(ROUNDS):  # alternating blocks: the machine's noise hits both alike
        best["with"] = min(best["with"], per_call_us(checked, a, p))
        best["without"] = min(best["without"], per_call_us(unchecked, a, p))
        best["check"] = min(best["check"], per_call_us(lambda a, p: schema.fault(a, p, resident), a, p))
    print(json.dumps({"action": a, "us_with": best["with"], "us_without": best["without"],
                      "us_check": best["check"], "alloc_with": alloc(checked, a, p),
                      "alloc_without": alloc(unchecked, a, p),
                      "alloc_check": alloc(schema.fault, a, p, resident)}))

frame = json.dumps([2, "4f1c2a9e-0b7d-4c55-9a51-2f3e8c6d7b10", CASES[0][0], CASES[0][1]])
t_scan = t_loads = 1e9
for _ in range(ROUNDS):
    t0 = time.ticks_us()
    for _ in range(N):
        "\\u" in frame
    t_scan = min(t_scan, time.ticks_diff(time.ticks_us(), t0) / N)
    t0 = time.ticks_us()
    for _ in range(N):
        json.loads(frame)
    t_loads = min(t_loads, time.ticks_diff(time.ticks_us(), t0) / N)
print(json.dumps({"frame_bytes": len(frame), "us_scan": t_scan, "us_loads": t_loads}))
"""


def _measure(micropython: str, lib: Path | None, work: Path, n: int, rounds: int) -> list[dict]:
    flash = work / "flash"
    flash.mkdir(parents=True, exist_ok=True)
    (work / "bench_schema.py").write_text(_SCRIPT)
    (work / "cases.json").write_text(json.dumps([[a, p] for a, p, _ in CASES]))
    env = dict(os.environ, MICROPYPATH=f"{lib}:.frozen" if lib else ".frozen")
    out = subprocess.run([micropython, "-X", "heapsize=256k", str(work / "bench_schema.py"), str(n), str(rounds),
                          str(work / "cases.json")], cwd=flash, env=env, capture_output=True,
                         text=True, timeout=300)
    if out.returncode:
        raise RuntimeError(f"{micropython} exited {out.returncode}: {out.stderr[-600:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def run(ctx: Context) -> list[Figure]:
    from bench.memory import build_lib
    from tests import builds

    n, rounds = ctx.pick(20, 200, 1000), ctx.pick(1, 3, 5)
    image = ctx.workdir / "image"
    image.mkdir(parents=True, exist_ok=True)
    build_lib(image)
    figures: list[Figure] = []
    for build, label in LABEL.items():
        exe = builds.binary(build)
        if exe is None:
            figures.append(Figure("schema", f"{label}: skipped", None, "",
                                  note=builds.SKIP_REASON.replace("make test", "make bench"),
                                  details={"skipped": True}))
            continue
        rows = _measure(exe, None if builds.frozen(build) else image / "lib", ctx.workdir / build, n, rounds)
        for (action, _, what), r in zip(CASES, rows, strict=False):
            assert r["action"] == action, r
            figures.append(Figure(
                "schema", f"{what}: dispatch time, {label}", r["us_with"], "us", r["us_without"],
                "same dispatch without the check", goal="-",
                note=f"check alone {r['us_check']:.0f} us; {n} calls x best of {rounds}", details=r))
            figures.append(Figure(
                "schema", f"{what}: heap allocated per dispatch, {label}", r["alloc_with"], "B",
                r["alloc_without"] or None, "same dispatch without the check", goal="-",
                note=f"the check alone (schema load + walk): {r['alloc_check']} B, collector off"))
        scan = rows[-1]
        figures.append(Figure(
            "schema", f"surrogate scan of a {scan['frame_bytes']}-byte frame without \\u, {label}",
            scan["us_scan"], "us", scan["us_loads"], "json.loads of the frame", goal="<= 0.2x",
            met=scan["us_scan"] <= 0.2 * scan["us_loads"], details=scan))
    return figures
