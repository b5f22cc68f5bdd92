"""`chargerctl virtual-board`: the MicroPython unix port on a pseudo-terminal, as a board."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from host_tools.commands import CTX, fail
from host_tools.exits import Exit, epilog


def _read_config(path: str) -> dict:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read the config file {path}: {e}", Exit.CONFIG, "give the path of a config.json")
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}",
             Exit.CONFIG, f"fix the JSON near line {e.lineno}, column {e.colno} of {path} "
             "(a missing comma or quote, or a trailing comma, is the usual cause)")
    if not isinstance(cfg, dict):
        fail(f"{path} holds a JSON {type(cfg).__name__}, not an object", Exit.CONFIG,
             'write {"charge_point_id": ..., "csms_url": ..., "public_code": ...}')
    return cfg


@click.command("virtual-board", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.CONFIG, Exit.BOARD_ERROR, Exit.TOOL_MISSING))
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

    Prints the serial port path (/dev/pts/N) to give to `flash`, `config`, `logs`, `board` and
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

    config = _read_config(config_file)
    try:
        board = VirtualBoard(flash_dir, config=config, control_port=control_port,
                             heapsize=heapsize, echo=echo and not as_json)
    except RuntimeError as e:  # no MicroPython unix port found
        fail(str(e), Exit.TOOL_MISSING, "run `make setup`, or set MICROPYTHON=/path/to/micropython")
    try:
        board.start()
    except FileNotFoundError as e:
        fail(f"the MicroPython unix port {board.micropython} cannot be started: {e.strerror}",
             Exit.TOOL_MISSING, "run `make setup`, or set MICROPYTHON=/path/to/micropython")
    except (OSError, TimeoutError) as e:
        fail(f"could not start the virtual board in {flash_dir}: {e}", Exit.BOARD_ERROR,
             "check that --flash-dir is a folder you can write to")
    info = {"port": board.port, "control_port": board.control_port,
            "flash_dir": str(board.flash_dir), "console_log": str(board.console_log)}
    if as_json:
        click.echo(json.dumps(info))
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
