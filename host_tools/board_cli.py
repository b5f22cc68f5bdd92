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


# ==================================================================================== flash
def _usb_ports() -> list[str]:
    from serial.tools import list_ports

    return [p.device for p in list_ports.comports() if p.vid is not None]


class _RichReporter:
    """One progress line per port: stage or current file, bytes done of bytes to copy."""

    def __init__(self, progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def add(self, port: str) -> None:
        self.tasks[port] = self.progress.add_task(port, total=None, port=port, what="waiting")

    def stage(self, port: str, text: str) -> None:
        self.progress.update(self.tasks[port], what=text)
        if text == "done":
            task = self.progress.tasks[self.tasks[port]]
            self.progress.update(self.tasks[port], total=task.total or 1,
                                 completed=task.total or 1)

    def plan(self, port: str, files: int, total_bytes: int) -> None:
        self.progress.update(self.tasks[port], total=max(total_bytes, 1), completed=0,
                             what=f"{files} file(s) to copy")

    def file(self, port: str, path: str) -> None:
        self.progress.update(self.tasks[port], what=path)

    def advance(self, port: str, nbytes: int) -> None:
        self.progress.advance(self.tasks[port], nbytes)


@click.command("flash", context_settings=_CTX)
@click.option("--port", "ports", multiple=True,
              help="Serial port of a board (repeat for several; a virtual board's /dev/pts/N works too).")
@click.option("--all", "all_ports", is_flag=True, help="Flash every USB serial board found (see `devices`).")
@click.option("--board", "board_name", required=True,
              help="Board file name in boards/ (e.g. unix-sim, olimex-esp32-evb) or a path to one.")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="config.json to write to the board (validated first).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False),
              help="MicroPython firmware .bin: write it with esptool first (blank ESP32).")
@click.option("--offset", default="0x1000", show_default=True,
              help="Flash offset for --image (0x0 for ESP32-S3/C3).")
@click.option("--erase", is_flag=True, help="With --image: erase the whole flash first.")
@click.option("--firmware-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Firmware sources (default: the repository's firmware/).")
@click.option("--no-restart", is_flag=True, help="Leave the board at the REPL instead of restarting it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result per port instead of a summary.")
def flash(ports, all_ports, board_name, config_file, image, offset, erase, firmware_dir, no_restart, as_json):
    """Deploy the firmware, board file and config to one or more boards.

    Compiles firmware/evse to .mpy, compares sha256 with what is on the board and copies only
    what changed, writes board.json and config.json (both checked first: a bad value is refused
    with the key and the reason and nothing is written), removes stale files under /lib/evse and
    restarts the board. Several ports are flashed in parallel, one progress line each.

    \b
    Examples:
      chargerctl flash --port /dev/ttyUSB0 --board olimex-esp32-evb --config cp1.json
      chargerctl flash --port /dev/ttyUSB0 --board olimex-esp32-evb --config cp1.json \\
          --image ESP32_GENERIC-v1.26.1.bin
      chargerctl flash --port /dev/pts/3 --board unix-sim --config config.json
      chargerctl flash --all --board olimex-esp32-evb --config fleet.json
    \b
    Exit codes: 0 ok, 3 invalid config, 4 bad board file, 5 board unreachable,
    6 write refused by the board, 7 esptool failed, 8 firmware build failed.
    """
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from host_tools import flash as fl

    targets = list(dict.fromkeys(ports))
    if all_ports:
        targets += [p for p in _usb_ports() if p not in targets]
    if not targets:
        _fail("no board to flash", 2, "give --port PORT (see `chargerctl devices`) or --all")
    kwargs = {"firmware_dir": firmware_dir} if firmware_dir else {}
    err = Console(stderr=True)
    try:
        board, board_raw = fl.load_board(board_name)
        config = fl.check_config(fl.load_config_file(config_file), board, **kwargs)
        with err.status("compiling firmware with mpy-cross"):
            image_files = fl.build_image(**kwargs)
    except fl.DeployError as e:
        _fail(str(e), e.exit_code, e.hint)

    if image:
        for port in targets:
            err.print(f"[bold]{port}[/]: writing {image} with esptool")
            try:
                fl.write_image(port, image, offset=offset, erase=erase,
                               output=lambda line, p=port: err.print(f"  {p}: {line}", highlight=False))
            except fl.DeployError as e:
                _fail(str(e), e.exit_code, e.hint)

    results: dict[str, object] = {}
    progress = Progress(TextColumn("[bold]{task.fields[port]}"), BarColumn(),
                        DownloadColumn(), TextColumn("{task.fields[what]}"), TimeElapsedColumn(),
                        console=err, disable=as_json)
    reporter = _RichReporter(progress)
    for port in targets:
        reporter.add(port)

    def one(port: str):
        try:
            return fl.deploy(port, image_files, board_raw, config, reporter=reporter,
                             restart=not no_restart, connect_timeout=15 if image else 10)
        except fl.DeployError as e:
            reporter.stage(port, f"[red]failed: {e}")
            return e

    with progress, ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        for port, res in zip(targets, pool.map(one, targets), strict=True):
            results[port] = res

    codes = []
    for port, res in results.items():
        if isinstance(res, fl.DeployError):
            codes.append(res.exit_code)
            if as_json:
                click.echo(json.dumps({"port": port, "ok": False, "error": str(res), "exit_code": res.exit_code}))
            else:
                click.secho(f"{port}: FAILED: {res}", fg="red", err=True)
                if res.hint:
                    click.echo(f"  -> {res.hint}", err=True)
        else:
            d = res.as_dict()
            if as_json:
                click.echo(json.dumps({"ok": True, **d}))
            else:
                click.secho(f"{port}: ok: {len(d['copied'])} file(s) copied ({d['bytes_copied']} bytes), "
                            f"{d['unchanged']} unchanged, {len(d['removed'])} removed, "
                            f"{d['seconds']:.2f} s" + (", restarted" if d["restarted"] else ""), fg="green")
    if codes:
        sys.exit(codes[0] if len(set(codes)) == 1 else max(codes))
