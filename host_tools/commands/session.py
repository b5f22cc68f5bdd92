"""`chargerctl session`: play the driver of a public charging session from a terminal.

Every command is a thin layer over host_tools/driver.py (the same code `commission` and `demo`
use). The current session's token lives in a 0600 state file and is only shown shortened.
`--api` and `--state` work before or after the sub-command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from host_tools import driver
from host_tools.commands import CTX, console
from host_tools.commands.session_options import (
    Ctx,
    common_options,
    emit,
    handles_errors,
    token_option,
)
from host_tools.commands.session_view import (
    plain_line,
    print_receipt,
    progress_table,
    status_style,
)
from host_tools.driver import (
    API_ENV,
    DEFAULT_API,
    MIN_POLL_S,
    REAL_API,
    TERMINAL,
    Progress,
    money,
    shorten,
)
from host_tools.exits import Exit, epilog
from host_tools.session_file import STATE_ENV

# What each sub-command can return, for its --help.
_API = (Exit.OK, Exit.ERROR, Exit.USAGE, Exit.NETWORK, Exit.RATE_LIMITED)
EXITS = {
    "charger": _API + (Exit.NOT_FOUND,),
    "start": _API + (Exit.NOT_FOUND, Exit.REFUSED, Exit.UNPROCESSABLE, Exit.CONFLICT),
    "confirm": _API + (Exit.NOT_FOUND, Exit.REFUSED, Exit.ACTION_NEEDED),
    "stop": _API + (Exit.NOT_FOUND, Exit.REFUSED),
    "cancel": _API + (Exit.NOT_FOUND, Exit.CONFLICT),
    "status": _API + (Exit.NOT_FOUND,),
    "watch": _API + (Exit.NOT_FOUND, Exit.SESSION_FAILED),
    "receipt": _API + (Exit.NOT_FOUND,),
}
ALL_EXITS = tuple(sorted({c for codes in EXITS.values() for c in codes}))


def _command(name: str, **kw: Any) -> Callable:
    """A sub-command with the shared options, its exit codes in --help, and error handling."""

    def wrap(fn: Callable) -> Callable:
        fn = handles_errors(fn)
        fn = click.pass_obj(fn)
        fn = common_options(fn)
        return session.command(name, context_settings=CTX, epilog=epilog(*sorted(EXITS[name])), **kw)(fn)

    return wrap


@click.group(context_settings=CTX, epilog=epilog(*ALL_EXITS))
@click.option("--api", envvar=API_ENV, default=DEFAULT_API, show_default=True, metavar="URL",
              help=f"Public-charging API base URL (env {API_ENV}); the real service is {REAL_API}.")
@click.option("--state", envvar=STATE_ENV, type=click.Path(dir_okay=False), metavar="FILE",
              help="Where the current session's token is kept (0600). "
                   f"Default ~/.config/chargerctl/session.json (env {STATE_ENV}).")
@click.pass_context
def session(ctx: click.Context, api: str, state: str | None) -> None:
    """Play the driver: look up a charger, start, pay, watch, stop and get the receipt.

    `--api`, `--state` and `--json` go before or after the sub-command.

    \b
    Examples:
      chargerctl session charger ABC123
      chargerctl session start --code ABC123 --connector 1 --email me@example.com
      chargerctl session confirm
      chargerctl session watch
      chargerctl session status --token <token> --json
      chargerctl session stop
      chargerctl session receipt --json
      chargerctl session charger ABC123 --api https://app.plugchoice.com/api/v3
    """
    source = ctx.get_parameter_source("api")
    given = source not in (None, click.core.ParameterSource.DEFAULT)
    ctx.obj = Ctx(api, given, state)


# --- charger ---------------------------------------------------------------------------------

@_command("charger")
@click.argument("code")
def charger(obj: Ctx, code: str, as_json: bool) -> None:
    """Look up a charger by its public code (case-insensitive).

    \b
    Example:
      chargerctl session charger abc123
    """
    with obj.client() as client:
        data = client.charger(code)
    if as_json:
        emit(data)
        return
    out = console()
    pricing = data.get("pricing") or {}
    cur = pricing.get("currency")
    online = "[green]online[/]" if data.get("online") else "[red]offline[/]"
    out.print(f"[bold]{data.get('name')}[/] ({data.get('public_code')}) — {online}")
    out.print(f"Price {money(pricing.get('price_per_kwh'), cur)}/kWh, start fee "
              f"{money(pricing.get('start_fee'), cur)}, pre-authorization "
              f"{money(data.get('preauth_amount'), cur)}")
    table = Table("Connector", "Status", "Standard", "Format", "Power")
    for c in data.get("connectors") or []:
        table.add_row(str(c.get("connector_id")), status_style(c.get("status")),
                      str(c.get("standard") or "-"), str(c.get("format") or "-"),
                      str(c.get("power_type") or "-"))
    out.print(table)


# --- start / confirm / stop / cancel ---------------------------------------------------------

@_command("start")
@click.option("--code", required=True, help="The charger's public code (on its display).")
@click.option("--connector", "connector_id", required=True, type=click.IntRange(1, 100),
              help="Connector number, from 1.")
@click.option("--email", default=None, help="Send the receipt to this address.")
@click.option("--replace", is_flag=True,
              help="Start even if the saved session has not ended (its token is forgotten).")
def start(obj: Ctx, code: str, connector_id: int, email: str | None, replace: bool,
          as_json: bool) -> None:
    """Start a public session: creates the payment pre-authorization.

    The session token is saved to the state file (0600); the next commands use it. A saved
    session that has not ended is never overwritten silently (see --replace). A refusal names
    the connector's state in plain words and what to do (e.g. unplug the EV after a session).

    \b
    Example:
      chargerctl session start --code ABC123 --connector 1
      chargerctl session confirm
    """
    if not replace:
        _refuse_to_forget(obj)
    with obj.client() as client:
        started = client.start(code, connector_id, email)
        obj.state.save(client.api, started)
    s = started.session
    if as_json:
        emit({"session_token_short": shorten(started.token), "state_file": str(obj.state.path),
              "data": s})
        return
    out = console()
    cur = (s.get("pricing") or {}).get("currency")
    hold = s.get("amount_authorized")
    out.print(f"Session [bold]{shorten(started.token)}[/] created on "
              f"{(s.get('charger') or {}).get('public_code', code)} connector {connector_id}: "
              f"status [bold]{s.get('status')}[/]"
              + (f", pre-authorization {money(hold, cur)}." if hold else "."))
    out.print(f"Token saved in {obj.state.path}. Next: [bold]chargerctl session confirm[/]")


def _refuse_to_forget(obj: Ctx) -> None:
    """The state file holds the only copy of the token: losing it loses the stop button."""
    try:
        saved = obj.state.load()
    except driver.NoSession:
        return
    try:
        with obj.client(saved) as client:
            current, _ = client.session(saved["session_token"])
    except (driver.NotFound, driver.NetworkError):
        return  # expired, or on an API that is gone: nothing left to lose
    if current.get("status") not in TERMINAL:
        raise driver.Conflict(
            f"Session {shorten(saved['session_token'])} is still {current.get('status')!r}; "
            "stop or cancel it first (chargerctl session stop / cancel), or pass --replace.")


@_command("confirm")
@click.option("--stripe-secret-key", envvar="STRIPE_TEST_SECRET_KEY", default=None,
              metavar="sk_test_...",
              help="Real service only: confirm the PaymentIntent in Stripe test mode "
                   "(env STRIPE_TEST_SECRET_KEY).")
@click.option("--payment-method", default="pm_card_visa", show_default=True,
              help="Stripe test payment method, with --stripe-secret-key.")
def confirm(obj: Ctx, stripe_secret_key: str | None, payment_method: str, as_json: bool) -> None:
    """Confirm the payment, then tell the backend (POST /confirm) so charging starts.

    With the local backend the local payment provider is confirmed for you. With the real
    service the payment belongs in the driver's browser; this prints what to do, unless
    Stripe test keys are given.

    \b
    Example:
      chargerctl session confirm
      chargerctl session confirm --stripe-secret-key sk_test_... --payment-method pm_card_visa
    """
    saved = obj.state.load()
    with obj.client(saved) as client:
        data = driver.confirm_payment(client, saved["session_token"], saved.get("payment"),
                                      stripe_secret_key=stripe_secret_key,
                                      payment_method=payment_method)
    obj.state.update(payment=None)  # the client secret is of no further use
    if as_json:
        emit({"data": data})
        return
    console().print(f"Payment confirmed; session {shorten(saved['session_token'])} is "
                    f"[bold]{data.get('status')}[/]. Next: [bold]chargerctl session watch[/]")


def _action(obj: Ctx, name: str, as_json: bool) -> dict:
    saved = obj.state.load()
    with obj.client(saved) as client:
        data = getattr(client, name)(saved["session_token"])
    if as_json:
        emit({"data": data})
    return data


@_command("stop")
def stop(obj: Ctx, as_json: bool) -> None:
    """Stop charging: the charger opens its relay and the session is settled.

    \b
    Example:
      chargerctl session stop && chargerctl session receipt --wait 30
    """
    data = _action(obj, "stop", as_json)
    if not as_json:
        console().print(f"Stop requested: status [bold]{data.get('status')}[/]. "
                        "Next: [bold]chargerctl session receipt --wait 30[/]")


@_command("cancel")
def cancel(obj: Ctx, as_json: bool) -> None:
    """Cancel before charging starts (created, authorized, starting); releases the payment hold.

    \b
    Example:
      chargerctl session cancel
    """
    data = _action(obj, "cancel", as_json)
    if not as_json:
        console().print(f"Session cancelled (status [bold]{data.get('status')}[/]); "
                        "the payment hold is released.")


# --- status / watch --------------------------------------------------------------------------

@_command("status")
@token_option
def status(obj: Ctx, token: str | None, as_json: bool) -> None:
    """Show a session once: status, connector, energy, power, cost so far, elapsed.

    Any session by its token (`--token`), or the saved one.

    \b
    Examples:
      chargerctl session status
      chargerctl session status --token "$TOKEN" --json
    """
    target = obj.target(token)
    with obj.client(None if token else target) as client:
        data, _ = client.session(target["session_token"])
    progress = Progress().update(data, time.monotonic())
    if as_json:
        emit({**progress.as_json(), "token_short": shorten(target["session_token"]),
              "data": data})
        return
    console().print(progress_table(progress, target["session_token"]))


@_command("watch")
@token_option
@click.option("--interval", type=click.FloatRange(min=MIN_POLL_S), default=MIN_POLL_S,
              show_default=True, help="Seconds between polls (the API allows 30/min).")
@click.option("--until", "until", multiple=True, type=click.Choice(driver.STATUSES),
              help="Also end when the session reaches this status (repeatable).")
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
def watch(obj: Ctx, token: str | None, interval: float, until: tuple[str, ...],
          timeout: float | None, as_json: bool) -> None:
    """Follow the session live until it ends (status, energy, power, cost, elapsed).

    Power is the meter's: the charger's own power reading when the backend has one, else the
    energy between two meter readings over the time between them. Until the first reading
    (every MeterValueSampleInterval, 60 s by default) it says it is waiting for one.
    Exits 0 when it completes (or reaches --until), 26 when it fails or is cancelled.
    With --json, prints one JSON object per poll.

    \b
    Examples:
      chargerctl session watch
      chargerctl session watch --until charging --timeout 60
      chargerctl session watch --json | jq .power_kw
    """
    target = obj.target(token)
    token = target["session_token"]
    wanted = set(until) | {"completed"}
    limit = timeout if timeout is not None else 365 * 24 * 3600.0
    progress = Progress()
    out = console()
    with obj.client(target if "api" in target else None) as client:
        def follow(on_update: Callable[[Progress], None], **kw: Any) -> dict:
            return driver.wait_for(client, token, wanted, timeout=limit, interval=interval,
                                   progress=progress, on_update=on_update, **kw)

        if as_json:
            follow(lambda p: emit(p.as_json()))
            return
        if out.is_terminal:
            with Live(progress_table(progress, token), console=out, refresh_per_second=4) as live:
                session = follow(lambda p: live.update(progress_table(p, token)),
                                 sleep=_ticking(live, progress, token))
        else:
            last: list[Any] = [None]

            def line(p: Progress) -> None:
                text = plain_line(p)
                key = text.rsplit("  elapsed", 1)[0]
                if key != last[0]:
                    last[0] = key
                    out.print(text)
            session = follow(line)
    out.print(f"Session is [bold]{session.get('status')}[/].")


def _ticking(live: Live, progress: Progress, token: str) -> Callable[[float], None]:
    """Sleep between polls while refreshing the elapsed time once a second."""

    def sleep(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            live.update(progress_table(progress, token))

    return sleep


# --- receipt ---------------------------------------------------------------------------------

@_command("receipt")
@token_option
@click.option("--wait", "wait_s", type=float, default=0.0, metavar="SECONDS",
              help="Wait up to this long for the session to be settled.")
def receipt(obj: Ctx, token: str | None, wait_s: float, as_json: bool) -> None:
    """The session's receipt: energy, cost, captured, released, tax and timestamps.

    \b
    Examples:
      chargerctl session receipt
      chargerctl session receipt --wait 30 --json
    """
    target = obj.target(token)
    token = target["session_token"]
    with obj.client(target if "api" in target else None) as client:
        if wait_s > 0:
            try:
                data = driver.wait_for(client, token, TERMINAL, timeout=wait_s)
            except driver.SessionFailed as err:
                data = err.session or client.session(token)[0]
        else:
            data, _ = client.session(token)
    rec = driver.receipt(data)
    if as_json:
        emit(rec)
        return
    print_receipt(rec, console())
    if rec["status"] in ("failed", "cancelled"):
        console(stderr=True).print(driver.describe_end(data))


