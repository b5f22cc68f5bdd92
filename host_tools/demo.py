"""`chargerctl demo` (`make demo`): one public charging session on a virtual charger, end to end.

It starts the local backend, starts a virtual board and flashes it exactly like a USB board,
waits for the charger to come online, then plays the driver with the same code as
`chargerctl session`: look up, start, pay, watch the energy rise, stop, receipt. Everything it
started is stopped at the end, also on Ctrl-C or a failure (host_tools/bench_rig.py).
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.panel import Panel

from host_tools import driver
from host_tools.driver import DriverError, money, shorten

console = Console(highlight=False)


class Narrator:
    """Numbered steps with their timing, so a newcomer sees what happens and how long it takes."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.n = 0

    def step(self, text: str) -> None:
        self.n += 1
        console.print(f"[dim]{time.monotonic() - self.t0:5.1f}s[/] [bold cyan]{self.n:>2}.[/] {text}",
                      soft_wrap=True)

    def detail(self, text: str) -> None:
        console.print(f"          {text}", soft_wrap=True)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(workdir: Path, code: str = "DEMO42", connector: int = 1, watch_s: float = 8.0,
             echo_board: bool = False) -> dict:
    """The whole demo; returns the receipt. Raises on failure (after cleaning up)."""
    from host_tools.bench_rig import bench_rig

    say = Narrator()
    steps = {
        "backend": "Starting the local backend (the Plugchoice stand-in: public API + OCPP)",
        "board": "Starting a virtual board (the MicroPython unix port on a pseudo-terminal)",
        "flash": "Flashing our firmware to it, exactly like `chargerctl flash --board unix-sim`",
        "online": "Waiting for the board to boot and connect to the backend over OCPP",
    }

    def on_stage(key: str, text: str) -> None:
        if key in steps:
            say.step(steps[key])
        else:
            say.detail(text)

    with bench_rig(workdir, code=code, on_stage=on_stage, echo=echo_board) as rig:
        with rig.client() as client:
            say.step(f"Driver looks up charger [bold]{code}[/]")
            info = client.charger(code)
            pricing = info.get("pricing") or {}
            cur = pricing.get("currency")
            states = ", ".join(f"{c['connector_id']}: {c['status']}" for c in info["connectors"])
            say.detail(f"{info['name']}, {'online' if info['online'] else 'offline'}; "
                       f"{money(pricing.get('price_per_kwh'), cur)}/kWh + "
                       f"{money(pricing.get('start_fee'), cur)} start fee; connectors {states}")

            say.step(f"Driver starts a session on connector {connector}")
            started = client.start(code, connector)
            s = started.session
            hold = s.get("amount_authorized") or info.get("preauth_amount")
            say.detail(f"session {shorten(started.token)} (token kept secret): {s['status']}; "
                       f"payment pre-authorization of {money(hold, cur)} to confirm")

            say.step("Driver confirms the payment (local payment provider)")
            s = driver.confirm_payment(client, started.token, started.payment)
            say.detail(f"status {s['status']}; the backend sends RemoteStartTransaction")

            say.step("Waiting for the relay to close")
            s = driver.wait_for(client, started.token, {"charging"}, timeout=30)
            relay = rig.connector_state(connector)
            say.detail(f"status {s['status']}, connector {s.get('connector_status')}, relay "
                       f"{'closed' if relay.get('relay_closed') else 'open'}, EV draws "
                       f"{relay.get('power_w')} W")

            say.step(f"Watching it charge for {watch_s:g} s")
            png = rig.save_display(workdir / "display.png")
            progress = driver.Progress()
            end = time.monotonic() + watch_s
            while True:
                s, _ = client.session(started.token)
                progress.update(s, time.monotonic())
                row = progress.as_json()
                power = "-" if row["power_kw"] is None else f"{row['power_kw']:.1f} kW"
                say.detail(f"energy {row['energy_kwh']} kWh  power {power}  cost so far "
                           f"{money(row['cost_so_far'], cur)}  connector {row['connector_status']}")
                if time.monotonic() + driver.MIN_POLL_S > end:
                    break
                time.sleep(driver.MIN_POLL_S)

            say.step("Driver stops the session")
            s = client.stop(started.token)
            say.detail(f"status {s['status']}; the backend sends RemoteStopTransaction")
            s = driver.wait_for(client, started.token, driver.TERMINAL, timeout=30)
            relay = rig.connector_state(connector)
            say.detail(f"status {s['status']}, relay {'closed' if relay.get('relay_closed') else 'open'}")
        rec = driver.receipt(s)

    from host_tools.commands.session import print_receipt

    say.step("Receipt")
    print_receipt(rec, console)
    console.print(Panel.fit(
        f"The board's display was saved to [bold]{png}[/]\n"
        f"Logs: {workdir / 'backend' / 'backend.log'}, {workdir / 'flash' / 'console.log'}\n"
        "Everything started by the demo is stopped.",
        title=f"Done in {time.monotonic() - say.t0:.1f} s", border_style="green"))
    if rec["status"] != "completed":
        raise driver.SessionFailed(driver.describe_end(s), session=s)
    return rec


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False), default=".run/demo",
              show_default=True, help="Where the backend db, the board's flash and the PNG go "
                                      "(emptied first).")
@click.option("--code", default="DEMO42", show_default=True, help="Public code of the charger.")
@click.option("--watch", "watch_s", type=float, default=8.0, show_default=True,
              help="Seconds to watch it charge.")
@click.option("--echo-board", is_flag=True, help="Also show the board's console.")
def demo(workdir: str, code: str, watch_s: float, echo_board: bool) -> None:
    """Run one public charging session on a virtual charger, end to end, on this machine.

    Local backend + virtual board flashed with the firmware + the driver's session, printed as
    it happens. Takes well under a minute; Ctrl-C stops everything.

    \b
    Example:
      make demo
      chargerctl demo --watch 15 --echo-board
    """
    path = Path(workdir).resolve()
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    # Ctrl-C must clean up even when started where SIGINT was ignored (a background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    console.print(Panel.fit(
        "A driver pays for and charges at a public charger, all on this machine:\n"
        "driver (chargerctl) -> local backend (public API + OCPP) -> virtual board\n"
        "(our MicroPython firmware) -> simulated relay, energy meter and EV",
        title="chargerctl demo"))
    try:
        run_demo(path, code=code, watch_s=watch_s, echo_board=echo_board)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted: everything the demo started has been stopped.[/]")
        sys.exit(130)
    except DriverError as err:
        console.print(f"[bold red]Demo failed:[/] {err.message}")
        console.print(f"Logs are in {path}.")
        sys.exit(int(err.exit_code))
    except Exception as err:  # noqa: BLE001 - a newcomer gets a sentence and the logs, not a traceback
        console.print(f"[bold red]Demo failed:[/] {type(err).__name__}: {err}")
        console.print(f"Logs are in {path} (backend/backend.log, flash/console.log).")
        sys.exit(1)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
