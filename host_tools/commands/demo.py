"""`chargerctl demo` (`make demo`): the whole chain on this machine; the logic is host_tools/demo.py."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import click
from rich.panel import Panel

from host_tools.commands import CTX, console
from host_tools.driver import DriverError
from host_tools.exits import Exit, epilog


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("demo", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE, Exit.STEP_FAILED) +
               "\n  130  interrupted (Ctrl-C); everything the demo started is stopped")
@click.option("--workdir", type=click.Path(file_okay=False), default=".run/demo",
              show_default=True, help="Where the backend db, the board's flash and the PNG go "
                                      "(emptied first).")
@click.option("--code", default="DEMO42", show_default=True, help="Public code of the charger.")
@click.option("--watch", "watch_s", type=float, default=8.0, show_default=True,
              help="Seconds to watch it charge.")
@click.option("--echo-board", is_flag=True, help="Also show the board's console.")
def demo(workdir: str, code: str, watch_s: float, echo_board: bool) -> None:
    """Run one public charging session on a virtual charger, end to end, on this machine.

    Local backend + virtual board flashed with the firmware + the commissioning check (the
    driver's session from start to receipt), printed as it happens. The charger's OCPP identity
    is CP-BENCH, its public code DEMO42. Takes well under a minute; Ctrl-C stops everything.

    \b
    Example:
      make demo
      chargerctl demo --watch 15 --echo-board
    """
    from host_tools.demo import DemoFailed, intro, run_demo

    out = console()
    path = Path(workdir).resolve()
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    # Ctrl-C must clean up even when started where SIGINT was ignored (a background job).
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    out.print(Panel.fit(intro(code.upper()), title="chargerctl demo"))
    try:
        run_demo(path, code=code, watch_s=watch_s, echo_board=echo_board, console=out)
    except KeyboardInterrupt:
        out.print("[yellow]Interrupted: everything the demo started has been stopped.[/]")
        sys.exit(130)
    except (DemoFailed, DriverError) as err:
        out.print(f"[bold red]Demo failed:[/] {err}")
        out.print(f"Logs are in {path} (backend/backend.log, flash/console.log).")
        sys.exit(int(getattr(err, "exit_code", Exit.ERROR)))
    except Exception as err:  # noqa: BLE001 - a newcomer gets a sentence and the logs, not a traceback
        out.print(f"[bold red]Demo failed:[/] {type(err).__name__}: {err}")
        out.print(f"Logs are in {path} (backend/backend.log, flash/console.log).")
        sys.exit(int(Exit.ERROR))
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
