"""`chargerctl commission`: the technician's end-to-end check of one installed charger (the
check itself is host_tools.commission.Commissioning, which `make demo` uses too)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from host_tools.commands import CTX
from host_tools.commands.board import PORT_HELP
from host_tools.commission import FAIL, PASS, SKIP, Commissioning, StepResult, Timeouts
from host_tools.driver import API_ENV, DEFAULT_API
from host_tools.exits import Exit, epilog

_MARK = {PASS: "[bold green]PASS[/]", FAIL: "[bold red]FAIL[/]", SKIP: "[dim]SKIP[/]"}


@click.command("commission", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.USAGE, Exit.CONFIG, Exit.UNREACHABLE, Exit.BUILD,
                             Exit.TRANSACTION_OPEN, Exit.STATE_UNKNOWN, Exit.TOOL_MISSING,
                             Exit.STEP_FAILED))
@click.option("--port", required=True, metavar="PORT", help=PORT_HELP)
@click.option("--code", required=True, help="The public code the charger must have.")
@click.option("--connector", "connector", type=click.IntRange(1, 100), required=True,
              help="Connector to run the test session on.")
@click.option("--api", envvar=API_ENV, default=DEFAULT_API, show_default=True, metavar="URL",
              help=f"Public-charging API base URL (env {API_ENV}).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (default commission-CODE.json).")
@click.option("--control-port", type=int, default=None,
              help="Virtual board: its simulated hardware's control port (read from the "
                   "board's config sim.control_port when absent).")
@click.option("--no-sim", is_flag=True,
              help="Virtual board: ignore its simulated hardware and judge the energy by the "
                   "backend only, as on a real board.")
@click.option("--email", default=None, help="Receipt address for the test session.")
@click.option("--stripe-secret-key", envvar="STRIPE_TEST_SECRET_KEY", default=None,
              metavar="sk_test_...",
              help="Real service in Stripe test mode: confirm the test session's payment "
                   "(env STRIPE_TEST_SECRET_KEY).")
@click.option("--online-timeout", type=float, default=Timeouts.online, show_default=True,
              help="Seconds to wait for the charger to (re)connect to the backend.")
@click.option("--energy-timeout", type=float, default=Timeouts.energy, show_default=True,
              help="Real board: seconds to wait for the session's energy to rise.")
@click.option("--force", is_flag=True,
              help="Run even while a transaction is open on --connector (its start will most "
                   "likely be refused by the backend), or when the firmware does not answer "
                   "whether one is (the board is then read through its REPL and restarted).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def commission(port: str, code: str, connector: int, api: str, report_file: str | None,
               control_port: int | None, no_sim: bool, email: str | None,
               stripe_secret_key: str | None, online_timeout: float,
               energy_timeout: float, force: bool, as_json: bool) -> None:
    """Check an installed charger end to end and write a pass/fail report.

    Steps: board reachable, config sane, charger online, public session started, relay closed
    and energy rising, stopped, settled. A short real session is charged (and paid) on the
    connector. A running firmware is asked over its console and not interrupted: its config
    is taken from its answer. Only a board at its REPL (blank, or its app crashed) is read
    through the raw REPL and then restarted. A transaction open on the connector, or a
    firmware that does not answer whether one is, is refused unless --force; with --force a
    board that does not answer is interrupted, read and restarted. On a
    virtual board the simulated EV is unplugged and plugged in again afterwards, so the
    connector is left as it was found; on a real board the last line says to unplug the EV.

    \b
    Examples:
      chargerctl commission --port /dev/ttyUSB0 --code ABC123 --connector 1
      chargerctl commission --port /dev/pts/5 --code DEMO42 --connector 1 \\
          --api http://127.0.0.1:8180/api/v3 --report vb.json
    """
    console = Console(stderr=as_json, highlight=False)
    console.print(f"Commissioning [bold]{code.upper()}[/] connector {connector} on {port} "
                  f"against {api}", soft_wrap=True)

    def show(step: StepResult) -> None:
        took = f" [dim]({step.seconds:g} s)[/]" if step.status != SKIP else ""
        console.print(f"  {_MARK[step.status]}  {step.title:<32} {step.detail}{took}",
                      soft_wrap=True)

    timeouts = Timeouts(online=online_timeout, energy=energy_timeout)
    report = Commissioning(port, code, connector, api, control_port=control_port, email=email,
                           timeouts=timeouts, use_sim=not no_sim,
                           stripe_secret_key=stripe_secret_key, on_step=show,
                           force=force).run()
    path = Path(report_file or f"commission-{code.upper()}.json")
    path.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    if as_json:
        print(json.dumps(report.as_dict()), flush=True)
    left = f" {report.connector_left[0].upper()}{report.connector_left[1:]}." if report.connector_left else ""
    if report.passed:
        console.print(f"[bold green]PASSED[/]: all {len(report.steps)} steps. Report: {path}.{left}",
                      soft_wrap=True)
        return
    console.print(f"[bold red]FAILED[/] at step '{report.failed_step}'. Report: {path}.{left}",
                  soft_wrap=True)
    sys.exit(report.exit_code or int(Exit.STEP_FAILED))
