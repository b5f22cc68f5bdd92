"""The session lifecycle's names and the money rules, shared by `sessions` and `charger_events`.

Money is integer minor units. cost = round_half_up(energy_wh * price_per_kwh / 1000) + start_fee;
capture = min(cost, hold) and the rest of the hold is released; tax is the VAT contained in the
captured amount, round_half_up(captured * rate / (1 + rate)).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CREATED, AUTHORIZED, STARTING, CHARGING = "created", "authorized", "starting", "charging"
STOPPING, SETTLING, COMPLETED = "stopping", "settling", "completed"
CANCELLED, FAILED = "cancelled", "failed"
ACTIVE = (CREATED, AUTHORIZED, STARTING, CHARGING, STOPPING)
CANCELLABLE = (CREATED, AUTHORIZED, STARTING)
TERMINAL = (COMPLETED, CANCELLED, FAILED)

# failure_reason values
CHARGER_REJECTED = "charger_rejected"
START_TIMEOUT = "start_timeout"
CHARGER_OFFLINE = "charger_offline"
PAYMENT_FAILED = "payment_failed"

# A driver may only start on a connector that is free or has a car waiting.
STARTABLE_CONNECTOR = ("Available", "Preparing")


def energy_kwh(wh: int | None) -> str | None:
    if wh is None:
        return None
    wh = max(0, int(wh))
    return f"{wh // 1000}.{wh % 1000:03d}"


def cost_for(wh: int, price_per_kwh: int, start_fee: int) -> int:
    """Half-up rounding on cents, as a payment provider rounds."""
    return (max(0, wh) * price_per_kwh + 500) // 1000 + start_fee


def tax_in(amount: int, rate: Decimal) -> int:
    return int((Decimal(amount) * rate / (1 + rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
