"""The live figures of a charging session from its MeterValues: when the meter last reported,
the power now, and the current the charger offers the EV.

Power is the charger's own `Power.Active.Import` of its latest MeterValues when it sends one
(the firmware does by default): that is what the meter measures. Without it, power is the energy
between the two latest register readings over the time between their timestamps (the charger's
sample times, as stored); the StartTransaction's meterStart counts as the first reading.
The offered current is the charger's latest `Current.Offered` (A per phase: its effective
charging limit, evcc's "dim"), sent when MeterValuesSampledData lists it; a value that is not a
finite number >= 0 in A is left out.
These fields go beyond Plugchoice's session object; the driver works without them.
"""

from __future__ import annotations

import math
from datetime import datetime

from .clock import iso
from .store import Store

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
OFFERED = "Current.Offered"
_SCALE = {"W": 1.0, "kW": 1000.0, "Wh": 1.0, "kWh": 1000.0}


def _seconds(ts: str | None) -> float | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _value(row: dict) -> float | None:
    try:
        return float(row["value"]) * _SCALE.get(row["unit"] or "", 1.0)
    except (TypeError, ValueError):
        return None


def offered(store: Store, tx: dict) -> float | None:
    """A per phase of the transaction's latest Current.Offered (the highest of its phases when
    the charger gives them apart), to 0.1 A; None without a usable one."""
    rows = store.all(
        "SELECT value, unit, timestamp FROM meter_values WHERE transaction_id = ? AND "
        "measurand = ? AND timestamp = (SELECT timestamp FROM meter_values WHERE "
        "transaction_id = ? AND measurand = ? ORDER BY id DESC LIMIT 1)",
        tx["id"], OFFERED, tx["id"], OFFERED)
    amps = []
    for r in rows:
        try:
            v = float(r["value"])
        except (TypeError, ValueError):
            continue
        if r["unit"] in (None, "A") and math.isfinite(v) and v >= 0:
            amps.append(v)
    return round(max(amps), 1) if amps else None


def live(store: Store, tx: dict | None, charging: bool) -> dict:
    """`{"meter_reading_at": ISO or None, "power_w": int or None, "current_offered_a": float or
    None}` for the session's transaction (power and offer only while charging)."""
    out = live_power(store, tx, charging)
    out["current_offered_a"] = offered(store, tx) if tx is not None and charging else None
    return out


def live_power(store: Store, tx: dict | None, charging: bool) -> dict:
    if tx is None:
        return {"meter_reading_at": None, "power_w": None}
    rows = store.all(
        "SELECT measurand, value, unit, timestamp FROM meter_values WHERE transaction_id = ? AND "
        "phase IS NULL AND measurand IN (?, ?) AND (context IS NULL OR context != "
        "'Transaction.End') ORDER BY id DESC LIMIT 8", tx["id"], ENERGY, POWER)
    readings = [(t, v) for r in rows if r["measurand"] == ENERGY
                and (t := _seconds(r["timestamp"])) is not None and (v := _value(r)) is not None]
    latest = readings[0] if readings else None
    out = {"meter_reading_at": iso(latest[0]) if latest else None, "power_w": None}
    if not charging or latest is None:
        return out
    power = next((r for r in rows if r["measurand"] == POWER), None)
    if power is not None and _seconds(power["timestamp"]) == latest[0]:
        value = _value(power)
        if value is not None:
            out["power_w"] = max(0, round(value))
            return out
    before = next((r for r in readings[1:] if r[0] < latest[0]), None)
    if before is None:
        start = _seconds(tx["started_at"])
        before = (start, float(tx["meter_start"])) if start is not None else None
    if before is not None and latest[0] > before[0]:
        out["power_w"] = max(0, round((latest[1] - before[1]) * 3600 / (latest[0] - before[0])))
    return out
