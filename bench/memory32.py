"""Code heap on a 32-bit MicroPython: the same import probe on wasm32 and on the 64-bit unix port.

Run: `.venv/bin/python -m bench.memory32` (needs Node.js and npm; not part of `make bench`).

The unix port from PyPI is 64-bit (8-byte pointers, 32-byte GC blocks); an ESP32 is 32-bit
(4-byte pointers, 16-byte GC blocks). MicroPython's webassembly port (npm package
`@micropython/micropython-webassembly-pyscript`) is wasm32, so it has the ESP32's pointer and
GC-block sizes. This script builds the firmware image like `chargerctl flash` does
(host_tools.flash.build_image: .mpy, `-X no-source-lines`), copies it into the wasm port's
in-memory filesystem and imports the session's resident modules, one by one, measuring
`gc.collect(); gc.mem_alloc()` after each. The same probe runs on `.venv/bin/micropython`.

The qstr pools are grown first in both (about 700 names), so no module is charged for a new
pool; the "pools" row is what that cost. The wasm port's asyncio is its own (frozen, built on
the JS event loop) and has no `asyncio.stream`; the asyncio rows therefore differ in kind.
The wasm port's GC blocks are 16 bytes (1000 `object()`s cost 16.3 bytes each there, 32.0 on
the unix port). Its interpreter-start row is not comparable (PyScript's globals differ). Each
probe step is a separate runPython call with a turn of the JS event loop in between (see PROBE).
The npm package is cached under .run/memory32/ (npm registry only).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.memory import build_lib
from host_tools.micropython import micropython_binary

NPM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
NPM_VERSION = "1.29.0-6"  # the 64-bit binary and mpy-cross are 1.29 (mpy v6.3)
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".run" / "memory32"
HEAP = 1024 * 1024
POOL_NAMES = 700

# The session's resident modules (bench.memory's instrumented run), leaves first, so each row
# is mostly that module alone.
MODULES = ["asyncio", "asyncio.core", "asyncio.event", "asyncio.funcs", "asyncio.lock",
           "asyncio.stream", "evse", "evse.log", "evse.hal", "evse.hal.relay", "evse.hal.plug",
           "evse.hal.watchdog", "evse.hal.display", "evse.hal.board", "evse.hal.sim",
           "evse.connector", "evse.ocpp", "evse.ocpp.rpc", "evse.ocpp.journal",
           "evse.ocpp.settings", "evse.ocpp.ws", "evse.ocpp.handlers", "evse.ocpp.chargepoint",
           "evse.app"]

# Steps separated by "#--": the wasm port runs each step as its own runPython call with a turn
# of the JS event loop in between. Without that turn its gc.collect() keeps recent garbage alive
# (13 KB of freed bytearrays stayed counted in a check); the unix port runs the file whole.
_MEASURE = "gc.collect()\n#--\ngc.collect()\nprint('@@row', _n, gc.mem_alloc())\n"
PROBE = "\n#--\n".join(
    ["import gc, sys\n_n = 'start'", _MEASURE,
     f"_o = object()\nfor _i in range({POOL_NAMES}):\n    getattr(_o, 'pool_name_' + str(_i), None)\n"
     "del _i, _o\n_n = 'pools'", _MEASURE]
    + [s for name in MODULES for s in (
        f"_n = {name!r}\ntry:\n    __import__(_n)\nexcept Exception as _e:\n"
        "    print('@@fail', _n, type(_e).__name__, _e)\n    del _e", _MEASURE)]) + "\n"

NODE = """\
import { loadMicroPython } from "%(pkg)s";
import fs from "node:fs";
import path from "node:path";
const lib = process.argv[2], probe = process.argv[3];
const mp = await loadMicroPython({heapsize: %(heap)d,
    stdout: (s) => process.stdout.write(s + "\\n"), stderr: (s) => process.stdout.write(s + "\\n")});
