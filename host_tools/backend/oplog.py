"""Operator log: one `key=value` line per event, secrets redacted before they get here."""

from __future__ import annotations

import logging

LOGGER = logging.getLogger("chargerctl.backend")


def _value(v: object) -> str:
    s = "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    if not s or any(c in s for c in ' "=\t\n'):
        s = '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


def line(event: str, /, **fields: object) -> str:
    return " ".join([f"event={event}"] + [f"{k}={_value(v)}" for k, v in fields.items()])


def log(event: str, /, **fields: object) -> None:
    # As LOGGER.info() does, without looking up the caller's file and line (nobody prints them).
    if LOGGER.isEnabledFor(logging.INFO):
        LOGGER.handle(LOGGER.makeRecord(LOGGER.name, logging.INFO, __file__, 0,
                                        line(event, **fields), None, None))


def token_hint(token: str) -> str:
    """Enough of a session token to tell two sessions apart in a log, never enough to use it."""
    return token[:6] + "…"
