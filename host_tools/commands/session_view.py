"""What `chargerctl session` (and `chargerctl demo`) show people: the live table, the one-line
form for pipes, and the receipt. Numbers for people here; `--json` prints the raw fields."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from host_tools import driver
from host_tools.driver import TERMINAL, Progress, money, shorten


def status_style(status: str | None) -> str:
    colour = {"Available": "green", "Charging": "cyan", "Preparing": "yellow",
              "Faulted": "red", "Unavailable": "red"}.get(status or "", "white")
    return f"[{colour}]{status or '-'}[/]"


def progress_table(p: Progress, token: str) -> Table:
    s = p.session
    cur = (s.get("pricing") or {}).get("currency")
    table = Table(title=f"Session {shorten(token)}", show_header=False, min_width=40)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Status", s.get("status", "?") + (f" ({s['failure_reason']})"
                                                     if s.get("failure_reason") else ""))
    table.add_row("Connector", f"{s.get('connector_id', '?')}: "
                               f"{status_style(s.get('connector_status'))}")
    energy = driver.energy_kwh(s)
    table.add_row("Energy", "-" if energy is None else f"{energy:.3f} kWh")
    table.add_row("Power", power_text(p))
    offered = offered_text(s)
    if offered is not None:
        table.add_row("Offered", offered)
    table.add_row("Cost so far", money(driver.cost_so_far(s), cur))
    elapsed = driver.elapsed_s(s)
    table.add_row("Elapsed", "-" if elapsed is None else duration(elapsed))
    return table


def power_text(p: Progress) -> str:
    if p.power_kw is not None:
        return f"{p.power_kw:.2f} kW"
    return p.meter_note or "-"


def offered_text(s: dict) -> str | None:
    """The current the charger offers the EV and the charge limit behind it (local backend
    only): "6.0 A (limit 6 A)", "0.0 A: suspended by the limit", "-" before the first value;
    None when the backend gives neither (the real service)."""
    if "current_offered_a" not in s and "charge_limit_a" not in s:
        return None
    amps, limit = s.get("current_offered_a"), s.get("charge_limit_a")
    text = "-" if amps is None else f"{amps:.1f} A"
    if limit is not None:
        text += f" (limit {limit:g} A)"
    if amps is not None and amps < 6 and s.get("status") == "charging":
        text += ": suspended, below the 6 A an EV can be offered"
    return text


def duration(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plain_line(p: Progress) -> str:
    row = p.as_json()
    energy = row["energy_kwh"] or "-"
    elapsed = "-" if row["elapsed_s"] is None else duration(row["elapsed_s"])
    offered = offered_text(p.session)
    return (f"{row['status']:<10} connector {row['connector_status'] or '-':<13} "
            f"energy {energy} kWh  power {power_text(p)}"
            + (f"  offered {offered}" if offered is not None else "")
            + f"  cost {money(row['cost_so_far'], row['currency'])}  elapsed {elapsed}")


RECEIPT_TIME_LABELS = {"created_at": "Created at", "authorized_at": "Payment authorized at",
                       "charging_started_at": "Charging started at",
                       "completed_at": "Completed at", "captured_at": "Payment captured at"}


def print_receipt(rec: dict, out: Console) -> None:
    cur = rec.get("currency")
    table = Table(title="Receipt", show_header=False, min_width=40)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Status", str(rec.get("status")))
    table.add_row("Charger", f"{rec.get('charger')} connector {rec.get('connector_id')}")
    table.add_row("Energy", f"{rec.get('energy_kwh') or '-'} kWh")
    table.add_row("Cost", money(rec.get("cost_amount"), cur))
    table.add_row("Pre-authorized (hold)", money(rec.get("amount_authorized"), cur))
    table.add_row("Captured", money(rec.get("amount_captured"), cur))
    table.add_row("Released", money(rec.get("amount_released"), cur))
    table.add_row("Tax (included)", money(rec.get("tax_amount"), cur))
    if rec.get("failure_reason"):
        table.add_row("Failure", str(rec["failure_reason"]))
    for key in driver.RECEIPT_TIMES:
        table.add_row(RECEIPT_TIME_LABELS[key], str(rec.get(key) or "-"))
    out.print(table)
    if rec.get("status") not in TERMINAL:
        out.print(f"Not settled yet (status {rec.get('status')}); amounts are provisional.")
