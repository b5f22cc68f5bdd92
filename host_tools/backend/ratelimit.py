"""Fixed-window rate limits in the manner of Laravel's throttle middleware.

A key's window opens with its first hit and lasts `period` seconds; within it at most `limit`
hits pass. Counters live in memory: a restart forgives everyone, as a cache flush would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .clock import Clock


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window reopens; 0 when allowed

    def headers(self) -> dict[str, str]:
        h = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after)
        return h


class RateLimiter:
    def __init__(self, clock: Clock, max_keys: int = 100_000):
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    def hit(self, key: str, limit: int, period: float = 60.0) -> Verdict:
        now = self.clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= period:
            start, count = now, 0
        if count >= limit:
            return Verdict(False, limit, 0, max(1, math.ceil(start + period - now)))
        if len(self._windows) >= self._max_keys:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < period}
        self._windows[key] = (start, count + 1)
        return Verdict(True, limit, limit - count - 1, 0)
