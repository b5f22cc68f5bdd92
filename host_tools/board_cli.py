"""`chargerctl` commands for boards: devices, flash, config, logs, virtual-board, sim, display.

Exit codes (shared by every command here):
  0 ok; 2 usage error (click); 3 invalid config; 4 unknown or invalid board file;
  5 board unreachable; 6 board error during a transfer; 7 esptool failed;
  8 firmware build failed (mpy-cross, validator); 9 sim control server unreachable or refused;
  10 the board's MicroPython cannot load the compiled firmware (too old: flash with --image).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

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
@click.option("--baud", type=int, default=460800, show_default=True, help="esptool baud rate for --image.")
@click.option("--firmware-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Firmware sources (default: the repository's firmware/).")
@click.option("--no-restart", is_flag=True, help="Leave the board at the REPL instead of restarting it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON result per port instead of a summary.")
def flash(ports, all_ports, board_name, config_file, image, offset, erase, baud, firmware_dir,
          no_restart, as_json):
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
    6 write refused by the board, 7 esptool failed, 8 firmware build failed,
    10 the board's MicroPython is too old for the .mpy files (use --image).
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

    results: dict[str, object] = {}
    progress = Progress(TextColumn("[bold]{task.fields[port]}"), BarColumn(),
                        DownloadColumn(), TextColumn("{task.fields[what]}"), TimeElapsedColumn(),
                        console=err, disable=as_json)
    reporter = _RichReporter(progress)
    for port in targets:
        reporter.add(port)

    def one(port: str):
        try:
            if image:  # esptool first, in this port's thread: its last line is the status
                reporter.stage(port, "esptool: starting")
                fl.write_image(port, image, offset=offset, erase=erase, baud=baud,
                               output=lambda line: line.strip() and reporter.stage(
                                   port, "esptool: " + line.strip()[-60:]))
            return fl.deploy(port, image_files, board_raw, config, reporter=reporter,
                             restart=not no_restart, connect_timeout=15 if image else 10)
        except fl.DeployError as e:
            reporter.stage(port, "[red]failed (see below)")
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


# =================================================================================== config
# What a technician types -> the config.json key.
_ALIASES = {"identity": "charge_point_id", "id": "charge_point_id", "url": "csms_url",
            "code": "public_code", "key": "authorization_key", "ca": "ca_cert"}
_SETTABLE = ("charge_point_id", "csms_url", "public_code", "authorization_key", "ca_cert",
             "public_url", "wifi", "connectors", "sim", "ocpp")
_REQUIRED = ("charge_point_id", "csms_url", "public_code")


def _key(name: str) -> str:
    key = _ALIASES.get(name, name)
    if key not in _SETTABLE:
        _fail(f"unknown config key {name!r}", 2,
              "use one of: identity, " + ", ".join(k for k in _SETTABLE if k != "charge_point_id"))
    return key


def redacted(cfg: dict) -> dict:
    """The config as it may be shown: secrets become "set" / "not set"."""
    out = {k: v for k, v in cfg.items() if k not in ("authorization_key", "ca_cert", "wifi")}
    out["authorization_key"] = "set" if cfg.get("authorization_key") else "not set"
    ca = cfg.get("ca_cert")
    out["ca_cert"] = f"set ({len(ca)} bytes PEM)" if ca else "not set"
    wifi = cfg.get("wifi")
    if isinstance(wifi, dict):
        out["wifi"] = {"ssid": wifi.get("ssid"), "password": "set" if wifi.get("password") else "not set"}
    else:
        out["wifi"] = "not set"
    if "public_url" not in cfg and cfg.get("public_code"):
        out["public_url"] = "https://app.plugchoice.com/p/{public_code} (default)"
    return out


def _read_board_files(link) -> tuple[dict | None, dict | None]:
    def parse(name: str):
        raw = link.read_file(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            _fail(f"{name} on the board is not valid JSON", 3,
                  "write a good one with chargerctl flash --config FILE")
    return parse("config.json"), parse("board.json")


def _open_link(port: str):
    from host_tools.board_link import BoardLink, BoardUnreachable

    try:
        return BoardLink(port)
    except BoardUnreachable as e:
        _fail(str(e), EXIT_UNREACHABLE, "check the port (chargerctl devices) and that nothing else uses it")


def _finish(link, restart: bool) -> None:
    if restart:
        link.reset()
    else:
        link.close()


@click.group("config", context_settings=_CTX)
def config():
    """Read or change config.json on a connected board.

    The board's firmware is interrupted while the tool talks to its REPL and restarted
    afterwards (--no-restart leaves it at the REPL). Secrets (authorization_key, the Wi-Fi
    password) are never printed back: they show as "set" / "not set".

    \b
    Examples:
      chargerctl config get --port /dev/ttyUSB0
      chargerctl config get --port /dev/ttyUSB0 identity
      chargerctl config set --port /dev/ttyUSB0 csms_url wss://ocpp.example.com/ocpp
      chargerctl config set --port /dev/ttyUSB0 authorization_key      (prompts, hidden)
      chargerctl config set --port /dev/ttyUSB0 wifi MyNetwork --password s3cret-pw
      chargerctl config set --port /dev/ttyUSB0 ca_cert ./isrg-root-x1.pem
    """


@config.command("get", context_settings=_CTX)
@click.option("--port", required=True, help="Serial port of the board (or a virtual board's /dev/pts/N).")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--no-restart", is_flag=True, help="Leave the board at the REPL afterwards.")
def config_get(port, key, as_json, no_restart):
    """Show the board's config (or one KEY), secrets redacted.

    \b
    Examples:
      chargerctl config get --port /dev/ttyUSB0
      chargerctl config get --port /dev/pts/3 public_code --json
    """
    link = _open_link(port)
    try:
        cfg, _board = _read_board_files(link)
    finally:
        _finish(link, not no_restart)
    if cfg is None:
        _fail(f"the board on {port} has no config.json", EXIT_CONFIG,
              "provision it: chargerctl flash --port PORT --board NAME --config FILE")
    shown = redacted(cfg)
    if key:
        k = _key(key)
        value = shown.get(k, "not set")
        if as_json:
            _print_json({k: value})
        else:
            click.echo(value if isinstance(value, str) else json.dumps(value))
        return
    if as_json:
        _print_json(shown)
        return
    width = max(len(k) for k in shown)
    for k in sorted(shown, key=lambda k: (k not in _REQUIRED, k)):
        v = shown[k]
        click.echo(f"{k.ljust(width)}  {v if isinstance(v, str) else json.dumps(v)}")


@config.command("set", context_settings=_CTX)
@click.option("--port", required=True, help="Serial port of the board (or a virtual board's /dev/pts/N).")
@click.argument("key")
@click.argument("value", required=False)
@click.option("--password", default=None, help="With `wifi SSID`: the Wi-Fi password (prompted if left out).")
@click.option("--unset", is_flag=True, help="Remove an optional KEY instead of setting it.")
@click.option("--no-restart", is_flag=True, help="Do not restart the board (the change applies at its next boot).")
def config_set(port, key, value, password, unset, no_restart):
    """Change one KEY of config.json on the board: checked by the firmware's own rules first,
    written atomically, then the board is restarted so it takes effect.

    \b
    KEY is one of: identity (charge_point_id), csms_url, public_code, public_url,
    authorization_key (VALUE prompted and hidden when left out), wifi (VALUE = SSID,
    --password), ca_cert (VALUE = path of a PEM file), connectors, sim, ocpp (JSON values).
    \b
    Examples:
      chargerctl config set --port /dev/ttyUSB0 identity CP-0042
      chargerctl config set --port /dev/ttyUSB0 public_code ABC123
      chargerctl config set --port /dev/ttyUSB0 authorization_key
      chargerctl config set --port /dev/ttyUSB0 wifi Depot-WLAN --password 'correct horse'
      chargerctl config set --port /dev/ttyUSB0 ca_cert ca.pem
      chargerctl config set --port /dev/ttyUSB0 public_url --unset
    """
    from host_tools import flash as fl

    k = _key(key)
    if unset:
        if k in _REQUIRED:
            _fail(f"{k} is required and cannot be removed", EXIT_CONFIG, f"set a new value: config set {key} VALUE")
        new_value = None
    else:
        new_value = _parse_value(k, value, password)

    link = _open_link(port)
    restart = not no_restart  # also after a refusal: the firmware must run again
    try:
        cfg, board = _read_board_files(link)
        cfg = dict(cfg or {})
        if new_value is None:
            cfg.pop(k, None)
        else:
            cfg[k] = new_value
        try:
            checked = fl.check_config(cfg, board)
        except fl.DeployError as e:
            _fail(str(e).replace("config refused", f"{k} refused"), e.exit_code, e.hint)
        link.write_file("config.json", fl.config_bytes(checked))
    finally:
        _finish(link, restart)
    shown = redacted(checked).get(k, "not set")
    click.secho(f"{k} = {shown if isinstance(shown, str) else json.dumps(shown)}"
                + (" (board restarting)" if restart else " (applies at the next boot)"), fg="green")


def _parse_value(key: str, value: str | None, password: str | None):
    if key == "authorization_key":
        if value is None or value == "-":
            value = click.prompt("authorization_key", hide_input=True, confirmation_prompt=True)
        return value
    if value is None:
        _fail(f"{key} needs a VALUE", 2, f"chargerctl config set --port PORT {key} VALUE")
    if key == "ca_cert":
        try:
            return Path(value).read_text()
        except (OSError, UnicodeDecodeError) as e:
            _fail(f"cannot read the CA certificate file {value}: {e}", EXIT_CONFIG,
                  "give the path of a PEM file (-----BEGIN CERTIFICATE-----)")
    if key == "wifi":
        if value.startswith("{"):
            return _json_value(key, value)
        if password is None:
            password = click.prompt("Wi-Fi password (empty for an open network)", hide_input=True,
                                    default="", show_default=False)
        return {"ssid": value, "password": password}
    if key in ("connectors", "sim", "ocpp"):
        return _json_value(key, value)
    return value


def _json_value(key: str, value: str):
    try:
        return json.loads(value)
    except ValueError as e:
        _fail(f"{key} needs a JSON value, got {value!r}: {e}", EXIT_CONFIG,
              'e.g. connectors 2, sim \'{"ev_plugged": true}\'')


# ================================================================================== devices
@click.command("devices", context_settings=_CTX)
@click.option("--all", "show_all", is_flag=True, help="Also list serial ports that are not USB.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def devices(show_all, as_json):
    """List boards on USB serial ports (port, serial number, description, vid:pid).

    Virtual boards are not listed: `chargerctl virtual-board` prints their port.

    \b
    Examples:
      chargerctl devices
      chargerctl devices --json
    """
    from serial.tools import list_ports

    rows = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if p.vid is None and not show_all:
            continue
        rows.append({"port": p.device, "serial_number": p.serial_number,
                     "description": p.description, "manufacturer": p.manufacturer,
                     "vid_pid": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None})
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("no USB serial boards found: check the cable (a data cable, not charge-only) "
                   "and the USB-serial driver (CP210x, CH340); Linux users need the dialout group.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("port", "serial number", "description", "vid:pid")
    for r in rows:
        table.add_row(r["port"], r["serial_number"] or "-", r["description"] or "-", r["vid_pid"] or "-")
    Console().print(table)


# ===================================================================================== logs
@click.command("logs", context_settings=_CTX)
@click.option("--port", required=True, help="Serial port of the board (or a virtual board's /dev/pts/N).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: {\"time\": ..., \"line\": ...}.")
def logs(port, duration, as_json):
    """Follow the board's console with host timestamps, without interrupting the firmware.

    Only listens: nothing is sent to the board, so the running firmware goes on.

    \b
    Examples:
      chargerctl logs --port /dev/ttyUSB0
      chargerctl logs --port /dev/pts/3 --duration 30 --json > console.jsonl
    """
    import datetime

    import serial

    try:
        ser = serial.Serial(port, 115200, timeout=0.2, exclusive=True)
    except (serial.SerialException, OSError) as e:
        _fail(f"cannot open {port}: {e}", EXIT_UNREACHABLE,
              "check the port (chargerctl devices); close other programs using it (mpremote, screen)")
    deadline = None if duration is None else time.monotonic() + duration
    pending = b""

    def emit(raw: bytes) -> None:
        text = raw.decode(errors="replace").rstrip("\r\n").replace("\x04", "")
        now = datetime.datetime.now().astimezone()
        if as_json:
            click.echo(json.dumps({"time": now.isoformat(timespec="milliseconds"), "line": text}))
        else:
            click.echo(f"{now:%H:%M:%S}.{now.microsecond // 1000:03d}  {text}")

    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                chunk = ser.read(4096)
            except (serial.SerialException, OSError) as e:
                _fail(f"lost {port}: {e}", EXIT_UNREACHABLE, "the board was unplugged or reset its USB")
            if not chunk:
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                emit(line)
    except KeyboardInterrupt:
        pass
    finally:
        if pending:
            emit(pending)
        ser.close()


# ====================================================================================== sim
def _sim(control_port: int, host: str):
    from host_tools.sim_client import SimClient, SimUnreachable

    try:
        return SimClient(control_port, host=host)
    except SimUnreachable as e:
        _fail(str(e), EXIT_SIM, "start it with chargerctl virtual-board and flash it (board unix-sim)")


def _sim_call(fn, *args):
    from host_tools.sim_client import SimError

    try:
        return fn(*args)
    except SimError as e:
        _fail(f"the simulated hardware refused: {e}", EXIT_SIM)


_control_port = click.option("--control-port", type=int, required=True, envvar="EVSE_SIM_PORT",
                             help="Control port printed by `chargerctl virtual-board` (env EVSE_SIM_PORT).")
_host = click.option("--host", default="127.0.0.1", show_default=True, help="Host of the control server.")
_connector = click.option("--connector", type=int, default=1, show_default=True, help="Connector number.")


@click.group("sim", context_settings=_CTX)
def sim():
    """Drive a virtual board's simulated hardware: the EV, its power draw, faults.

    \b
    Examples:
      chargerctl sim state --control-port 47001
      chargerctl sim plug --control-port 47001 --connector 1 --unplugged
      chargerctl sim power --control-port 47001 --connector 1 3700
      chargerctl sim fault --control-port 47001 --connector 1 welded
      chargerctl sim fault --control-port 47001 --connector 1 none
    """


@sim.command("state", context_settings=_CTX)
@_control_port
@_host
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sim_state(control_port, host, as_json):
    """Show each simulated connector: plugged, relay, power, energy, fault.

    \b
    Example:
      chargerctl sim state --control-port 47001 --json
    """
    with _sim(control_port, host) as client:
        connectors = _sim_call(client.state)
    if as_json:
        _print_json(connectors)
        return
    for c in connectors:
        click.echo(f"connector {c.get('id')}: {'plugged' if c.get('plugged') else 'unplugged'}, "
                   f"relay {'closed' if c.get('relay_closed') else 'open'}, {c.get('power_w')} W, "
                   f"{c.get('energy_wh')} Wh, fault {c.get('fault') or 'none'}")


@sim.command("plug", context_settings=_CTX)
@_control_port
@_host
@_connector
@click.option("--plugged/--unplugged", default=True, show_default=True, help="Plug the EV in or pull it out.")
def sim_plug(control_port, host, connector, plugged):
    """Plug the simulated EV in (--plugged) or pull it out (--unplugged).

    \b
    Example:
      chargerctl sim plug --control-port 47001 --connector 2 --plugged
    """
    with _sim(control_port, host) as client:
        _sim_call(client.plug, connector, plugged)
    click.echo(f"connector {connector}: EV {'plugged in' if plugged else 'unplugged'}")


@sim.command("power", context_settings=_CTX)
@_control_port
@_host
@_connector
@click.argument("watts", type=float)
def sim_power(control_port, host, connector, watts):
    """Set what the simulated EV draws (WATTS) while the relay lets it.

    \b
    Example:
      chargerctl sim power --control-port 47001 --connector 1 11000
    """
    with _sim(control_port, host) as client:
        _sim_call(client.power, connector, int(watts) if watts.is_integer() else watts)
    click.echo(f"connector {connector}: EV draws {watts:g} W when allowed")


@sim.command("fault", context_settings=_CTX)
@_control_port
@_host
@_connector
@click.argument("fault", type=click.Choice(["welded", "meter_lost", "none"]))
def sim_fault(control_port, host, connector, fault):
    """Inject a fault (welded relay, meter lost) or clear it (none).

    \b
    Example:
      chargerctl sim fault --control-port 47001 --connector 1 meter_lost
    """
    with _sim(control_port, host) as client:
        _sim_call(client.fault, connector, None if fault == "none" else fault)
    click.echo(f"connector {connector}: fault {fault}")


# ================================================================================== display
@click.command("display", context_settings=_CTX)
@_control_port
@_host
@click.option("--png", "png", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--scale", type=int, default=4, show_default=True, help="Pixels per display pixel.")
@click.option("--json", "as_json", is_flag=True, help="Print what was saved as JSON.")
def display(control_port, host, png, scale, as_json):
    """Save what a virtual board's display shows as a PNG.

    \b
    Example:
      chargerctl display --control-port 47001 --png screen.png
    """
    with _sim(control_port, host) as client:
        width, height, data = _sim_call(client.display)
    try:
        from host_tools.display_png import framebuffer_to_png
    except ImportError:
        _fail("host_tools/display_png.py is missing in this checkout", EXIT_BUILD)
    framebuffer_to_png(width, height, data, png, scale=scale)
    if as_json:
        _print_json({"png": str(png), "width": width, "height": height, "scale": scale})
    else:
        click.echo(f"saved {width}x{height} display to {png} (x{scale})")
