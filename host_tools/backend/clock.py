"""Time for the backend: one injectable clock, one timestamp format."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Seconds since the epoch; `time.time` in production, a settable object in tests."""


def system_clock() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """`2026-01-10T01:14:32.000000Z`, the API's timestamp format."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ocpp_time(ts: float) -> str:
    """OCPP dateTime (RFC 3339, UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