function copy(src, dst) {
  for (const e of fs.readdirSync(src, {withFileTypes: true})) {
    const s = path.join(src, e.name), d = dst + "/" + e.name;
    if (e.isDirectory()) { try { mp.FS.mkdir(d); } catch (x) {} copy(s, d); }
    else mp.FS.writeFile(d, fs.readFileSync(s));
  }
}
try { mp.FS.mkdir("/lib"); } catch (x) {}
copy(lib, "/lib");
mp.runPython("import sys\\nsys.path[:] = ['/lib', '.frozen']");
for (const step of fs.readFileSync(probe, "utf8").split("\\n#--\\n")) {
  mp.runPython(step);
  await new Promise((r) => setTimeout(r, 0));
}
"""


def ensure_package() -> Path:
    """The npm package in CACHE (installed from the npm registry if missing)."""
    pkg = CACHE / "node_modules" / NPM_PACKAGE
    if (pkg / "package.json").exists() and json.loads(
            (pkg / "package.json").read_text()).get("version") == NPM_VERSION:
        return pkg
    if not shutil.which("npm") or not shutil.which("node"):
        raise SystemExit("memory32 needs node and npm on PATH")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "package.json").exists():
        (CACHE / "package.json").write_text('{"name": "memory32", "private": true}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                    "--registry", "https://registry.npmjs.org/", f"{NPM_PACKAGE}@{NPM_VERSION}"],
                   cwd=CACHE, check=True, timeout=300)
    return pkg


def parse(out: str) -> tuple[list[tuple[str, int]], dict[str, str]]:
    rows = [(m.group(1), int(m.group(2))) for m in re.finditer(r"^@@row (\S+) (\d+)$", out, re.M)]
    fails = {m.group(1): m.group(2) for m in re.finditer(r"^@@fail (\S+) (.*)$", out, re.M)}
    if not rows or rows[-1][0] != MODULES[-1]:
        raise RuntimeError(f"probe did not finish:\n{out[-1500:]}")
    return rows, fails


def run_wasm(lib: Path, probe: Path) -> str:
    ensure_package()
    script = CACHE / "probe.mjs"  # next to node_modules, so the bare import resolves
    script.write_text(NODE % {"pkg": NPM_PACKAGE, "heap": HEAP})
    proc = subprocess.run(["node", str(script), str(lib / "lib"), str(probe)],
                          capture_output=True, text=True, timeout=120)
    return proc.stdout + proc.stderr


def run_unix(lib: Path, probe: Path) -> str:
    proc = subprocess.run([micropython_binary(), "-X", f"heapsize={HEAP}", str(probe)],
                          capture_output=True, text=True, timeout=60,
                          env={"MICROPYPATH": f"{lib / 'lib'}:.frozen", "PATH": "/usr/bin:/bin"})
    return proc.stdout + proc.stderr


def deltas(rows: list[tuple[str, int]]) -> dict[str, int]:
    return {name: rows[i][1] - rows[i - 1][1] for i, (name, _) in enumerate(rows) if i}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="memory32-") as tmp:
        work = Path(tmp)
        lib = work / "image"
        lib.mkdir()
        build_lib(lib)
        probe = work / "probe.py"
        probe.write_text(PROBE)
        r32, f32 = parse(run_wasm(lib, probe))
        r64, f64 = parse(run_unix(lib, probe))
    d32, d64 = deltas(r32), deltas(r64)
    print(f"{'row':26} {'32-bit':>8} {'64-bit':>8} {'32/64':>6}  note")

    def line(name: str, a: int, b: int, note: str = "") -> None:
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{name:26} {a:8,} {b:8,} {ratio:>6}  {note}")

    line("interpreter start", r32[0][1], r64[0][1])
    for name in ["pools"] + MODULES:
        note = "; ".join(f"{w}: {f[name]}" for w, f in (("32", f32), ("64", f64)) if name in f)
        line(name, d32[name], d64[name], note)
    evse = [n for n in MODULES if n.startswith("evse")]
    line("all evse modules", sum(d32[n] for n in evse), sum(d64[n] for n in evse))
    asy = [n for n in MODULES if n.startswith("asyncio")]
    line("asyncio (ports differ)", sum(d32[n] for n in asy), sum(d64[n] for n in asy))
    line("total after imports", r32[-1][1], r64[-1][1], "interpreter + pools + all rows")
    print(f"32-bit: MicroPython webassembly {NPM_VERSION} (wasm32, npm); "
          f"64-bit: {micropython_binary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
