"""`chargerctl flash`: deploy the firmware, board file and config to one or more boards."""

from __future__ import annotations

import json
import sys

import click

from host_tools.commands import CTX, fail
from host_tools.commands.board import PORT_HELP
from host_tools.exits import Exit, epilog


def usb_ports() -> list[str]:
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
        self.progress.update(self.tasks[port], what=text, visible=text != "up to date")
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


_CODES = (Exit.OK, Exit.USAGE, Exit.CONFIG, Exit.BOARD_FILE, Exit.UNREACHABLE, Exit.BOARD_ERROR,
          Exit.ESPTOOL, Exit.BUILD, Exit.MICROPYTHON_OLD, Exit.TRANSACTION_OPEN, Exit.TOOL_MISSING,
          Exit.NOTHING_FOUND, Exit.STATE_UNKNOWN)


@click.command("flash", context_settings=CTX, epilog=epilog(*_CODES))
@click.option("--port", "ports", multiple=True, metavar="PORT",
              help=PORT_HELP + " Repeat for several boards.")
@click.option("--all", "all_ports", is_flag=True, help="Flash every USB serial board found (see `devices`).")
@click.option("--board", "board_name", required=True,
              help="Board file name in boards/ (e.g. unix-sim, olimex-esp32-evb) or a path to one.")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False),
              help="config.json to write to the board (validated first).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False),
              help="MicroPython firmware .bin: write it with esptool first (blank ESP32). A stock "
                   "image, or one with evse frozen in by firmware/manifest.py (firmware/README.md, "
                   "\"Deploy modes\").")
@click.option("--offset", default="0x1000", show_default=True,
              help="Flash offset for --image (0x0 for ESP32-S3/C3).")
@click.option("--erase", is_flag=True, help="With --image: erase the whole flash first.")
@click.option("--baud", type=int, default=460800, show_default=True, help="esptool baud rate for --image.")
@click.option("--firmware-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Firmware sources (default: the repository's firmware/).")
@click.option("--force", is_flag=True,
              help="Flash even while a charging session runs (it ends, stopped as PowerLoss).")
@click.option("--full", is_flag=True,
              help="Compare every file's hash on the board even when its deploy record says "
                   "it is up to date.")
