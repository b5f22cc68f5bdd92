"""The README's "From nothing to a passed commissioning check, on a virtual board", run as a
user pastes it: each line of its shell block in order (the two long-running commands in the
background, as in their own terminals), `/dev/pts/N` replaced by the port the virtual board
printed. Then the README's next step, `chargerctl session start`, must work (issue 11,
finding 4: commission left the connector Finishing) and nothing may be refused on the way.

The block's ports (8180, 7700) are used as written when they are free; otherwise both are
replaced by free ones, and CHARGERCTL_API points the commands without --api at that backend.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.bench_rig import free_port
from tests.host.conftest import require_schema

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From nothing to a passed commissioning check, on a virtual board", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def test_the_readme_virtual_board_section_runs_top_to_bottom(tmp_path):
    require_schema()
    block = _block()
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    if not (_free(8180) and _free(7700)):
        api_port, sim_port = free_port(), free_port()
        block = block.replace("8180", str(api_port)).replace("7700", str(sim_port))
        env["CHARGERCTL_API"] = f"http://127.0.0.1:{api_port}/api/v3"
    else:
        api_port = 8180

    lines = block.splitlines()
    assert lines[0] == "source .venv/bin/activate"
    # The heredocs (cat > FILE <<'JSON' ... JSON) as the shell would run them.
    heredocs = re.findall(r"cat > \S+ <<'JSON'\n.*?\nJSON\n", block, re.S)
    assert len(heredocs) == 2
    subprocess.run(["bash", "-c", "".join(heredocs)], cwd=tmp_path, check=True, env=env)
    commands = [line.split("  #", 1)[0].strip() for line in lines
                if line.startswith(("chargerctl ", "curl "))]
    assert [c.split()[1] for c in commands] == ["backend", "virtual-board", "flash", "-s",
                                                 "commission", "display"]

    background: list[subprocess.Popen] = []
    port = None
    try:
        for command in commands:
            if command.startswith(("chargerctl backend", "chargerctl virtual-board")):
                # Its own "terminal": a file, read while it runs (a full pipe would stall it).
                out = tmp_path / f"terminal-{len(background) + 1}.txt"
                with open(out, "w") as terminal:
                    proc = subprocess.Popen(["bash", "-c", "exec " + command], cwd=tmp_path,
                                            env=env, stdout=terminal, stderr=subprocess.STDOUT,
                                            start_new_session=True)
                background.append(proc)
                if "virtual-board" in command:
                    found = _wait(lambda out=out: re.search(r"virtual board on (/dev/pts/\d+)",
                                                            out.read_text()), 30, "the port")
                    port = found[1]
                else:
                    _wait(lambda: not _free(api_port), 30, "the backend to listen")
                continue
            assert port, "the virtual board printed no port"
            command = command.replace("/dev/pts/N", port)
            if command.startswith("curl "):
                # The README says `"online": true`: the board needs a moment after the flash.
                def online(command=command):
                    out = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                         capture_output=True, text=True).stdout
                    return '"online":true' in out.replace(" ", "")  # as the README says
                _wait(online, 30, "the charger online", interval=2.0)  # 30 lookups a minute
                continue
            proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
            assert "--force" not in proc.stdout + proc.stderr, (command, proc.stderr)
        report = json.loads((tmp_path / "commission-ABC123.json").read_text())
        assert report["passed"] is True, report
        assert (tmp_path / "screen.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # The README's next step (its "Play the driver" section).
        proc = subprocess.run(["bash", "-c", "chargerctl session start --code ABC123 --connector 1"
                               f" --state {tmp_path / 'session.json'}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        for proc in background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in background:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture(autouse=True)
def _no_leftover_session_file(monkeypatch, tmp_path):
    # `session start` keeps its token in the user's config folder unless told otherwise.
    monkeypatch.setenv("CHARGERCTL_STATE", str(tmp_path / "session.json"))
