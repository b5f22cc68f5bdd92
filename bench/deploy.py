"""Deploy: `chargerctl flash` (our deploy code) against plain `mpremote cp -r` of the sources.

Both are timed as whole commands, the way a person runs them, to a fresh virtual board: a full
deploy to a blank flash, then a deploy with one module changed (a line appended to
evse/log.py, so its .mpy changes too). `chargerctl flash` compiles to .mpy, checks the config
in the unix port, copies only files whose sha256 differs and restarts the board; mpremote copies
the .py sources (its `cp` also skips files whose hash matches) and leaves the board at the REPL.

The link is paced at 115200 baud like a USB-serial UART (VirtualBoard(baudrate=...)): that is
where the bytes count. The same pair on the unpaced pseudo-terminal is reported too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Context, Figure, median
from host_tools import FIRMWARE_DIR

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
CONFIG = {"charge_point_id": "CP-DEPLOY", "csms_url": "ws://127.0.0.1:9/ocpp",
          "public_code": "DEP123"}
GOAL_FULL = 0.5
GOAL_INCREMENTAL_S = 2.0


def _timed(argv: list[str], cwd: Path | None = None, timeout: float = 240) -> float:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    elapsed = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])}... exited {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr)[-400:]}")
    return elapsed


def chargerctl(port: str, fw: Path, cfg: Path) -> float:
    return _timed([sys.executable, "-m", "host_tools.cli", "flash", "--port", port, "--board",
                   "unix-sim", "--config", str(cfg), "--firmware-dir", str(fw), "--json"])


def mpremote(port: str, fw: Path, first: bool) -> float:
    argv = [MPREMOTE, "connect", port, "resume"]
    if first:
        argv += ["fs", "mkdir", ":lib", "+"]
    argv += ["cp", "-r", "evse", ":lib/", "+", "cp", "main.py", ":main.py"]
    return _timed(argv, cwd=fw)


def change_one_file(fw: Path, n: int) -> None:
    with open(fw / "evse" / "log.py", "a") as f:
        f.write(f"_BENCH_CHANGE = {n}\n")


def measure(work: Path, tool: str, baudrate: int | None, run_no: int) -> dict[str, float]:
    from host_tools.virtual_board import VirtualBoard

    tag = f"{tool}-{baudrate or 'pty'}-{run_no}"
    fw = work / f"fw-{tag}"
    shutil.copytree(FIRMWARE_DIR, fw, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = work / "config.json"
    cfg.write_text(json.dumps(CONFIG))
    with VirtualBoard(work / f"flash-{tag}", baudrate=baudrate) as vb:
        if tool == "chargerctl":
            full = chargerctl(vb.port, fw, cfg)
            vb.wait_boot(2)
            change_one_file(fw, run_no)
            one = chargerctl(vb.port, fw, cfg)
        else:
            full = mpremote(vb.port, fw, True)
            change_one_file(fw, run_no)
            one = mpremote(vb.port, fw, False)
    return {"full": full, "one file": one}


def run(ctx: Context) -> list[Figure]:
    work = ctx.workdir
    work.mkdir(parents=True, exist_ok=True)
    plans = [(115200, ctx.pick(0, 1, 2)), (None, ctx.pick(1, 2, 3))]
    figures = []
    for baudrate, runs in plans:
        if not runs:
            continue
        got: dict[str, dict[str, list[float]]] = {"chargerctl": {"full": [], "one file": []},
                                                  "mpremote": {"full": [], "one file": []}}
        for n in range(runs):
            for tool in ("chargerctl", "mpremote"):
                for k, v in measure(work, tool, baudrate, n).items():
                    got[tool][k].append(v)
        link = f"{baudrate} baud" if baudrate else "unpaced pty"
        ours = {k: median(v) for k, v in got["chargerctl"].items()}
        base = {k: median(v) for k, v in got["mpremote"].items()}
        samples = {t: {k: [round(x, 3) for x in v] for k, v in d.items()} for t, d in got.items()}
        note = f"{link}, median of {runs}, whole command"
        figures.append(Figure("deploy", f"full deploy ({link})", round(ours["full"], 2), "s",
                              round(base["full"], 2), "mpremote cp -r", f"<= {GOAL_FULL}x",
                              ours["full"] <= GOAL_FULL * base["full"], note, samples))
        figures.append(Figure("deploy", f"one file changed ({link})", round(ours["one file"], 2),
                              "s", round(base["one file"], 2), "mpremote cp -r",
                              f"<= {GOAL_INCREMENTAL_S:g} s",
                              ours["one file"] <= GOAL_INCREMENTAL_S, note))
    return figures
