"""`chargerctl bundle`: the application bundle a firmware update sends a board."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import click

from host_tools.commands import CTX, fail, print_json
from host_tools.exits import Exit, epilog


@click.command("bundle", context_settings=CTX, epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE, Exit.BUILD))
@click.option("--firmware", "firmware_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Firmware folder (main.py and evse/). Default: the repository's.")
@click.option("--version", "version", default=None,
              help="firmwareVersion the bundle reports (default: evse/boot.py's VERSION).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write. Default: evse-<version>.bundle in the current folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def bundle(firmware_dir, version, output, as_json):
    """Build the application bundle ("evse-bundle 1") of the firmware: the files `chargerctl
    flash` deploys (main.py, lib/evse/**.mpy), for a board to install as an update.

    \b
    Example:
      chargerctl bundle --version 0.2.0 -o evse-0.2.0.bundle
    """
    from host_tools import FIRMWARE_DIR
    from host_tools.bundle import build_bundle, read_bundle
    from host_tools.deploy_errors import DeployError

    try:
        data = build_bundle(firmware_dir or FIRMWARE_DIR, version)
    except DeployError as e:
        fail(str(e), e.exit_code, e.hint)
    version, files = read_bundle(data)
    output = output or Path(f"evse-{version}.bundle")
    try:
        output.write_bytes(data)
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}", Exit.ERROR,
             "check that its folder exists and is writable")
    if as_json:
        print_json({"file": str(output), "version": version, "files": len(files), "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
    else:
        click.echo(f"wrote {output}: version {version}, {len(files)} files, {len(data)} bytes")
    sys.exit(int(Exit.OK))
