"""One module per `chargerctl` command (`host_tools.cli.COMMANDS` maps names to them), and
the few things every command shares: context settings, error exit, JSON output.

The commands only parse, call and print; the work is in the modules they call (`flash`,
`board_link`, `driver`, `commission`, `virtual_board`, ...).
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click

from host_tools.exits import Exit

CTX = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: Exit | int, hint: str | None = None) -> NoReturn:
    """A sentence for people on stderr (and a hint: what to do), then the documented code."""
    click.secho(f"error: {message}", fg="red", err=True)
    if hint:
        click.echo(f"  -> {hint}", err=True)
    sys.exit(int(code))


def print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def console(stderr: bool = False):
    """Rich output for people: wrapped to a terminal's width, never wrapped when piped (a long
    line reaches `grep` or a log file whole, not cut at 80 columns)."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, width=10_000, soft_wrap=True)
