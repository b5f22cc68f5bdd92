"""Running a small MicroPython script with the firmware on MICROPYPATH (the unix port).

- run_mp: the HTTP and WebSocket client tests' `async def main()`, appended to a prelude that
  defines `run()` (which prints DONE unless the script crashed);
- run_cases: the signature and X.509 tests' cases, a JSON line each way.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from host_tools.micropython import micropython_binary, micropython_path
from tests import builds

RUN_TIMEOUT = 30.0
FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"


async def run_mp(tmp_path: Path, prelude: str, body: str, timeout: float = RUN_TIMEOUT) -> str:
    """Run `async def main()` (body) after `prelude` in MicroPython; its output. A timeout or a
    missing DONE (the script crashed) fails the test with what it printed."""
    script = tmp_path / "client.py"
    script.write_text(prelude + textwrap.dedent(body) + "\nasyncio.run(run())\n")
    env = dict(os.environ, MICROPYPATH=micropython_path())
    proc = await asyncio.create_subprocess_exec(
        micropython_binary(), str(script), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise AssertionError(f"MicroPython client timed out:\n{out.decode(errors='replace')}") from None
    text = out.decode(errors="replace")
    assert "DONE" in text, f"MicroPython client crashed (exit {proc.returncode}):\n{text}"
    return text


def run_cases(tmp_path: Path, build: str, script: str, cases: list[dict], timeout: float) -> list:
    """Run `script` (it reads the JSON lines file named by its argv[1], one case a line, and
    prints one JSON line per case) with the firmware's sources on the path, on `build` (the
    test is skipped when it is not built); the printed answers, one per case."""
    mp = builds.binary(build)
    if mp is None:
        pytest.skip(builds.SKIP_REASON)
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (tmp_path / "cases.py").write_text(script)
    out = subprocess.run([mp, str(tmp_path / "cases.py"), str(tmp_path / "cases.jsonl")], capture_output=True,
                         text=True, timeout=timeout, env=dict(os.environ, MICROPYPATH=str(FIRMWARE)))
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(lines) == len(cases), (out.returncode, out.stderr[-3000:], out.stdout[-1000:])
    return lines
