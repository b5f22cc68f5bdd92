"""`chargerctl` commands for boards: devices, flash, config, logs, virtual-board, sim, display.

Exit codes (shared by every command here):
  0 ok; 2 usage error (click); 3 invalid config; 4 unknown or invalid board file;
  5 board unreachable; 6 board error during a transfer; 7 esptool failed;
  8 firmware build failed (mpy-cross, validator); 9 sim control server unreachable or refused.
"""

from __future__ import annotations

import json
import sys

import click

EXIT_CONFIG = 3
EXIT_BOARD_FILE = 4
EXIT_UNREACHABLE = 5
EXIT_BOARD_ERROR = 6
EXIT_ESPTOOL = 7
EXIT_BUILD = 8
EXIT_SIM = 9

_CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(message: str, code: int, hint: str | None = None) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    if hint:
        click.echo(f"  -> {hint}", err=True)
    sys.exit(code)


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


# ============================================================================ virtual-board
@click.command("virtual-board", context_settings=_CTX)
@click.option("--config", "config_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="config.json for the board; written into the flash dir if it has none yet.")
@click.option("--flash-dir", default="vboard", show_default=True, type=click.Path(file_okay=False),
              help="Folder that is the board's flash filesystem; survives restarts.")
@click.option("--control-port", type=int, default=None,
              help="TCP port of the sim control server (default: config sim.control_port, else a free one).")
@click.option("--heapsize", default=None, help="MicroPython heap size, e.g. 64k (the ESP32 budget).")
@click.option("--echo/--quiet", default=True, show_default=True,
              help="Copy the board's console to this terminal.")
@click.option("--json", "as_json", is_flag=True, help="Print the port info as one JSON line.")
def virtual_board(config_file, flash_dir, control_port, heapsize, echo, as_json):
    """Run a virtual board: the MicroPython unix port on a pseudo-terminal.

    Prints the serial port path (/dev/pts/N) to give to `flash`, `config`, `logs` and
    mpremote, and the control port of the simulated hardware (for `sim` and `display`).
    When the interpreter exits (a reset, a crash) it boots again from --flash-dir, like a
    board after a power cycle. Stop it with Ctrl-C.

    \b
    Examples:
      chargerctl virtual-board --config config.json --flash-dir ./vb
      chargerctl flash --port /dev/pts/3 --board unix-sim --config config.json
      chargerctl sim plug --control-port 47001 --connector 1 --unplugged
    """
    from host_tools.virtual_board import VirtualBoard, main_loop

    try:
        board = VirtualBoard(flash_dir, config=config_file, control_port=control_port,
                             heapsize=heapsize, echo=echo and not as_json)
        board.start()
    except (OSError, ValueError, RuntimeError) as e:
        _fail(f"could not start the virtual board: {e}", EXIT_BOARD_ERROR,
              "check that --flash-dir is writable and the MicroPython unix port is installed (make setup)")
    info = {"port": board.port, "control_port": board.control_port,
            "flash_dir": str(board.flash_dir), "console_log": str(board.console_log)}
    if as_json:
        click.echo(json.dumps(info), err=False)
    else:
        click.secho(f"virtual board on {board.port}", bold=True)
        click.echo(f"  control port: {board.control_port}")
        click.echo(f"  flash dir:    {board.flash_dir}")
        click.echo(f"  console log:  {board.console_log}")
        if not (board.flash_dir / "main.py").exists():
            click.echo(f"  blank board: chargerctl flash --port {board.port} --board unix-sim "
                       f"--config {config_file}")
        click.echo("  Ctrl-C stops it.")
    sys.stdout.flush()
    main_loop(board)
