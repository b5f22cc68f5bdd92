"""`make lint` as part of the suite: host code under the host rules, MicroPython code under
firmware/ruff.toml (const() as a builtin, no CPython-only rewrites)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF = [sys.executable, "-m", "ruff", "check", "--no-cache"]


def test_host_code_is_lint_clean():
    proc = subprocess.run(RUFF + ["--exclude", "tests/firmware", "host_tools", "tests", "bench"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_firmware_code_is_lint_clean():
    proc = subprocess.run(RUFF + ["--config", "firmware/ruff.toml", "firmware", "tests/firmware"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
