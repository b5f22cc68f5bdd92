"""`chargerctl display`: what a virtual board's display shows, saved as a PNG."""

from __future__ import annotations

import click

from host_tools.commands import CTX, fail, print_json
from host_tools.commands.sim import control_port_option, host_option, open_sim, sim_call
from host_tools.exits import Exit, epilog


@click.command("display", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE, Exit.SIM))
@control_port_option
@host_option
@click.option("--png", "png", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--scale", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Pixels per display pixel.")
@click.option("--json", "as_json", is_flag=True, help="Print what was saved as JSON.")
def display(control_port, host, png, scale, as_json):
    """Save what a virtual board's display shows as a PNG.

    \b
    Example:
      chargerctl display --control-port 47001 --png screen.png
    """
    from host_tools.display_png import framebuffer_to_png

    with open_sim(control_port, host) as client:
        width, height, data = sim_call(client.display)
    try:
        framebuffer_to_png(width, height, data, png, scale=scale)
    except OSError as e:
        fail(f"cannot write {png}: {e.strerror or e}", Exit.ERROR,
             "check that its folder exists and is writable")
    if as_json:
        print_json({"png": str(png), "width": width, "height": height, "scale": scale})
    else:
        click.echo(f"saved the {width}x{height} display to {png} ({width * scale}x{height * scale} px)")
