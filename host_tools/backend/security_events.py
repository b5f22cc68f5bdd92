"""The security events chargers report (SecurityEventNotification, OCPP 1.6 security
whitepaper ed. 2): stored per charger as they arrive, served to the operator.

    GET /api/v3/operator/chargers/{identity}/security-events?limit=N

The charger's last N events (1-500, default 100), newest first: `{"data": [{"id", "type",
"timestamp" (the charger's), "tech_info", "received_at" (ours, unix s)}], "online"}`. Served to
loopback clients only, as the OCPP log is (operator.py: a bench backend has no accounts; the
machine boundary is the protection). The charger sends each critical event until it is
answered, so one delivered twice (a power cut between our answer and its queue's update) is
stored once: same charger, type, timestamp and techInfo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from . import oplog
from .operator import loopback_refusal

if TYPE_CHECKING:
    from .store import Store

SECURITY_EVENTS = "/api/v3/operator/chargers/{identity}/security-events"
MAX_LIMIT = 500

_TABLE = """
CREATE TABLE IF NOT EXISTS security_events (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL,
    type TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    tech_info TEXT,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS security_events_by_charger ON security_events (identity, id);
"""


def _table(store: Store) -> None:
    # Here rather than in store.py's schema: this feature's table, created on first use
    store.db.executescript(_TABLE)


def record(store: Store, identity: str, kind: str, timestamp: str, tech_info: str | None,
           received_at: float) -> None:
    _table(store)
    if store.one("SELECT 1 FROM security_events WHERE identity = ? AND type = ? AND timestamp = ? "
                 "AND tech_info IS ?", identity, kind, timestamp, tech_info):
        return  # delivered again (at least once): stored already
    store.insert("security_events", identity=identity, type=kind, timestamp=timestamp,
                 tech_info=tech_info, received_at=received_at)
    oplog.log("ocpp.security_event", identity=identity, type=kind, timestamp=timestamp)


def recent(store: Store, identity: str, limit: int = 100) -> list[dict]:
    """The charger's last `limit` events, newest first."""
    _table(store)
    return store.all("SELECT id, type, timestamp, tech_info, received_at FROM security_events "
                     "WHERE identity = ? ORDER BY id DESC LIMIT ?", identity, limit)


def add_security_routes(app: FastAPI) -> None:
    @app.get(SECURITY_EVENTS, include_in_schema=False)
    async def security_events(identity: str, request: Request, limit: int = 100):
        if (no := loopback_refusal(request, identity, "Security events are")) is not None:
            return no
        backend = request.app.state.backend
        if not 1 <= limit <= MAX_LIMIT:
            return JSONResponse({"message": f"limit must be 1 to {MAX_LIMIT}, not {limit}."},
                                status_code=422)
        return JSONResponse({"data": recent(backend.store, identity, limit),
                             "online": backend.central.is_online(identity)})
