"""A long poll: readers wait until what they look for is there, writers say something changed.

    changes = Changes()
    changes.changed()                                   # a writer, in the event loop
    found = await changes.until(lambda: look(), 20.0)   # a reader: look() again at each change

The OCPP log's frames (ocpp_log.py) and the firmware/diagnostics events (transfers.py) are
followed this way: a follower's GET is held until something new arrives, instead of polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Changes:
    def __init__(self) -> None:
        self._cond: asyncio.Condition | None = None  # made by the first reader, in its loop

    def changed(self) -> None:
        """Wakes every waiting reader; nothing to do before the first one."""
        if self._cond is not None:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        cond = self._condition()
        async with cond:
            cond.notify_all()

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def until(self, look: Callable[[], T], timeout: float) -> T:
        """look()'s first truthy answer, looking again at each change for up to `timeout`
        seconds; its last answer then."""
        found = look()
        if found or timeout <= 0:
            return found
        cond = self._condition()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with cond:
            while not (found := look()):
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(cond.wait(), left)
                except TimeoutError:
                    break
        return found
