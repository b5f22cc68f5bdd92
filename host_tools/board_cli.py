"""`chargerctl` commands sim and display (the board commands moved to host_tools/commands/).

Exit codes: 0 ok; 2 usage error (click); 8 display_png missing; 9 sim control server
unreachable or refused.
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
