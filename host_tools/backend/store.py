"""SQLite storage (WAL): chargers, connectors, sessions, transactions, meter values, payments.

Everything the backend knows lives here, so a restart loses nothing. The connection is used
from the event loop's thread only; every statement is short, so it does not block for long.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .config import Charger

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chargers (
    identity TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    public_code TEXT NOT NULL,
    public_charging INTEGER NOT NULL,
    connectors INTEGER NOT NULL,
    currency TEXT NOT NULL,
    price_per_kwh INTEGER NOT NULL,
    start_fee INTEGER NOT NULL,
    preauth_amount INTEGER NOT NULL,
    max_sessions_per_hour INTEGER NOT NULL,
    authorization_key TEXT,
    standard TEXT NOT NULL,
    format TEXT NOT NULL,
    power_type TEXT NOT NULL,
    configured INTEGER NOT NULL DEFAULT 1,
    booted_at REAL,
    vendor TEXT,
    model TEXT,
    firmware_version TEXT,
    last_seen_at REAL
);
CREATE TABLE IF NOT EXISTS connectors (
    identity TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    status TEXT,
    error_code TEXT,
    info TEXT,
    updated_at REAL,
    PRIMARY KEY (identity, connector_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    token_hint TEXT NOT NULL,
    identity TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    failure_reason TEXT,
    driver_email TEXT,
    currency TEXT NOT NULL,
    price_per_kwh INTEGER NOT NULL,
    start_fee INTEGER NOT NULL,
    preauth_amount INTEGER NOT NULL,
    amount_authorized INTEGER,
    energy_wh INTEGER,
    cost_amount INTEGER,
    amount_captured INTEGER,
    tax_amount INTEGER,
    payment_intent_id TEXT,
    client_secret TEXT,
    publishable_key TEXT,
    stripe_account_id TEXT,
    transaction_id INTEGER,
    start_deadline REAL,
    created_at REAL NOT NULL,
    authorized_at REAL,
    charging_started_at REAL,
    stop_requested_at REAL,
    completed_at REAL,
    captured_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_charger ON sessions (identity, created_at);
CREATE INDEX IF NOT EXISTS sessions_by_status ON sessions (status);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    session_id INTEGER,
    meter_start INTEGER NOT NULL,
    meter_stop INTEGER,
    last_meter_wh INTEGER,
    started_at TEXT NOT NULL,
    stopped_at TEXT,
    stop_reason TEXT,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_values (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    identity TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    transaction_id INTEGER,
    timestamp TEXT NOT NULL,
    measurand TEXT NOT NULL,
    phase TEXT,
    context TEXT,
    value TEXT NOT NULL,
    unit TEXT
);
CREATE INDEX IF NOT EXISTS meter_values_by_tx ON meter_values (transaction_id);
-- idTags an operator call vouched for (a remote start, a reservation): the charger's Authorize
-- and StartTransaction with one are accepted until valid_until, though no public session owns it
CREATE TABLE IF NOT EXISTS operator_id_tags (
    identity TEXT NOT NULL,
    id_tag TEXT NOT NULL,
    valid_until REAL NOT NULL,
    PRIMARY KEY (identity, id_tag)
);
-- ReserveNow requests sent by operators: the row id is the reservationId when none was given
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY,
    identity TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    id_tag TEXT NOT NULL,
    expiry REAL NOT NULL,
    status TEXT,
    created_at REAL NOT NULL
);
-- charge limits (actions/charge-limit) the charger accepted: on it as a ChargePointMaxProfile
-- (connector 0) or a TxDefaultProfile (connector N) per stack level, replaced at the same place
CREATE TABLE IF NOT EXISTS charge_limits (
    identity TEXT NOT NULL,
    connector_id INTEGER NOT NULL,
    stack_level INTEGER NOT NULL,
    limit_a REAL NOT NULL,
    set_at REAL NOT NULL,
    PRIMARY KEY (identity, connector_id, stack_level)
);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY,
    client_secret TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    amount_received INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""

_CHARGER_FIELDS = (
    "name", "public_code", "public_charging", "connectors", "currency", "price_per_kwh",
    "start_fee", "preauth_amount", "max_sessions_per_hour", "authorization_key", "standard",
    "format", "power_type",
)


class Store:
    def __init__(self, path: str | Path):
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # generic helpers -------------------------------------------------------------------
    def one(self, sql: str, *args: Any) -> dict | None:
        row = self.db.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, *args: Any) -> list[dict]:
        return [dict(r) for r in self.db.execute(sql, args).fetchall()]

    def insert(self, table: str, **fields: Any) -> int:
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        cur = self.db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(fields.values()))
        return int(cur.lastrowid)

    def update(self, table: str, key: Any, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*fields.values(), key))

    # chargers --------------------------------------------------------------------------
    def sync_chargers(self, chargers: list[Charger]) -> None:
        """Make the chargers file the truth for configuration; keep what OCPP told us."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("UPDATE chargers SET configured = 0")
            for c in chargers:
                values = [getattr(c, f) for f in _CHARGER_FIELDS]
                values[2] = int(values[2])
                sets = ", ".join(f"{f} = excluded.{f}" for f in _CHARGER_FIELDS)
                self.db.execute(
                    f"INSERT INTO chargers (identity, {', '.join(_CHARGER_FIELDS)}, configured) "
                    f"VALUES (?, {', '.join('?' for _ in _CHARGER_FIELDS)}, 1) "
                    f"ON CONFLICT(identity) DO UPDATE SET {sets}, configured = 1",
                    (c.identity, *values),
                )

    def charger(self, identity: str) -> dict | None:
        return self.one("SELECT * FROM chargers WHERE identity = ? AND configured = 1", identity)

    def charger_by_code(self, code: str) -> dict | None:
        return self.one(
            "SELECT * FROM chargers WHERE public_code = ? AND configured = 1", code.upper()
        )

    def set_charger(self, identity: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE chargers SET {sets} WHERE identity = ?", (*fields.values(), identity))

    # connectors ------------------------------------------------------------------------
    def set_connector_status(self, identity: str, connector_id: int, status: str,
                             error_code: str | None, info: str | None, ts: float) -> None:
        self.db.execute(
            "INSERT INTO connectors (identity, connector_id, status, error_code, info, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(identity, connector_id) DO UPDATE SET "
            "status = excluded.status, error_code = excluded.error_code, info = excluded.info, "
            "updated_at = excluded.updated_at",
            (identity, connector_id, status, error_code, info, ts),
        )

    def connector_status(self, identity: str, connector_id: int) -> str | None:
        row = self.one(
            "SELECT status FROM connectors WHERE identity = ? AND connector_id = ?",
            identity, connector_id,
        )
        return row["status"] if row else None

    # operator calls ---------------------------------------------------------------------
    def vouch_id_tag(self, identity: str, id_tag: str, valid_until: float) -> None:
        """An operator vouches for `id_tag` at this charger until `valid_until` (the later of
        two vouchers counts)."""
        self.db.execute(
            "INSERT INTO operator_id_tags (identity, id_tag, valid_until) VALUES (?, ?, ?) "
            "ON CONFLICT(identity, id_tag) DO UPDATE SET "
            "valid_until = max(valid_until, excluded.valid_until)", (identity, id_tag, valid_until))

    def vouched(self, identity: str, id_tag: str, now: float) -> bool:
        return self.one("SELECT 1 AS ok FROM operator_id_tags WHERE identity = ? AND id_tag = ? "
                        "AND valid_until > ?", identity, id_tag, now) is not None

    def set_charge_limit(self, identity: str, connector_id: int, stack_level: int,
                         limit_a: float, ts: float) -> None:
        self.db.execute(
            "INSERT INTO charge_limits (identity, connector_id, stack_level, limit_a, set_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(identity, connector_id, stack_level) DO UPDATE "
            "SET limit_a = excluded.limit_a, set_at = excluded.set_at",
            (identity, connector_id, stack_level, limit_a, ts))

    def charge_limit(self, identity: str, connector_id: int) -> float | None:
        """A per phase the charger's profiles from actions/charge-limit allow on this connector:
        per place (connector 0, the connector) the highest stack level rules, and the lower of
        the two counts (OCPP 1.6: min(ChargePointMax, TxDefault)); None without any."""
        limits = []
        for place in (0, connector_id):
            row = self.one("SELECT limit_a FROM charge_limits WHERE identity = ? AND "
                           "connector_id = ? ORDER BY stack_level DESC LIMIT 1", identity, place)
            if row is not None:
                limits.append(row["limit_a"])
        return min(limits) if limits else None

    # sessions --------------------------------------------------------------------------
    def session(self, session_id: int) -> dict | None:
        return self.one("SELECT * FROM sessions WHERE id = ?", session_id)
