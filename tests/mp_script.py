"""Running a small MicroPython client script with the firmware on MICROPYPATH (the unix port),
shared by the HTTP and WebSocket client tests: each test's `async def main()` is appended to a
prelude that defines `run()` (which prints DONE unless the script crashed)."""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

from host_tools.micropython import micropython_binary, micropython_path

RUN_TIMEOUT = 30.0


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
