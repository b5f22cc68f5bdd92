"""`chargerctl devices`: boards on USB serial ports."""

from __future__ import annotations

import click

from host_tools.commands import CTX, fail, print_json
from host_tools.exits import Exit, epilog

_NONE_FOUND = ("no USB serial boards found: check the cable (a data cable, not charge-only) and "
               "the USB-serial driver (CP210x, CH340). Linux: add yourself to the dialout group "
               "and log in again; macOS: the board shows as /dev/cu.usbserial-* or "
               "/dev/cu.SLAB_USBtoUART once the driver is installed; Windows: look for a COM port "
               "(COM3) in the Device Manager.")


@click.command("devices", context_settings=CTX, epilog=epilog(Exit.OK, Exit.NOTHING_FOUND))
@click.option("--all", "show_all", is_flag=True, help="Also list serial ports that are not USB.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (an empty list when none is found).")
def devices(show_all, as_json):
    """List boards on USB serial ports (port, serial number, description, vid:pid).

    Port names: /dev/ttyUSB0 or /dev/ttyACM0 on Linux, /dev/cu.usbserial-* or
    /dev/cu.SLAB_USBtoUART on macOS, COM3 on Windows. Virtual boards are not listed:
    `chargerctl virtual-board` prints their port.

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
        print_json(rows)
    if not rows:
        if as_json:
            raise SystemExit(int(Exit.NOTHING_FOUND))
        fail(_NONE_FOUND, Exit.NOTHING_FOUND)
    if as_json:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("port", "serial number", "description", "vid:pid")
    for r in rows:
        table.add_row(r["port"], r["serial_number"] or "-", r["description"] or "-", r["vid_pid"] or "-")
    Console().print(table)
