"""Measure `chargerctl flash` against plain `mpremote cp -r` of the sources on virtual boards.

    .venv/bin/python -m tests.host.measure_deploy [--baud 115200] [--runs 3]

For each tool: a full deploy to a blank board, a repeat with nothing changed, and a repeat with
one module changed (a code change, so its .mpy changes too). `--baud` paces the virtual board's
link like a USB-serial UART; without it the pseudo-terminal runs at memory speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools import FIRMWARE_DIR
from host_tools.flash import build_image
from host_tools.virtual_board import VirtualBoard

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
CONFIG = {"charge_point_id": "CP-1", "csms_url": "ws://127.0.0.1:9/ocpp", "public_code": "ABC123"}


def _chargerctl(port: str, fw: Path, cfg: Path) -> float:
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "host_tools.cli", "flash", "--port", port,
                           "--board", "unix-sim", "--config", str(cfg), "--firmware-dir", str(fw),
                           "--json"], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr)
    json.loads(proc.stdout.splitlines()[-1])
    return time.monotonic() - t


def _mpremote(port: str, fw: Path, first: bool) -> float:
    t = time.monotonic()
    argv = [MPREMOTE, "connect", port, "resume"] + (["fs", "mkdir", ":lib", "+"] if first else [])
    argv += ["cp", "-r", "evse", ":lib/", "+", "cp", "main.py", ":main.py"]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=fw)
    if proc.returncode:
        raise SystemExit(proc.stdout + proc.stderr)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baud", type=int, default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = tmp / "config.json"
        cfg.write_text(json.dumps(CONFIG))
        for run in range(args.runs):
            for tool in ("chargerctl flash", "mpremote cp -r"):
                fw = tmp / f"fw-{run}-{tool[:4]}"
                shutil.copytree(FIRMWARE_DIR, fw, ignore=shutil.ignore_patterns("__pycache__"))
                with VirtualBoard(tmp / f"flash-{run}-{tool[:4]}", baudrate=args.baud) as vb:
                    row = results.setdefault(tool, {"full": [], "unchanged": [], "one file": []})
                    if tool.startswith("chargerctl"):
                        row["full"].append(_chargerctl(vb.port, fw, cfg))
                        vb.wait_boot(2)
                        row["unchanged"].append(_chargerctl(vb.port, fw, cfg))
                        vb.wait_boot(3)
                        with open(fw / "evse" / "log.py", "a") as f:
                            f.write(f"_MEASURE = {run}\n")
                        row["one file"].append(_chargerctl(vb.port, fw, cfg))
                    else:
                        row["full"].append(_mpremote(vb.port, fw, True))
                        row["unchanged"].append(_mpremote(vb.port, fw, False))
                        with open(fw / "evse" / "log.py", "a") as f:
                            f.write(f"_MEASURE = {run}\n")
                        row["one file"].append(_mpremote(vb.port, fw, False))
    src = sum(p.stat().st_size for p in FIRMWARE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    image = build_image()
    link = f"{args.baud} baud" if args.baud else "unpaced pty"
    print(f"virtual board, {link}; sources {src} bytes, image {image.total_bytes} bytes "
          f"({len(image.files)} files); median of {args.runs} runs, whole command, seconds")
    print(f"{'':18}{'full':>8}{'unchanged':>11}{'one file':>10}")
    for tool, row in results.items():
        print(f"{tool:18}" + "".join(f"{statistics.median(row[k]):>{w}.2f}"
                                     for k, w in (("full", 8), ("unchanged", 11), ("one file", 10))))


if __name__ == "__main__":
    main()
