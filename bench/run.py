"""`make bench`: every figure as a ratio against a baseline measured in the same run.

    python -m bench.run [--only latency,memory,deploy,scale] [--quick] [--out FILE]

Benchmarks, not tests: nothing here fails the build because a figure misses its goal. Each
benchmark runs on its own; one that breaks becomes an `error` row and the others still run.
The table goes to the terminal (rich) and everything, samples included, to bench/results.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import SIZES, Context, Figure, failed, raise_fd_limit

BENCHMARKS = ("latency", "memory", "deploy", "scale", "schema")
RESULTS = Path(__file__).resolve().parent / "results.json"


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return f"{text} {unit}".strip()


def print_table(figures: list[Figure], seconds: dict[str, float],
                load: dict[str, list[float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="make bench", show_lines=False)
    for col, kw in (("benchmark", {}), ("figure", {}), ("value", {"justify": "right"}),
                    ("baseline", {"justify": "right"}), ("ratio", {"justify": "right"}),
                    ("goal", {}), ("met", {}), ("note", {"overflow": "fold", "max_width": 48})):
        table.add_column(col, **kw)
    for f in figures:
        met = {True: "[green]yes[/]", False: "[red]NO[/]", None: "-"}[f.met]
        base = _fmt(f.baseline, f.unit) + (f" ({f.baseline_name})" if f.baseline_name else "")
        table.add_row(f.benchmark, f.name, _fmt(f.value, f.unit), base if f.baseline else "-",
                      "-" if f.ratio is None else f"{f.ratio:.2f}x", f.goal, met, f.note)
    console = Console(width=max(140, shutil.get_terminal_size().columns))
    console.print(table)
    console.print("seconds per benchmark: " +
                  ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()) +
                  "; load average (1 min) at each start: " +
                  ", ".join(f"{k} {v[0]:.2f}" for k, v in load.items()))


def run(only: list[str], size: str, out: Path | None, workdir: Path | None = None,
        show: bool = True) -> dict:
    raise_fd_limit()
    revision = _revision()
    started = time.monotonic()
    figures: list[Figure] = []
    seconds: dict[str, float] = {}
    load: dict[str, list[float]] = {}  # machine load when each started: others share the CPUs
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        base = Path(workdir or tmp)
        for name in only:
            load[name] = [round(x, 2) for x in os.getloadavg()]
            t0 = time.monotonic()
            if show:
                print(f"bench: {name} ({size}) ...", file=sys.stderr, flush=True)
            shutil.rmtree(base / name, ignore_errors=True)  # logs are appended: start clean
            try:
                module = importlib.import_module(f"bench.{name}")
                figures += module.run(Context(size, base / name))
            except Exception as e:  # one broken benchmark must not lose the others
                if show:
                    traceback.print_exc()
                figures.append(failed(name, f"{type(e).__name__}: {e}"[:600]))
            seconds[name] = time.monotonic() - t0
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "size": size,
              "revision": revision,
              "machine": {"python": platform.python_version(), "cpus": _cpus(),
                          "platform": platform.platform()},
              "seconds": {k: round(v, 1) for k, v in seconds.items()},
              "loadavg_at_start": load,
              "total_seconds": round(time.monotonic() - started, 1),
              "figures": [f.as_dict() for f in figures]}
    if out is not None:
        out.write_text(json.dumps(result, indent=2) + "\n")
    if show:
        print_table(figures, seconds, load)
        if out is not None:
            print(f"results written to {out}")
    return result


def _revision() -> dict:
    """The commit measured, and whether the working tree differed from it (others edit it)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "firmware", "host_tools"],
                               cwd=root, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head, "uncommitted_changes": sorted(
        line[3:] for line in dirty.splitlines() if line.strip())}


def _cpus() -> int | None:
    return os.cpu_count()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=",".join(BENCHMARKS),
                    help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    ap.add_argument("--quick", action="store_true", help="smaller runs (a minute or two)")
    ap.add_argument("--size", choices=SIZES, help=argparse.SUPPRESS)  # tiny: the smoke test
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    ap.add_argument("--workdir", type=Path, help="keep logs and flash folders here")
    args = ap.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in only if b not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    size = args.size or ("quick" if args.quick else "full")
    result = run(only, size, args.out, args.workdir)
    return 0 if all(f["name"] != "error" for f in result["figures"]) else 1


if __name__ == "__main__":
    sys.exit(main())
