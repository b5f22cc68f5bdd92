"""`chargerctl`: flash, provision and drive MicroPython OCPP chargers.

Subcommands are loaded lazily: the backend pulls in FastAPI and uvicorn, flashing pulls in
mpremote and esptool, and a technician running `chargerctl devices` should wait for neither.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command; each module owns its command.
COMMANDS = {
    "backend": "host_tools.backend.cli:backend",
    "devices": "host_tools.commands.devices:devices",
    "flash": "host_tools.commands.flash:flash",
    "config": "host_tools.commands.config:config",
    "logs": "host_tools.commands.logs:logs",
    "virtual-board": "host_tools.commands.virtual_board:virtual_board",
    "board": "host_tools.commands.board:board",
    "sim": "host_tools.commands.sim:sim",
    "display": "host_tools.commands.display:display",
    "session": "host_tools.commands.session:session",
    "commission": "host_tools.commands.commission:commission",
    "demo": "host_tools.commands.demo:demo",
    "ocpp-log": "host_tools.commands.ocpp_log:ocpp_log",
    "charger": "host_tools.commands.charger:charger",
    "bundle": "host_tools.commands.bundle:bundle",
    "sign": "host_tools.commands.sign:sign",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="charger-tools")
def main() -> None:
    """Flash, provision and drive MicroPython OCPP chargers.

    \b
    Examples:
      chargerctl devices
      chargerctl backend --chargers chargers.json
      chargerctl virtual-board --config config.json --flash-dir ./vb
      chargerctl flash --port /dev/ttyUSB0 --board olimex-esp32-evb --config config.json
      chargerctl session start --code ABC123 --connector 1
      chargerctl ocpp-log CP-1
      chargerctl charger limit --charger CP-1 --connector 1 --amps 10
      chargerctl commission --port /dev/ttyUSB0 --code ABC123 --connector 1
    """


if __name__ == "__main__":
    main()
