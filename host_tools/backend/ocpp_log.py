"""The recent OCPP traffic of each charger, for `chargerctl ocpp-log`: a bounded ring per charger.

Every frame in or out, and each connect/disconnect, becomes one record with a sequence number
shared by all chargers; a reader asks for what came after the last number it saw and may wait
for more (a long poll), so nothing is polled faster than traffic arrives. Secrets are redacted
before a record is stored: the connection's Authorization header, AuthorizationKey values of
GetConfiguration/ChangeConfiguration, and any field named like a password, secret or token.
idTags are shown as they are (they are not credentials in OCPP 1.6's public charging).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from .clock import iso
from .longpoll import Changes

RING_SIZE = 500  # frames kept per charger
REDACTED = "***"
_SECRET_WORDS = ("password", "secret", "token", "authorizationkey")


def _secret(name: object) -> bool:
    return isinstance(name, str) and any(w in name.lower() for w in _SECRET_WORDS)


def redact(payload: object) -> object:
    """A copy of an OCPP payload with secret values replaced by `***`."""
    if isinstance(payload, list):
        return [redact(x) for x in payload]
    if not isinstance(payload, dict):
        return payload
    out = {}
    # {"key": "AuthorizationKey", "value": "..."}: the name is harmless, its value is the secret
    named_secret = _secret(payload.get("key"))
    for k, v in payload.items():
        if _secret(k) or (named_secret and k == "value"):
            out[k] = REDACTED
        else:
            out[k] = redact(v)
    return out


class FrameLog:
    """Per-charger rings of frame records, followed with a long poll (longpoll.py)."""

    def __init__(self, clock: Callable[[], float], size: int = RING_SIZE):
        self.clock = clock
        self.size = size
        self.seq = 0
        self._rings: dict[str, deque] = {}
        self._changes = Changes()

    def record(self, identity: str, direction: str, kind: str, action: str | None,
               message_id: str | None, payload: object) -> None:
        self.seq += 1
        ring = self._rings.setdefault(identity, deque(maxlen=self.size))
        ring.append({"seq": self.seq, "time": iso(self.clock()), "direction": direction,
                     "type": kind, "action": action, "message_id": message_id,
                     "payload": redact(payload)})
        self._changes.changed()

    def frames(self, identity: str, after: int = 0, limit: int = RING_SIZE) -> list[dict]:
        ring = self._rings.get(identity, ())
        found = [f for f in ring if f["seq"] > after]
        return found[-limit:] if after <= 0 else found[:limit]

    async def wait(self, identity: str, after: int, timeout: float, limit: int) -> list[dict]:
        """Frames after `after`, waiting up to `timeout` seconds for the first one."""
        return await self._changes.until(lambda: self.frames(identity, after, limit), timeout)
