"""`chargerctl logs`: follow a board's console without interrupting the firmware."""

from __future__ import annotations

import datetime
import json
import time
from collections import deque

import click

from host_tools.commands import CTX, fail
from host_tools.commands.board import PORT_HINT, port_option
from host_tools.exits import Exit, epilog


def _backlog(port: str, lines: int) -> list[str]:
    """The last lines of a virtual board's console log (a USB board keeps none: [])."""
    from host_tools import running_boards

    info = running_boards.find(port)
    if not info or lines <= 0:
        return []
    try:
        with open(info["console_log"], "rb") as f:
            tail = deque(f, maxlen=lines)
    except OSError:
        return []
    return [raw.decode(errors="replace").rstrip("\r\n") for raw in tail]


@click.command("logs", context_settings=CTX, epilog=epilog(Exit.OK, Exit.UNREACHABLE))
@port_option
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--backlog", type=click.IntRange(0, 10000), default=20, show_default=True,
              help="Recent lines to show first (a virtual board's console log; a USB board has "
                   "none, its buffered output comes first instead).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: {\"time\": ..., \"line\": ...}.")
def logs(port, duration, backlog, as_json):
    """Follow the board's console with host timestamps, without interrupting the firmware.

    Only listens: nothing is sent to the board, so the running firmware goes on. Says where it
    listens on stderr, shows the recent backlog, then each new line as it comes.

    \b
    Examples:
      chargerctl logs --port /dev/ttyUSB0
      chargerctl logs --port /dev/cu.usbserial-0001
      chargerctl logs --port /dev/pts/3 --duration 30 --json > console.jsonl
    """
    import serial

    try:
        ser = serial.Serial(port, 115200, timeout=0.2, exclusive=True)
    except (serial.SerialException, OSError) as e:
        fail(f"cannot open {port}: {e}", Exit.UNREACHABLE, PORT_HINT)
    deadline = None if duration is None else time.monotonic() + duration
    pending = b""

    def emit(text: str, earlier: bool = False) -> None:
        # A backlog line has no time of its own: it was logged before we listened.
        text = text.replace("\x04", "")
        now = datetime.datetime.now().astimezone()
        if as_json:
            stamp = None if earlier else now.isoformat(timespec="milliseconds")
            click.echo(json.dumps({"time": stamp, "line": text, "backlog": earlier}))
        else:
            stamp = "(earlier)   " if earlier else f"{now:%H:%M:%S}.{now.microsecond // 1000:03d}"
            click.echo(f"{stamp}  {text}")

    old = _backlog(port, backlog)
    click.echo(f"listening on {port}, Ctrl-C to stop"
               + (f" (first the last {len(old)} line(s) of its console log)" if old else ""),
               err=True)
    for line in old:
        emit(line, earlier=True)
    try:
        while deadline is None or time.monotonic() < deadline:
            try:
                chunk = ser.read(4096)
            except (serial.SerialException, OSError) as e:
                fail(f"lost {port}: {e}", Exit.UNREACHABLE, "the board was unplugged or reset its USB")
            if not chunk:
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                emit(line.decode(errors="replace").rstrip("\r"))
    except KeyboardInterrupt:
        pass
    finally:
        if pending:
            emit(pending.decode(errors="replace").rstrip("\r\n"))
        ser.close()
