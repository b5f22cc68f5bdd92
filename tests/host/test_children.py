"""A backend started by a tool dies with it, even when the tool is SIGKILLed (no clean-up ran)."""

import os
import signal
import subprocess
import sys
import textwrap
import time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_backend_dies_with_a_killed_parent(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from host_tools.bench_rig import LocalBackend, bench_charger
        b = LocalBackend({str(tmp_path)!r}, [bench_charger()]).start()
        print(b._proc.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        backend_pid = int(parent.stdout.readline())
        assert _alive(backend_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 5
        while _alive(backend_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(backend_pid), "the backend outlived its parent"
    finally:
        parent.kill()
