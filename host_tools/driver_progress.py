"""Following a public session: live figures, waiting for a status, and the receipt.

Power comes from the meter, never from the watcher's clock:
- the local backend gives `power_w` (the charger's Power.Active.Import, or the energy between
  its last two meter readings over their timestamps) and `meter_reading_at`;
- the real service gives only `energy_kwh`: power is the energy between two *observed
  changes* over the time between them (each change is a new meter reading). The first change
  seen only sets the baseline: the energy before it may have been read long before the watch.
Until the charger's first meter reading (every MeterValueSampleInterval, 60 s by default) the
view says so instead of showing 0 kWh and no power.
The local backend also gives the current the charger offers the EV (`current_offered_a`, its
Current.Offered) and the charge limit an operator set on it (`charge_limit_a`); the real
service gives neither, and the view leaves them out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from host_tools.driver_errors import RateLimited, SessionFailed

if TYPE_CHECKING:
    from host_tools.driver import Client

# GET /sessions/{token} is limited to 30/min per IP: never poll faster than every 2 s.
MIN_POLL_S = 2.0
TERMINAL = frozenset({"completed", "failed", "cancelled"})
CANCELLABLE = frozenset({"created", "authorized", "starting"})
STATUSES = ("created", "authorized", "starting", "charging", "stopping", "settling",
            "completed", "failed", "cancelled")
WAITING_FOR_METER = "waiting for the first meter reading (every 60 s by default)"
MEASURING = "measuring (needs a second meter reading)"


@dataclass
class Progress:
    """What the live view shows, from successive polls of the session."""

    session: dict = field(default_factory=dict)
    power_kw: float | None = None
    polled_at: float = 0.0
    _seen: float | None = None  # energy_kwh at the previous poll
    _last_change: tuple[float, float] | None = None  # (time, kWh) of the last observed reading

    def update(self, session: dict, now: float) -> Progress:
        energy = energy_kwh(session)
        if "power_w" in session:  # the backend knows the meter's own figures
            power = session.get("power_w")
            self.power_kw = None if power is None else power / 1000.0
        elif energy is not None:
            if self._seen is not None and energy != self._seen:
                if self._last_change is not None and now > self._last_change[0]:
                    t0, e0 = self._last_change
                    self.power_kw = max(0.0, (energy - e0) * 3600.0 / (now - t0))
                self._last_change = (now, energy)
            self._seen = energy
        if session.get("status") in TERMINAL:
            self.power_kw = 0.0  # the relay is open: whatever the last delta said
        self.session, self.polled_at = session, now
        return self

    @property
    def status(self) -> str:
        return self.session.get("status", "?")

    @property
    def meter_note(self) -> str | None:
        """Why there is no power figure yet, while charging."""
        s = self.session
        if s.get("status") != "charging" or self.power_kw is not None:
            return None
        if "meter_reading_at" in s:
            no_reading = s.get("meter_reading_at") is None
        else:
            no_reading = not energy_kwh(s) and self._last_change is None
        return WAITING_FOR_METER if no_reading else MEASURING

    def as_json(self) -> dict:
        s = self.session
        return {"status": s.get("status"), "connector_status": s.get("connector_status"),
                "energy_kwh": s.get("energy_kwh"),
                "power_kw": None if self.power_kw is None else round(self.power_kw, 3),
                "meter_reading_at": s.get("meter_reading_at"), "meter_note": self.meter_note,
                "current_offered_a": s.get("current_offered_a"),
                "charge_limit_a": s.get("charge_limit_a"),
                "cost_so_far": cost_so_far(s), "currency": (s.get("pricing") or {}).get("currency"),
                "elapsed_s": elapsed_s(s), "failure_reason": s.get("failure_reason")}


def energy_kwh(session: dict) -> float | None:
    value = session.get("energy_kwh")
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def cost_so_far(session: dict) -> int | None:
    """The backend's cost once known, else energy x price + start fee (minor units)."""
    if session.get("cost_amount") is not None:
        return session["cost_amount"]
    pricing = session.get("pricing") or {}
    energy = energy_kwh(session) or 0.0
    if "price_per_kwh" not in pricing:
        return None
    if session.get("status") not in ("charging", "stopping", "settling"):
        return 0 if session.get("status") in ("created", "authorized", "starting") else None
    energy_cost = (Decimal(str(energy)) * pricing["price_per_kwh"]).quantize(Decimal(1), ROUND_HALF_UP)
    return int(energy_cost) + int(pricing.get("start_fee") or 0)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def elapsed_s(session: dict, now: datetime | None = None) -> float | None:
    """Seconds charging (or since creation before charging starts), until completion."""
    start = parse_time(session.get("charging_started_at")) or parse_time(session.get("created_at"))
    if start is None:
        return None
    end = parse_time(session.get("completed_at")) if session.get("status") in TERMINAL else None
    end = end or now or datetime.now(UTC)
    return max(0.0, (end - start).total_seconds())


def wait_for(client: Client, token: str, until: Iterable[str], *, timeout: float = 60.0,
             interval: float = MIN_POLL_S, on_update: Callable[[Progress], None] | None = None,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None) -> dict:
    """Poll the session until its status is in `until`; return the session.

    Raises SessionFailed when it ends (failed/cancelled) outside `until`, or when `timeout`
    seconds pass first. A 429 waits for Retry-After and goes on.
    """
    wanted = set(until)
    progress = progress or Progress()
    deadline = clock() + timeout
    while True:
        try:
            session, _ = client.session(token)
        except RateLimited as err:
            pause = err.retry_after if err.retry_after is not None else interval
            if clock() + pause > deadline:
                raise
            sleep(max(pause, interval))
            continue
        progress.update(session, clock())
        if on_update:
            on_update(progress)
        status = session.get("status")
        if status in wanted:
            return session
        if status in TERMINAL:
            raise SessionFailed(describe_end(session), session=session)
        if clock() + interval > deadline:
            raise SessionFailed(f"The session is still {status!r} after {timeout:g} s "
                                f"(waited for {' or '.join(sorted(wanted))}).", session=session)
        sleep(interval)


def describe_end(session: dict) -> str:
    status = session.get("status")
    if status == "failed":
        return f"The session failed: {session.get('failure_reason') or 'no reason given'}."
    if status == "cancelled":
        return "The session was cancelled; the payment hold was released."
    return f"The session ended with status {status!r}."


RECEIPT_TIMES = ("created_at", "authorized_at", "charging_started_at", "completed_at", "captured_at")


def receipt(session: dict) -> dict:
    """The receipt's fields; `released` is what is left of the hold after capture."""
    authorized = session.get("amount_authorized")
    captured = session.get("amount_captured")
    released = None
    if authorized is not None and session.get("status") in TERMINAL:
        released = authorized - (captured or 0)
    out = {"status": session.get("status"), "charger": (session.get("charger") or {}).get("public_code"),
           "connector_id": session.get("connector_id"), "energy_kwh": session.get("energy_kwh"),
           "currency": (session.get("pricing") or {}).get("currency"),
           "cost_amount": session.get("cost_amount"), "amount_authorized": authorized,
           "amount_captured": captured, "amount_released": released,
           "tax_amount": session.get("tax_amount"), "failure_reason": session.get("failure_reason")}
    out.update({k: session.get(k) for k in RECEIPT_TIMES})
    return out


def money(amount: int | None, currency: str | None) -> str:
    """Minor units -> '3.71 EUR' (every currency we meet has two decimals)."""
    if amount is None:
        return "-"
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}{whole}.{cents:02d} {currency or ''}".rstrip()
