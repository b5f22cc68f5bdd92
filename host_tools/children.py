"""Child processes that never outlive the tool that started them.

A test run killed by a timeout, or a demo killed with SIGKILL, cannot run its clean-up code; on
Linux the kernel can still end the children (PR_SET_PDEATHSIG), so no backend or virtual board
is left holding a port. The signal fires when the thread that started the child ends: start
long-lived children from a thread that lives as long as they should.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # not glibc/musl: children then outlive a killed parent
    _LIBC = None


def die_with_parent(new_session: bool = False) -> None:
    """`preexec_fn` for subprocess.Popen: SIGKILL this child when its parent dies."""
    if new_session:
        os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