@click.option("--no-restart", is_flag=True, help="Leave the board at the REPL instead of restarting it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result per port instead of a summary.")
def flash(ports, all_ports, board_name, config_file, image, offset, erase, baud, firmware_dir,
          force, full, no_restart, as_json):
    """Deploy the firmware, board file and config to one or more boards.

    Compiles firmware/evse to .mpy, compares sha256 with what is on the board and copies only
    what changed, writes board.json and config.json (both checked first: a bad value is refused
    with the key and the reason and nothing is written), removes stale files under /lib/evse and
    restarts the board. Several ports are flashed in parallel, one progress line each.

    It asks the running firmware first: when the board already holds exactly this deploy, it
    says "up to date" and does not interrupt it; while a charging session runs, or when the
    board does not answer the question (busy, older firmware), it refuses (unless --force),
    since the restart could end a session. A board at its REPL (blank, or its app crashed) is
    flashed without asking for --force, and so is a silent board with --image (a blank ESP32
    cannot answer; one running this firmware does, and is refused while it charges).

    \b
    Examples:
      chargerctl flash --port /dev/ttyUSB0 --board olimex-esp32-evb --config cp1.json
      chargerctl flash --port /dev/ttyUSB0 --board olimex-esp32-evb --config cp1.json \\
          --image ESP32_GENERIC-v1.26.1.bin
      chargerctl flash --port /dev/ttyUSB0 --board olimex-esp32-evb --config cp1.json \\
          --image build-ESP32_GENERIC/firmware.bin      (evse frozen into the image)
      chargerctl flash --port /dev/cu.SLAB_USBtoUART --board esp32-devkitc --config cp1.json
      chargerctl flash --port COM3 --board esp32-devkitc --config cp1.json
      chargerctl flash --port /dev/pts/3 --board unix-sim --config config.json
      chargerctl flash --all --board olimex-esp32-evb --config fleet.json
    """
    from concurrent.futures import ThreadPoolExecutor

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from host_tools import flash as fl
    from host_tools.scan_to_pay import with_local_page

    targets = list(dict.fromkeys(ports))
    if all_ports:
        targets += [p for p in usb_ports() if p not in targets]
    if not targets and all_ports:
        fail("--all found no USB serial board to flash", Exit.NOTHING_FOUND,
             "check the cable and the driver (chargerctl devices), or give --port PORT")
    if not targets:
        fail("no board to flash", Exit.USAGE, "give --port PORT (see `chargerctl devices`) or --all")
    kwargs = {"firmware_dir": firmware_dir} if firmware_dir else {}
    err = Console(stderr=True)
    try:
        board, board_raw = fl.load_board(board_name)
        config, page = with_local_page(fl.load_config_file(config_file))
        if page:
            err.print(f"public_url: {page} (the local backend's Scan to Pay page, where the "
                      "board's csms_url points)", highlight=False, markup=False)
        config = fl.check_config(config, board, **kwargs)
        with err.status("compiling firmware with mpy-cross"):
            image_files = fl.build_image(**kwargs)
    except fl.DeployError as e:
        fail(str(e), e.exit_code, e.hint)

    progress = Progress(TextColumn("[bold]{task.fields[port]}"), BarColumn(),
                        DownloadColumn(), TextColumn("{task.fields[what]}"), TimeElapsedColumn(),
                        console=err, disable=as_json)
    reporter = _RichReporter(progress)
    for port in targets:
        reporter.add(port)

    def one(port: str):
        try:
            if image:  # esptool first, in this port's thread: its last line is the status
                try:  # an erase ends a session as a restart does; a blank ESP32 is silent
                    fl.ask_firmware(port, None, force, silence_ok=True)
                except fl.Unreachable:
                    pass  # esptool says best why the port does not answer
                reporter.stage(port, "esptool: starting")
                fl.write_image(port, image, offset=offset, erase=erase, baud=baud,
                               output=lambda line: line.strip() and reporter.stage(
                                   port, "esptool: " + line.strip()[-60:]))
            return fl.deploy(port, image_files, board_raw, config, reporter=reporter,
                             restart=not no_restart, connect_timeout=15 if image else 10,
                             force=force, full=full)
        except fl.DeployError as e:
            reporter.stage(port, "[red]failed (see below)")
            return e

    with progress, ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        results = dict(zip(targets, pool.map(one, targets), strict=True))
    _summary(results, as_json)


def _summary(results: dict, as_json: bool) -> None:
    from host_tools import flash as fl

    codes = []
    for port, res in results.items():
        if isinstance(res, fl.DeployError):
            codes.append(int(res.exit_code))
            if as_json:
                click.echo(json.dumps({"port": port, "ok": False, "error": str(res),
                                       "exit_code": int(res.exit_code)}))
            else:
                click.secho(f"{port}: FAILED: {res}", fg="red", err=True)
                if res.hint:
                    click.echo(f"  -> {res.hint}", err=True)
            continue
        d = res.as_dict()
        if as_json:
            click.echo(json.dumps({"ok": True, **d}))
        elif d["up_to_date"]:
            click.secho(f"{port}: up to date: nothing copied, board not interrupted", fg="green")
        else:
            click.secho(f"{port}: ok: {len(d['copied'])} file(s) copied ({d['bytes_copied']} bytes), "
                        f"{d['unchanged']} unchanged, {len(d['removed'])} removed, "
                        f"{d['seconds']:.2f} s" + (", restarted" if d["restarted"] else ""), fg="green")
    if codes:
        sys.exit(codes[0] if len(set(codes)) == 1 else max(codes))
