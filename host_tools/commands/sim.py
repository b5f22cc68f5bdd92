"""`chargerctl sim`: drive a virtual board's simulated hardware (EV plug, power draw, faults).

Talks to the firmware's sim control server (host_tools/sim_client.py) on the control port
that `chargerctl virtual-board` prints. Numbers are for people in text (W as integers, energy
in Wh to one decimal or kWh to three) and raw in `--json`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from host_tools.commands import CTX, fail, print_json
from host_tools.exits import Exit, epilog

EXITS = (Exit.OK, Exit.USAGE, Exit.SIM)

control_port_option = click.option(
    "--control-port", type=int, required=True, envvar="EVSE_SIM_PORT",
    help="Control port printed by `chargerctl virtual-board` (env EVSE_SIM_PORT).")
host_option = click.option("--host", default="127.0.0.1", show_default=True,
                           help="Host of the control server.")
_connector = click.option("--connector", type=int, default=1, show_default=True,
                          help="Connector number.")


def open_sim(control_port: int, host: str):
    """A SimClient, or a sentence and exit 9 when nothing answers."""
    from host_tools.sim_client import SimClient, SimUnreachable

    try:
        return SimClient(control_port, host=host)
    except SimUnreachable as e:
        fail(str(e), Exit.SIM, "start it with chargerctl virtual-board and flash it (board unix-sim); "
                               "the control port is printed by virtual-board")


def sim_call(fn: Callable, *args: Any) -> Any:
    from host_tools.sim_client import SimError

    try:
        return fn(*args)
    except SimError as e:
        fail(f"the simulated hardware refused: {e}", Exit.SIM)


def watts(value: float | None) -> str:
    return "-" if value is None else f"{round(value):d} W"


def energy(wh: float | None) -> str:
    """5.171777 -> '5.2 Wh'; 12345.6 -> '12.346 kWh'."""
    if wh is None:
        return "-"
    return f"{wh / 1000:.3f} kWh" if abs(wh) >= 1000 else f"{wh:.1f} Wh"


@click.group("sim", context_settings=CTX, epilog=epilog(*EXITS))
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


@sim.command("state", context_settings=CTX, epilog=epilog(*EXITS))
@control_port_option
@host_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (raw numbers).")
def sim_state(control_port, host, as_json):
    """Show each simulated connector: plugged, relay, power, energy, fault.

    \b
    Example:
      chargerctl sim state --control-port 47001 --json
    """
    with open_sim(control_port, host) as client:
        connectors = sim_call(client.state)
    if as_json:
        print_json(connectors)
        return
    for c in connectors:
        click.echo(f"connector {c.get('id')}: {'plugged' if c.get('plugged') else 'unplugged'}, "
                   f"relay {'closed' if c.get('relay_closed') else 'open'}, "
                   f"{watts(c.get('power_w'))}, {energy(c.get('energy_wh'))}, "
                   f"fault {c.get('fault') or 'none'}")


@sim.command("plug", context_settings=CTX, epilog=epilog(*EXITS))
@control_port_option
@host_option
@_connector
@click.option("--plugged/--unplugged", default=True, show_default=True,
              help="Plug the EV in or pull it out.")
def sim_plug(control_port, host, connector, plugged):
    """Plug the simulated EV in (--plugged) or pull it out (--unplugged).

    After a session the connector stays Finishing until the EV is unplugged: unplug and plug
    it in again before the next `chargerctl session start`.

    \b
    Example:
      chargerctl sim plug --control-port 47001 --connector 1 --unplugged
      chargerctl sim plug --control-port 47001 --connector 1 --plugged
    """
    with open_sim(control_port, host) as client:
        sim_call(client.plug, connector, plugged)
    click.echo(f"connector {connector}: EV {'plugged in' if plugged else 'unplugged'}")


@sim.command("power", context_settings=CTX, epilog=epilog(*EXITS))
@control_port_option
@host_option
@_connector
@click.argument("power_w", metavar="WATTS", type=float)
def sim_power(control_port, host, connector, power_w):
    """Set what the simulated EV draws (WATTS) while the relay lets it.

    \b
    Example:
      chargerctl sim power --control-port 47001 --connector 1 11000
    """
    with open_sim(control_port, host) as client:
        sim_call(client.power, connector, int(power_w) if power_w.is_integer() else power_w)
    click.echo(f"connector {connector}: EV draws {watts(power_w)} when allowed")


@sim.command("fault", context_settings=CTX, epilog=epilog(*EXITS))
@control_port_option
@host_option
@_connector
@click.argument("fault", type=click.Choice(["welded", "meter_lost", "none"]))
def sim_fault(control_port, host, connector, fault):
    """Inject a fault (welded relay, meter lost) or clear it (none).

    \b
    Example:
      chargerctl sim fault --control-port 47001 --connector 1 meter_lost
    """
    with open_sim(control_port, host) as client:
        sim_call(client.fault, connector, None if fault == "none" else fault)
    click.echo(f"connector {connector}: fault {fault}")
