"""The whole chain on loopback: `chargerctl backend` subprocess, a flashed virtual board running
the firmware on the MicroPython unix port, and the driver client (host_tools/bench_rig.py).

Each module gets one rig (`rig` fixture, module scope); a module sets `RIG = {...}` to pass
options to `bench_rig` (charger fields, board config, backend args). The backend runs with
generous per-IP limits, so tests may poll the session every POLL_S: the 30/min limits are
part of what test_refusals.py checks on a rig of its own.

What a test learns about the backend it learns the way an operator would: the public API,
the SQLite database (read only) and the operator log (`event=session ... from=X to=Y`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from host_tools import driver
from host_tools.bench_rig import BENCH_OCPP

ROOT = Path(__file__).resolve().parents[2]
NEEDS = [ROOT / "firmware" / "main.py", ROOT / "firmware" / "evse" / "app.py",
         ROOT / "host_tools" / "backend" / "cli.py", ROOT / "host_tools" / "flash.py",
         ROOT / "host_tools" / "virtual_board.py", ROOT / "host_tools" / "bench_rig.py"]

POLL_S = 0.1  # session polling; the rig's backend allows it (FAST_LIMITS)
FAST_LIMITS = [arg for name in ("charger", "start", "get", "confirm", "stop", "cancel",
                                "local_confirm") for arg in ("--rate-limit", f"{name}=6000")]
# Reconnect quickly after a backend outage or a reboot (intervals are configuration).
E2E_OCPP = {**BENCH_OCPP, "ReconnectBackoffMax": 1}
VAT = Decimal("0.21")  # the backend's default --vat-rate
ENERGY_REGISTER = "Energy.Active.Import.Register"
ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ENERGY_KWH = re.compile(r"^\d+\.\d{3}$")
TIMESTAMPS = ("created_at", "authorized_at", "charging_started_at", "completed_at", "captured_at")


def _missing() -> list[str]:
    return [str(p.relative_to(ROOT)) for p in NEEDS if not p.exists()]


@pytest.fixture(scope="module")
def rig(request, tmp_path_factory):
    """One backend + flashed virtual board for the whole module (options: module's RIG)."""
    if _missing():
        pytest.skip(f"end-to-end pieces missing: {_missing()}")
    with e2e_rig(tmp_path_factory.mktemp("rig"), **getattr(request.module, "RIG", {})) as r:
        yield r


def e2e_rig(workdir: Path, *, charger: dict | None = None, config: dict | None = None,
            backend_args: list[str] | None = None, **kw: Any):
    """bench_rig with the e2e defaults: fast polling allowed, many sessions per hour, quick
    reconnects. `backend_args=[]` keeps the backend's real limits."""
    from host_tools.bench_rig import bench_rig

    charger = {"max_sessions_per_hour": 1000, **(charger or {})}
    config = {"ocpp": dict(E2E_OCPP), **(config or {})}
    args = FAST_LIMITS if backend_args is None else backend_args
    return bench_rig(workdir, charger=charger, config=config, backend_args=args, **kw)


# --- waiting ---------------------------------------------------------------------------------

def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
               detail: Callable[[], str] | None = None) -> Any:
    """Poll `check` until it returns something truthy; fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"; {detail()}" if detail else ""
            pytest.fail(f"{what}: not within {timeout:g} s{extra}")
        time.sleep(interval)


def wait_status(client: driver.Client, token: str, statuses: Iterable[str],
                timeout: float = 30.0) -> dict:
    return driver.wait_for(client, token, set(statuses), timeout=timeout, interval=POLL_S)


def board_tail(rig, n: int = 1500) -> str:
    return f"board console: {rig.board.console_text()[-n:]!r}"


def backend_tail(rig, n: int = 1500) -> str:
    return f"backend log: {rig.backend.log_tail(n)!r}"


# --- the driver's side -----------------------------------------------------------------------

def connector_status(rig, client: driver.Client, connector: int = 1) -> str:
    data = client.charger(rig.code)
    return next(c["status"] for c in data["connectors"] if c["connector_id"] == connector)


def ready_connector(rig, client: driver.Client, connector: int = 1, timeout: float = 15.0) -> None:
    """Leave the connector startable: an EV plugged in on an idle connector (Preparing).

    After a session the EV is still plugged in (Finishing); unplugging and plugging it again
    is what a new driver does."""
    if rig.connector_state(connector)["fault"] is not None:
        rig.sim({"cmd": "fault", "connector": connector, "fault": None})
    status = connector_status(rig, client, connector)
    if status not in ("Preparing",):
        rig.sim({"cmd": "plug", "connector": connector, "plugged": False})
        wait_until(lambda: connector_status(rig, client, connector) == "Available", timeout,
                   f"connector {connector} Available after unplugging",
                   detail=lambda: board_tail(rig, 600))
        rig.sim({"cmd": "plug", "connector": connector, "plugged": True})
    wait_until(lambda: connector_status(rig, client, connector) == "Preparing", timeout,
               f"connector {connector} Preparing with the EV plugged in",
               detail=lambda: board_tail(rig, 600))


def wait_online(rig, timeout: float = 20.0, online: bool = True) -> None:
    """Until the public lookup says the charger is (not) online; polls every POLL_S."""
    def check():
        with rig.client() as client:
            try:
                return client.charger(rig.code)["online"] is online
            except driver.NetworkError:
                return False
    wait_until(check, timeout, f"charger {'online' if online else 'offline'}", interval=POLL_S,
               detail=lambda: board_tail(rig, 800) + "; " + backend_tail(rig, 800))


def start_and_pay(rig, client: driver.Client, connector: int = 1) -> tuple[str, dict]:
    """POST /sessions, the local payment confirm and /confirm: (token, session after confirm)."""
    started = client.start(rig.code, connector)
    session = driver.confirm_payment(client, started.token, started.payment)
    return started.token, session


def start_charging(rig, client: driver.Client, connector: int = 1,
                   timeout: float = 20.0) -> tuple[str, dict]:
    token, _ = start_and_pay(rig, client, connector)
    session = wait_status(client, token, {"charging"}, timeout)
    wait_until(lambda: rig.connector_state(connector)["relay_closed"], 5,
               "relay closed once charging", detail=lambda: board_tail(rig, 600))
    return token, session


def wait_backend_energy(rig, token: str, above_wh: int, timeout: float = 20.0) -> int:
    """Until the backend has a meter reading more than `above_wh` past meterStart."""
    def energy():
        wh = Db(rig).session(token)["energy_wh"]
        return wh if wh is not None and wh > above_wh else None
    return wait_until(energy, timeout, f"backend energy above {above_wh} Wh",
                      detail=lambda: board_tail(rig, 800))


# --- the backend's records -------------------------------------------------------------------

class Db:
    """Read-only looks into the backend's SQLite database (WAL: safe beside the server)."""

    def __init__(self, rig):
        self.path = rig.backend.db

    def rows(self, sql: str, *args: Any) -> list[dict]:
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute(sql, args).fetchall()]

    def session(self, token: str) -> dict:
        digest = hashlib.sha256(token.encode()).hexdigest()
        rows = self.rows("SELECT * FROM sessions WHERE token_hash = ?", digest)
        assert rows, "the backend has no session for this token"
        return rows[0]

    def transaction(self, tx_id: int) -> dict:
        rows = self.rows("SELECT * FROM transactions WHERE id = ?", tx_id)
        assert rows, f"the backend has no transaction {tx_id}"
        return rows[0]

    def transactions(self) -> list[dict]:
        return self.rows("SELECT * FROM transactions ORDER BY id")

    def energy_samples(self, tx_id: int) -> list[dict]:
        """Energy register readings of a transaction in arrival order (MeterValues and
        StopTransaction's transactionData)."""
        return self.rows("SELECT * FROM meter_values WHERE transaction_id = ? AND measurand = ? "
                         "AND phase IS NULL ORDER BY id", tx_id, ENERGY_REGISTER)


