"""The live figures of a charging session from its MeterValues: when the meter last reported,
and the power now.

Power is the charger's own `Power.Active.Import` of its latest MeterValues when it sends one
(the firmware does by default): that is what the meter measures. Without it, power is the energy
between the two latest register readings over the time between their timestamps (the charger's
sample times, as stored); the StartTransaction's meterStart counts as the first reading.
These two fields go beyond Plugchoice's session object; the driver works without them.
"""

from __future__ import annotations

from datetime import datetime

from .clock import iso
from .store import Store

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
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


def live(store: Store, tx: dict | None, charging: bool) -> dict:
    """`{"meter_reading_at": ISO or None, "power_w": int or None}` for the session's transaction."""
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
