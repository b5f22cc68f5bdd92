"""`chargerctl board reset|ls`, and what every board command shares: the port option (with
the port names of each OS), --force, the look before an interruption, the raw-REPL link."""

from __future__ import annotations

import click

from host_tools.commands import CTX, fail, print_json
from host_tools.exits import Exit, epilog

PORT_HELP = ("Serial port of the board: /dev/ttyUSB0 or /dev/ttyACM0 (Linux), "
             "/dev/cu.usbserial-* or /dev/cu.SLAB_USBtoUART (macOS), COM3 (Windows), "
             "or a virtual board's /dev/pts/N.")
PORT_HINT = ("check the port (chargerctl devices) and close other programs using it "
             "(mpremote, screen, chargerctl logs)")
port_option = click.option("--port", required=True, metavar="PORT", help=PORT_HELP)
force_option = click.option(
    "--force", is_flag=True,
    help="Interrupt the firmware even while a charging session runs: the session ends "
         "(stopped as PowerLoss, with the meter reading at the restart).")
restart_option = click.option("--no-restart", is_flag=True,
                              help="Leave the board at the REPL afterwards instead of restarting it.")


def guard(port: str, force: bool):
    """Ask the running firmware before interrupting it; refuse while a transaction is open
    (exit TRANSACTION_OPEN) or when the firmware does not say (STATE_UNKNOWN), unless --force.
    Returns the firmware's answer (None: a REPL answered, the app does not run; `.error`
    set: it runs, its state is unknown)."""
    from host_tools.board_probe import PortUnavailable, Refused, look

    try:
        return look(port, force)
    except PortUnavailable as e:
        fail(str(e), Exit.UNREACHABLE, PORT_HINT)
    except Refused as e:
        fail(str(e), e.exit_code, "nothing was done on the board")


def open_link(port: str):
    """The board's raw REPL (this interrupts the firmware), or exit UNREACHABLE."""
    from host_tools.board_link import BoardLink, BoardUnreachable

    try:
        return BoardLink(port)
    except BoardUnreachable as e:
        fail(str(e), Exit.UNREACHABLE, PORT_HINT)


def finish(link, restart: bool) -> None:
    """Restart the firmware the link interrupted, or leave it at the REPL."""
    if restart:
        link.reset()
    else:
        link.close()


@click.group("board", context_settings=CTX)
def board():
    """Restart a board or list its files.

    \b
    Examples:
      chargerctl board reset --port /dev/ttyUSB0
      chargerctl board ls --port /dev/ttyUSB0 lib/evse
    """


@board.command("reset", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.UNREACHABLE, Exit.TRANSACTION_OPEN,
                             Exit.STATE_UNKNOWN))
@port_option
@force_option
def reset(port, force):
    """Restart the board (machine.reset; a virtual board boots again from its flash).

    Refused while a charging session runs, or when the firmware does not answer whether one
    does, unless --force.

    \b
    Examples:
      chargerctl board reset --port /dev/ttyUSB0
      chargerctl board reset --port COM3 --force
    """
    state = guard(port, force)
    open_link(port).reset()
    was = ("the app was not running" if state is None else
           "the app was running" if not state.error else "the app's state was unknown")
    click.echo(f"{port}: restarting ({was}).")


@board.command("ls", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.UNREACHABLE, Exit.BOARD_ERROR, Exit.TRANSACTION_OPEN,
                             Exit.STATE_UNKNOWN, Exit.NOTHING_FOUND))
@port_option
@click.argument("path", required=False, default="")
@force_option
@restart_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON: [{path, size, dir}].")
def ls(port, path, force, no_restart, as_json):
    """List the board's files under PATH (default: everything) with their sizes in bytes.

    The raw REPL interrupts the firmware: refused while a charging session runs, unless
    --force; the board is restarted afterwards.

    \b
    Examples:
      chargerctl board ls --port /dev/ttyUSB0
      chargerctl board ls --port /dev/pts/3 lib/evse --json
    """
    from host_tools.board_link import BoardError, BoardUnreachable

    guard(port, force)
    link = open_link(port)
    try:
        entries = link.ls(path)
    except BoardUnreachable as e:
        fail(str(e), Exit.UNREACHABLE, PORT_HINT)
    except BoardError as e:
        fail(f"the board could not list {path or '/'}: {e}", Exit.BOARD_ERROR)
    finally:
        finish(link, not no_restart)
    if not entries:
        fail(f"nothing at {path or '/'} on the board on {port}", Exit.NOTHING_FOUND,
             "list the whole board: chargerctl board ls --port PORT")
    if as_json:
        print_json([{"path": p, "size": size, "dir": bool(d)} for p, size, d in entries])
        return
    for p, size, d in entries:
        click.echo(f"{'-' if d else size:>9}  {p}{'/' if d else ''}")
    files = [s for _p, s, d in entries if not d]
    click.echo(f"{len(files)} file(s), {sum(files)} bytes")
