"""The virtual boards running on this machine, by port, so that a command given only the port
(`chargerctl logs --port /dev/pts/3`) finds the board's console log. One small JSON file per
board in a per-user folder of the temp directory, written when it starts, removed when it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path


def _file(port: str) -> Path:
    # "/dev/pts/3" -> <tmp>/chargerctl-1000/vb-dev-pts-3.json
    return Path(tempfile.gettempdir()) / f"chargerctl-{os.getuid()}" / ("vb" + port.replace("/", "-") + ".json")


def register(port: str, **info) -> None:
    """This process runs the virtual board on `port` (info: console_log, control_port, ...)."""
    path = _file(port)
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_text(json.dumps({"port": port, "pid": os.getpid(), **info}))


def unregister(port: str) -> None:
    if (find(port) or {}).get("pid") == os.getpid():
        with contextlib.suppress(OSError):
            _file(port).unlink()


def find(port: str) -> dict | None:
    """The virtual board serving `port` in a live process of this user: {"port", "pid",
    "console_log", "control_port", "flash_dir"}, or None (not a virtual board, or gone)."""
    try:
        info = json.loads(_file(port).read_text())
        os.kill(int(info["pid"]), 0)  # the process that runs it is still there
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if info.get("port") == port else None
