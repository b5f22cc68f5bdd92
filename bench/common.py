"""What every benchmark shares: figures (value, baseline, ratio, goal), percentiles, limits.

A benchmark is a function `run(ctx) -> list[Figure]`; `ctx` says how big to make it (`full`,
`quick` or `tiny`, the smoke test's size) and where to put its files. A figure is compared
with a baseline measured in the same run; `goal` is checked by `met`.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SIZES = ("tiny", "quick", "full")


@dataclass
class Context:
    size: str  # tiny | quick | full
    workdir: Path

    def pick(self, tiny: Any, quick: Any, full: Any) -> Any:
        return {"tiny": tiny, "quick": quick, "full": full}[self.size]


@dataclass
class Figure:
    benchmark: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None  # same measurement of the reference, same run
    baseline_name: str = ""
    goal: str = ""  # shown as written, e.g. "<= 1.2x", "<= 96k", "< 100 ms"
    met: bool | None = None
    note: str = ""
    details: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        return d


def failed(benchmark: str, error: str) -> Figure:
    """A benchmark that could not finish: one row saying why, the others still run."""
    return Figure(benchmark, "error", None, "", met=False, note=error)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    k = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[k - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        raise ValueError("no samples")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def raise_fd_limit(wanted: int = 8192) -> int:
    """Raise the soft RLIMIT_NOFILE (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `pred()` until truthy (returned); TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# Per-IP API limits raised for a bench: every request comes from 127.0.0.1.
HIGH_LIMITS = ["charger", "start", "get", "confirm", "stop", "cancel", "local_confirm"]


def rate_limit_args(n: int = 1_000_000) -> list[str]:
    args = []
    for name in HIGH_LIMITS:
        args += ["--rate-limit", f"{name}={n}"]
    return args