def transitions(rig, session_id: int) -> list[str]:
    """The session's statuses in order, from the operator log's `event=session` lines."""
    seq = []
    pattern = re.compile(rf"event=session session={session_id} .*?(?:from=(\S+) )?to=(\S+)")
    for line in rig.backend.log_path.read_text(errors="replace").splitlines():
        m = pattern.search(line)
        if m:
            if not seq and m.group(1):
                seq.append(m.group(1))
            seq.append(m.group(2))
    return seq


def wh(value: str, unit: str | None) -> float:
    return float(value) * (1000 if unit == "kWh" else 1)


def assert_samples_in_order(samples: list[dict]) -> list[float]:
    """Readings of one transaction arrive in order (never backwards) and none twice."""
    values = [wh(s["value"], s["unit"]) for s in samples]
    assert values == sorted(values), f"energy readings out of order: {values}"
    keys = [(s["timestamp"], s["value"], s["context"]) for s in samples]
    dups = {k for k in keys if keys.count(k) > 1}
    assert not dups, f"meter values stored twice: {sorted(dups)}"
    return values


# --- money -----------------------------------------------------------------------------------

def expected_cost(energy_wh: int, pricing: dict) -> int:
    """energy x price_per_kwh rounded half up to the cent, plus the start fee."""
    energy = (Decimal(energy_wh) / 1000 * pricing["price_per_kwh"]).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    return int(energy) + pricing["start_fee"]


