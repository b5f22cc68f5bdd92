"""The plumbing every `chargerctl session` sub-command shares: the context (API, state file),
the options that work before or after the sub-command, and errors as sentences + exit codes."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from host_tools.commands import console
from host_tools.driver import DEFAULT_API, Client, DriverError
from host_tools.session_file import SessionFile


class Ctx:
    def __init__(self, api: str, api_given: bool, state: str | None):
        self.api = api
        self.api_given = api_given
        self.state = SessionFile(state)

    def client(self, saved: dict | None = None) -> Client:
        """The API of the saved session unless --api/CHARGERCTL_API names another."""
        api = self.api
        if saved and not self.api_given and saved.get("api"):
            api = saved["api"]
        return Client(api)

    def target(self, token: str | None) -> dict:
        """The session to act on: `--token` when given, else the saved one."""
        if token:
            return {"session_token": token}
        return self.state.load()


def _set_api(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:  # the group's callback made ctx.obj before the sub-command parses
        ctx.obj.api, ctx.obj.api_given = value, True


def _set_state(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.obj.state = SessionFile(value)


def common_options(fn: Callable) -> Callable:
    """`--api`, `--state` and `--json` on every sub-command (also accepted before it)."""
    fn = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)
    fn = click.option("--state", type=click.Path(dir_okay=False), metavar="FILE", default=None,
                      expose_value=False, callback=_set_state, is_eager=True,
                      help="Where the current session's token is kept (0600).")(fn)
    return click.option("--api", metavar="URL", default=None, expose_value=False,
                        callback=_set_api, is_eager=True,
                        help=f"Public-charging API base URL (default {DEFAULT_API}).")(fn)


def token_option(fn: Callable) -> Callable:
    return click.option("--token", default=None, metavar="TOKEN",
                        help="Any session by its token (default: the saved session).")(fn)


def handles_errors(fn: Callable) -> Callable:
    """Turn a DriverError into its sentence on stderr and its documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        err_console = console(stderr=True)
        try:
            return fn(*args, **kwargs)
        except DriverError as err:
            if kwargs.get("as_json"):
                print(json.dumps({"error": err.message, "exit_code": int(err.exit_code),
                                  "http_status": err.status}), flush=True)
            err_console.print(f"[bold red]error:[/] {err.message}")
            sys.exit(int(err.exit_code))
        except KeyboardInterrupt:
            err_console.print("Interrupted; the session itself goes on "
                              "(chargerctl session stop ends it).")
            sys.exit(130)

    return wrapper


def emit(data: Any) -> None:
    print(json.dumps(data, default=str), flush=True)
