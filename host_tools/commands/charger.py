"""`chargerctl charger`: the operator's actions on one charger, through the backend.

start, stop, limit, reserve, cancel-reservation and local-list push|version each send one call to
the backend's operator API (`POST {api}/chargers/{identity}/actions/...`,
host_tools/operator_client.py), which sends the OCPP message to the charger and answers with the
charger's status. Exit 0 only for Accepted. The token is the backend's operator token (`--token`
or CHARGERCTL_OPERATOR_TOKEN). A local list's file is checked here, whole, before anything is
sent (host_tools/local_list_file.py).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from host_tools.commands import CTX, console
from host_tools.driver import API_ENV, DEFAULT_API
from host_tools.driver_errors import DriverError
from host_tools.exits import Exit, epilog
from host_tools.operator_client import TOKEN_ENV, OperatorClient

_CODES = (Exit.OK, Exit.ERROR, Exit.USAGE, Exit.NOT_FOUND, Exit.REFUSED, Exit.UNPROCESSABLE,
          Exit.RATE_LIMITED, Exit.NETWORK, Exit.CHARGER_REFUSED, Exit.UNAUTHORIZED)


def _options(fn: Callable) -> Callable:
    """--charger, --api, --token and --json on every sub-command."""
    fn = click.option("--json", "as_json", is_flag=True,
                      help="Print the backend's answer as JSON (an error too, on stdout).")(fn)
    fn = click.option("--token", envvar=TOKEN_ENV, default=None, metavar="TOKEN",
                      help=f"The backend's operator token (env {TOKEN_ENV}; the environment "
                           "keeps it out of the process list).")(fn)
    fn = click.option("--api", envvar=API_ENV, default=DEFAULT_API, show_default=True,
                      metavar="URL", help=f"The backend's API base URL (env {API_ENV}).")(fn)
    return click.option("--charger", "identity", required=True, metavar="IDENTITY",
                        help="The charge point identity (the board's charge_point_id, e.g. "
                             "CP-1), not the public code.")(fn)


def _command(name: str, group: str = "charger") -> Callable:
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(identity: str, api: str, token: str | None, as_json: bool, **kw: Any) -> None:
            out = console(stderr=True)
            if not token:
                _fail(out, as_json, f"No operator token: give --token or set {TOKEN_ENV} (the "
                                    "token the backend was started with).", Exit.USAGE)
            try:
                action, body, said = fn(**kw)
                with OperatorClient(api, token) as ops:
                    answer = ops.act(identity, action, body, accepted_only=action != "local-list-version")
            except DriverError as err:
                if as_json:
                    click.echo(json.dumps({"error": err.message, "exit_code": int(err.exit_code),
                                           "http_status": err.status,
                                           "answer": getattr(err, "answer", None)}))
                _fail(out, False, err.message, err.exit_code)
            if as_json:
                click.echo(json.dumps(answer))
            elif "status" in answer:
                console().print(f"[green]{identity} answered Accepted[/]: {said(answer)}")
            else:
                console().print(f"{identity}: {said(answer)}")

        parent = local_list if group == "local-list" else charger
        return parent.command(name, context_settings=CTX, epilog=epilog(*_CODES))(_options(run))

    return wrap


def _fail(out, as_json: bool, message: str, code: Exit) -> None:
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": int(code), "http_status": None}))
    out.print(f"[bold red]error:[/] {message}")
    sys.exit(int(code))


@click.group(context_settings=CTX, epilog=epilog(*_CODES))
def charger() -> None:
    """Operator actions on a charger: start, stop, limit, reserve, cancel-reservation, local-list.

    Each sends one OCPP message to the charger through the backend's operator API (Plugchoice's
    `POST /api/v3/chargers/{charger}/actions/...`) and prints the charger's answer. Exit 0 only
    when it answered Accepted; exit 28 when it said no (Rejected, Occupied, NotSupported...).

    The backend needs an operator token (`chargerctl backend --operator-token`, or
    "operator_token" in its chargers file); give the same here, best through the environment:

    \b
      export CHARGERCTL_OPERATOR_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
      chargerctl backend --chargers chargers.json &

    \b
    Examples:
      chargerctl charger start --charger CP-1 --connector 1 --id-token TECH-01
      chargerctl charger stop --charger CP-1 --transaction 17
      chargerctl charger limit --charger CP-1 --connector 1 --amps 10
      chargerctl charger limit --charger CP-1 --connector 0 --amps 32 --stack-level 2
      chargerctl charger reserve --charger CP-1 --connector 1 --id-token TECH-01 --minutes 30
      chargerctl charger cancel-reservation --charger CP-1 --reservation 3
      chargerctl charger local-list push --charger CP-1 cards.csv
      chargerctl charger local-list version --charger CP-1
      chargerctl charger start --charger CP-1 --id-token TECH-01 --json \\
          --api http://192.168.1.20:8180/api/v3
    """


@_command("start")
@click.option("--connector", "connector_id", type=click.IntRange(1, 100), default=None,
              help="Connector number, from 1 (default: the charger picks a free one).")
@click.option("--id-token", required=True, metavar="IDTAG",
              help="The idTag the transaction runs under (up to 20 characters), e.g. TECH-01.")
def start(connector_id: int | None, id_token: str):
    """Start a transaction (RemoteStartTransaction).

    The charger starts it once an EV is plugged in; the backend accepts the idTag from this
    charger for 10 minutes without a public session. `chargerctl ocpp-log IDENTITY` shows the
    transaction id the backend gives it (for `stop`).

    \b
    Example:
      chargerctl charger start --charger CP-1 --connector 1 --id-token TECH-01
    """
    body = {"id_token": id_token}
    if connector_id is not None:
        body["connector_id"] = connector_id
    where = f"connector {connector_id}" if connector_id else "a free connector"
    return "start", body, lambda a: (f"a transaction for {id_token} starts on {where} once an "
                                     "EV is plugged in.")


@_command("stop")
@click.option("--transaction", "transaction_id", required=True, type=click.IntRange(0, 2**31 - 1),
              help="The transaction id (StartTransaction's, e.g. from `chargerctl ocpp-log`).")
def stop(transaction_id: int):
    """Stop a transaction (RemoteStopTransaction).

    \b
    Example:
      chargerctl charger stop --charger CP-1 --transaction 17
    """
    return "stop", {"transaction_id": transaction_id}, \
        lambda a: f"transaction {transaction_id} stops; its StopTransaction follows."


@_command("limit")
@click.option("--connector", "connector_id", required=True, type=click.IntRange(0, 100),
              help="Connector number; 0 = the whole charger (all connectors together).")
@click.option("--amps", required=True, type=click.FloatRange(0, 1000), metavar="A",
              help="The limit in amperes per phase, in 0.1 A steps; 0 suspends charging.")
@click.option("--stack-level", type=click.IntRange(0, 100), default=1, show_default=True,
              help="Higher stack levels take priority; not every charger has every level.")
def limit(connector_id: int, amps: float, stack_level: int):
    """Set a current limit (SetChargingProfile), until a new one replaces it.

    On connector 0 it caps the whole charger (ChargePointMaxProfile); on a connector it applies
    to the transaction running there and to the next ones (TxDefaultProfile). A new limit on
    the same connector and stack level replaces the old one.

    \b
    Examples:
      chargerctl charger limit --charger CP-1 --connector 1 --amps 10
      chargerctl charger limit --charger CP-1 --connector 0 --amps 0      # suspend all
    """
    where = "the whole charger" if connector_id == 0 else f"connector {connector_id}"
    return "charge-limit", {"connector_id": connector_id, "limit": amps,
                            "stack_level": stack_level}, \
        lambda a: f"{where} is limited to {amps:g} A (stack level {stack_level})."


def _until(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date and time, e.g. "
                                 "2026-01-10T14:30:00Z") from None
    if t.tzinfo is None:
        t = t.astimezone()  # a time without an offset is this machine's local time
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@_command("reserve")
@click.option("--connector", "connector_id", required=True, type=click.IntRange(0, 100),
              help="Connector number; 0 = any connector (if the charger supports that).")
@click.option("--id-token", required=True, metavar="IDTAG",
              help="Only this idTag may charge there until the reservation ends.")
@click.option("--minutes", type=click.IntRange(1, 1440), default=None,
              help="How long the reservation lasts (or --until).")
@click.option("--until", "expires_at", default=None, callback=_until, metavar="TIME",
              help="When it ends, ISO 8601, e.g. 2026-01-10T14:30:00Z (no offset: local time).")
@click.option("--reservation", "reservation_id", type=click.IntRange(0, 2**31 - 1), default=None,
              help="The reservation id (default: the backend assigns one); a known id is "
                   "replaced.")
def reserve(connector_id: int, id_token: str, minutes: int | None, expires_at: str | None,
            reservation_id: int | None):
    """Reserve a connector for one idTag (ReserveNow).

    The connector shows Reserved; nobody else (no public session either) can start there until
    the reservation expires, is cancelled or its idTag starts charging. Prints the reservation
    id, which `cancel-reservation` needs.

    \b
    Examples:
      chargerctl charger reserve --charger CP-1 --connector 1 --id-token TECH-01 --minutes 30
      chargerctl charger reserve --charger CP-1 --connector 0 --id-token TECH-01 \\
          --until 2026-01-10T14:30:00Z --reservation 7
    """
    if (minutes is None) == (expires_at is None):
        raise click.UsageError("Give --minutes or --until (one of them).")
    body: dict[str, Any] = {"connector_id": connector_id, "id_token": id_token}
    body.update({"minutes": minutes} if minutes is not None else {"expires_at": expires_at})
    if reservation_id is not None:
        body["reservation_id"] = reservation_id
    where = "any connector" if connector_id == 0 else f"connector {connector_id}"
    return "reserve", body, lambda a: (f"reservation {a.get('reservation_id')} holds {where} for "
                                       f"{id_token} until {a.get('expires_at')}.")


@_command("cancel-reservation")
@click.option("--reservation", "reservation_id", required=True,
              type=click.IntRange(0, 2**31 - 1), help="The reservation id `reserve` printed.")
def cancel_reservation(reservation_id: int):
    """Cancel a reservation (CancelReservation); the connector is free again.

    \b
    Example:
      chargerctl charger cancel-reservation --charger CP-1 --reservation 3
    """
    return "cancel-reservation", {"reservation_id": reservation_id}, \
        lambda a: f"reservation {reservation_id} is cancelled."


@charger.group("local-list", context_settings=CTX, epilog=epilog(*_CODES))
def local_list() -> None:
    """The charger's local authorization list: push one (SendLocalList), read its version.

    The idTags on the list are the ones the charger authorizes by itself, before the backend
    is asked and also while it is offline (LocalAuthListEnabled, LocalAuthorizeOffline).

    \b
    Examples:
      chargerctl charger local-list push --charger CP-1 cards.csv
      chargerctl charger local-list push --charger CP-1 --differential changes.json
      chargerctl charger local-list version --charger CP-1
    """


@_command("push", group="local-list")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--differential", is_flag=True,
              help="Change only the idTags in FILE (an entry without a status deletes its "
                   "idTag); default: FILE replaces the whole list (Full).")
@click.option("--version", "list_version", type=click.IntRange(1, 2**31 - 1), default=None,
              help="The list version to send (default: the charger's version plus one).")
def push(file: str, differential: bool, list_version: int | None):
    """Send a local authorization list from FILE (SendLocalList).

    FILE is JSON or CSV ('-': standard input). JSON: a list of entries, or an object with
    "entries"; each entry {"id_tag", "status", "expiry_date", "parent_id_tag"}. CSV: a header
    line naming those columns (id_tag first; the others optional), then one entry a line;
    lines starting with # are comments. status is Accepted, Blocked, Expired, Invalid or
    ConcurrentTx (required, except in a --differential file, where no status deletes the
    idTag); expiry_date is ISO 8601 with its offset, e.g. 2027-01-10T14:30:00Z. The whole file
    is checked first: a bad line is named with its number and nothing is sent.

    The charger answers Accepted, Failed (e.g. more entries than its SendLocalListMaxLength),
    VersionMismatch (a --differential --version not above its own) or NotSupported.

    \b
    Example cards.csv:
      id_tag,status,expiry_date,parent_id_tag
      TECH-01,Accepted,,
      LOST-02,Blocked,,
      FLEET-03,Accepted,2027-06-30T23:59:59Z,FLEET
    """
    from host_tools.local_list_file import read_entries

    kind = "Differential" if differential else "Full"
    entries = read_entries(file, kind)
    body: dict[str, Any] = {"update_type": kind, "entries": entries}
    if list_version is not None:
        body["list_version"] = list_version
    return "local-list", body, lambda a: (f"{kind} list of {len(entries)} entr"
                                          f"{'y' if len(entries) == 1 else 'ies'} is version "
                                          f"{a.get('list_version')} now.")


@_command("version", group="local-list")
def version():
    """Print the version of the charger's local list (GetLocalListVersion).

    0: it has no list; -1: it has no local list support, or LocalAuthListEnabled is false.

    \b
    Example:
      chargerctl charger local-list version --charger CP-1
    """
    return "local-list-version", {}, lambda a: f"local list version {a.get('list_version')}"


# `chargerctl charger certificates ...`: registers itself on the group above
from host_tools.commands import charger_certificates  # noqa: E402,F401

# `charger security-events` (a read, not an action: no token) lives in its own module
from host_tools.commands import security_events as _security_events  # noqa: E402,F401