def expected_tax(captured: int) -> int:
    """The VAT contained in the captured amount."""
    return int((Decimal(captured) * VAT / (1 + VAT)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def assert_settled(rig, client: driver.Client, token: str, timeout: float = 30.0) -> tuple[dict, dict]:
    """The session completes and its money follows the transaction's meter readings.
    Returns (session, transaction)."""
    s = wait_status(client, token, {"completed"}, timeout)
    row = Db(rig).session(token)
    tx = Db(rig).transaction(row["transaction_id"])
    assert tx["meter_stop"] is not None, tx
    energy = tx["meter_stop"] - tx["meter_start"]
    assert energy >= 0, tx
    assert ENERGY_KWH.match(s["energy_kwh"]), s["energy_kwh"]
    assert Decimal(s["energy_kwh"]) == Decimal(energy) / 1000, (s["energy_kwh"], tx)
    cost = expected_cost(energy, s["pricing"])
    assert s["cost_amount"] == cost, (s, tx)
    assert s["amount_captured"] == min(cost, s["amount_authorized"]), s
    assert s["tax_amount"] == expected_tax(s["amount_captured"]), s
    for key in TIMESTAMPS:
        assert s[key] and ISO_US.match(s[key]), (key, s[key])
    assert s["charging_started_at"] <= s["captured_at"] <= s["completed_at"]  # capture completes
    assert s["created_at"] <= s["authorized_at"] <= s["charging_started_at"] <= s["completed_at"]
    assert s["failure_reason"] is None
    return s, tx


# --- the board -------------------------------------------------------------------------------

def persisted_register(rig, connector: int = 1) -> float:
    """The simulated meter's energy register as it is on the board's flash."""
    path = rig.board.flash_dir / "data" / f"simmeter_{connector}.json"
    try:
        return float(json.loads(path.read_text())["energy_wh"])
    except FileNotFoundError:
        return 0.0  # nothing metered yet: the meter writes its register once it changes


def first_sim_state(rig, connector: int = 1, timeout: float = 15.0) -> dict:
    """The simulated hardware's state as soon as its control server answers after a boot."""
    from host_tools.sim_client import SimError

    def ask():
        try:
            return rig.connector_state(connector)
        except (OSError, SimError):  # SimUnreachable while the firmware is not up yet
            return None
    return wait_until(ask, timeout, "the simulated hardware answering after the boot",
                      interval=0.01, detail=lambda: board_tail(rig, 800))


def console_since_boot(rig, boot: int) -> str:
    text = rig.board.console_text()
    mark = f"--- virtual board: boot {boot} ---"
    assert mark in text, f"no {mark!r} on the console"
    return text.split(mark, 1)[1]
