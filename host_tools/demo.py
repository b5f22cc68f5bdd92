"""`chargerctl demo` (`make demo`): one public charging session on a virtual charger, end to end.

It starts the local backend, starts a virtual board and flashes it exactly like a USB board,
waits for the charger to come online, then runs the technician's commissioning check
(`host_tools.commission.Commissioning`, the same code as `chargerctl commission`), which plays
the driver with the `session` code: look up, start, pay, charge, stop, settle. While it charges
the demo watches the session for a few seconds, then prints the receipt. Everything it started
is stopped at the end, also on Ctrl-C or a failure (host_tools/bench_rig.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from host_tools import driver
from host_tools.driver import money

IDENTITY = "CP-BENCH"


class DemoFailed(Exception):
    """A commissioning step failed; `exit_code` is the step's."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class Narrator:
    """Numbered steps with their timing, so a newcomer sees what happens and how long it takes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.t0 = time.monotonic()
        self.n = 0

    def step(self, text: str) -> None:
        self.n += 1
        self.console.print(f"[dim]{time.monotonic() - self.t0:5.1f}s[/] [bold cyan]{self.n:>2}.[/] "
                           f"{text}", soft_wrap=True)

    def detail(self, text: str) -> None:
        self.console.print(f"          {text}", soft_wrap=True)


def intro(code: str) -> str:
    return ("A driver pays for and charges at a public charger, all on this machine:\n"
            "driver (chargerctl) -> local backend (public API + OCPP) -> virtual board\n"
            "(our MicroPython firmware) -> simulated relay, energy meter and EV.\n"
            "The charger has two names:\n"
            f"  [bold]{IDENTITY}[/] is its OCPP identity: how the board logs in to the backend\n"
            f"    (ws://.../ocpp/{IDENTITY}, charge_point_id in the board's config);\n"
            f"  [bold]{code}[/] is its public code: what a driver types, or scans from its display.")


def watch_charging(say: Narrator, api: str, token: str, watch_s: float) -> None:
    """What `chargerctl session watch` shows, for `watch_s` seconds."""
    progress = driver.Progress()
    end = time.monotonic() + watch_s
    with driver.Client(api) as client:
        while True:
            s, _ = client.session(token)
            row = progress.update(s, time.monotonic()).as_json()
            power = (f"{row['power_kw']:.2f} kW" if row["power_kw"] is not None
                     else progress.meter_note or "-")
            say.detail(f"energy {row['energy_kwh']} kWh  power {power}  cost so far "
                       f"{money(row['cost_so_far'], row['currency'])}  connector "
                       f"{row['connector_status']}")
            if time.monotonic() + driver.MIN_POLL_S > end:
                return
            time.sleep(driver.MIN_POLL_S)


def run_demo(workdir: Path, code: str = "DEMO42", connector: int = 1, watch_s: float = 8.0,
             echo_board: bool = False, console: Console | None = None) -> dict:
    """The whole demo; returns the receipt. Raises on failure (after cleaning up)."""
    from host_tools.bench_rig import bench_rig
    from host_tools.commands.session_view import print_receipt
    from host_tools.commission import FAIL, SKIP, Commissioning, StepResult

    console = console or Console(highlight=False)
    say = Narrator(console)
    code = code.upper()
    stages = {
        "backend": "Starting the local backend (the Plugchoice stand-in: public API + OCPP)",
        "board": "Starting a virtual board (the MicroPython unix port on a pseudo-terminal)",
        "flash": "Flashing our firmware to it, exactly like `chargerctl flash --board unix-sim`",
        "online": f"Waiting for the board ({IDENTITY}) to boot and connect to the backend over OCPP",
    }

    def on_stage(key: str, text: str) -> None:
        if key in stages:
            say.step(stages[key])
        else:
            say.detail(text)

    with bench_rig(workdir, code=code, identity=IDENTITY, on_stage=on_stage,
                   echo=echo_board) as rig:
        say.detail(f"the driver's Scan to Pay page (the display's QR code): {rig.page_url}")
        say.step(f"The driver's session on connector {connector} of {code}, checked step by step "
                 "as `chargerctl commission` does it (the same code)")
        check: Commissioning

        def on_step(step: StepResult) -> None:
            mark = {FAIL: "[bold red]FAIL[/]", SKIP: "[dim]SKIP[/]"}.get(step.status,
                                                                          "[bold green]PASS[/]")
            say.detail(f"{mark}  {step.title:<32} {step.detail}")
            if step.name == "charging" and step.status != FAIL and watch_s > 0:
                say.step(f"Watching it charge for {watch_s:g} s (what `chargerctl session watch` "
                         "shows)")
                png = rig.save_display(workdir / "display.png")
                say.detail(f"the board's display now: {png}")
                watch_charging(say, rig.api, check.token, watch_s)
                say.step("Driver stops the session; the backend settles the payment")

        check = Commissioning(rig.port, code, connector, rig.api,
                              control_port=rig.control_port, on_step=on_step)
        report = check.run()
        if not report.passed:
            step = next(s for s in report.steps if s.status == FAIL)
            raise DemoFailed(f"step '{step.title}' failed: {step.detail}", report.exit_code)
        rec = driver.receipt(check.session)
        png = workdir / "display.png"
        if not png.exists():
            rig.save_display(png)

    say.step("Receipt")
    print_receipt(rec, console)
    console.print(Panel.fit(
        f"The board's display was saved to [bold]{png}[/]\n"
        f"Logs: {workdir / 'backend' / 'backend.log'}, {workdir / 'flash' / 'console.log'}\n"
        "Everything started by the demo is stopped.",
        title=f"Done in {time.monotonic() - say.t0:.1f} s", border_style="green"))
    return rec
