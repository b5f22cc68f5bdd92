"""`chargerctl charger`: the operator's actions on one charger, through the backend.

update and diagnostics upload a firmware bundle / fetch a diagnostics file and follow the
charger's status notifications to the end (host_tools/charger_transfers.py).
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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

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
            def work(ops: OperatorClient) -> tuple[dict, Callable]:
                action, body, said = fn(**kw)
                return ops.act(identity, action, body,
                               accepted_only=action != "local-list-version"), said

            answer, said = _operate(api, token, as_json, work, "answer")
            if as_json:
                click.echo(json.dumps(answer))
            elif "status" in answer:
                console().print(f"[green]{identity} answered Accepted[/]: {said(answer)}")
            else:
                console().print(f"{identity}: {said(answer)}")

        parent = local_list if group == "local-list" else charger
        return parent.command(name, context_settings=CTX, epilog=epilog(*_CODES))(_options(run))

    return wrap


def _operate(api: str, token: str | None, as_json: bool, work: Callable[[OperatorClient], Any],
             detail: str) -> Any:
    """work(ops) once the token is there; a DriverError is printed and exits with its code,
    with --json as {"error", "exit_code", "http_status", <detail>: the error's `detail`
    attribute (the API's answer, the statuses seen so far)} on stdout."""
    out = console(stderr=True)
    if not token:
        _fail(out, as_json, f"No operator token: give --token or set {TOKEN_ENV} (the token the "
                            "backend was started with).", Exit.USAGE)
    try:
        with OperatorClient(api, token) as ops:
            return work(ops)
    except DriverError as err:
        if as_json:
            click.echo(json.dumps({"error": err.message, "exit_code": int(err.exit_code),
                                   "http_status": err.status,
                                   detail: getattr(err, detail, None)}))
        _fail(out, False, err.message, err.exit_code)


def _fail(out, as_json: bool, message: str, code: Exit) -> NoReturn:
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": int(code), "http_status": None}))
    out.print(f"[bold red]error:[/] {message}")
    sys.exit(int(code))


@click.group(context_settings=CTX, epilog=epilog(*_CODES))
def charger() -> None:
    """Operator actions on a charger: start, stop, limit, reserve, cancel-reservation, local-list,
    update (its firmware), diagnostics.

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
      chargerctl charger update --charger CP-1 evse-0.2.0.bundle
      chargerctl charger diagnostics --charger CP-1 -o cp1-diagnostics.txt
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


def _instant(text: str) -> datetime:
    """An _until() value as a time: as text "...00.5Z" sorts before "...00Z"."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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


# firmware and diagnostics: several calls each, followed to the charger's last word ------------

_TRANSFER_CODES = (Exit.OK, Exit.USAGE, Exit.BUNDLE, Exit.NOT_FOUND, Exit.REFUSED,
                   Exit.UNPROCESSABLE, Exit.NETWORK, Exit.CHARGER_REFUSED, Exit.UNAUTHORIZED,
                   Exit.TRANSFER_FAILED, Exit.TRANSFER_TIMEOUT)


class _Progress:
    """One line per status on stderr (the time since the start, the status), and on a
    terminal a spinner naming what the charger is doing now."""

    def __init__(self, identity: str, quiet: bool):
        self.identity = identity
        self.quiet = quiet
        self.out = console(stderr=True)
        self.t0 = time.monotonic()
        self.spinner = None

    def __enter__(self) -> _Progress:
        if not self.quiet and self.out.is_terminal:
            self.spinner = self.out.status(f"{self.identity}: sending ...")
            self.spinner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.spinner is not None:
            self.spinner.stop()

    def say(self, text: str) -> None:
        if not self.quiet:
            self.out.print(f"  {time.monotonic() - self.t0:6.1f} s  {text}")

    def event(self, event: dict) -> None:
        kind, status, detail = event["kind"], event.get("status"), event.get("detail")
        text = {"request": f"request sent ({detail})" if detail else "request sent",
                "boot": f"booted, firmware version {detail}",
                "file": f"file {detail} received"}.get(kind, str(status))
        self.say(text)
        if self.spinner is not None:
            self.spinner.update(f"{self.identity}: {text}")


def _transfer(identity: str, api: str, token: str | None, as_json: bool, work) -> None:
    """Runs `work(ops, progress) -> (summary, line)`; errors as the other commands print them,
    with the statuses seen so far in --json."""
    def run(ops: OperatorClient) -> tuple[dict, str]:
        with _Progress(identity, as_json) as progress:
            return work(ops, progress)

    summary, line = _operate(api, token, as_json, run, "events")
    if as_json:
        click.echo(json.dumps(summary))
    elif line:
        console().print(line)


@charger.command("update", context_settings=CTX, epilog=epilog(*_TRANSFER_CODES))
@_options
@click.argument("bundle", type=click.Path(dir_okay=False))
@click.option("--timeout", type=click.FloatRange(1, 24 * 3600), default=900.0,
              show_default=True, metavar="S",
              help="Seconds to wait for Installed (download, install, restart and the new "
                   "version's trial time on the charger, update_trial_s).")
@click.option("--retries", type=click.IntRange(0, 10), default=None,
              help="Download attempts after the first (default: the charger's).")
@click.option("--retry-interval", type=click.IntRange(1, 86400), default=None, metavar="S",
              help="Seconds between download attempts.")
@click.option("--at", "retrieve_date", default=None, callback=_until, metavar="TIME",
              help="Download not before TIME, ISO 8601 (default now; no offset: local time). "
                   "--timeout counts from now: add the wait to it.")
def update(identity: str, api: str, token: str | None, as_json: bool, bundle: str,
           timeout: float, retries: int | None, retry_interval: int | None,
           retrieve_date: str | None) -> None:
    """Update a charger's firmware with BUNDLE and follow it to Installed.

    BUNDLE is a file from `chargerctl bundle` ("evse-bundle 1"); it is checked here first, by
    the board's rules (a file that is not one, or a damaged one, exits 15 and nothing is
    sent; so does one the backend refuses). The charger is looked up next (unknown: 20,
    offline: 21, and no bundle is uploaded). Then it is uploaded to the backend, which serves it at /firmware/NAME, and the charger gets UpdateFirmware with
    that URL (UpdateFirmware.req). The charger downloads it, checks it, installs it when no
    transaction runs, restarts into the new version and keeps it once it is healthy; each step
    arrives as a FirmwareStatusNotification and is printed: Downloading, Downloaded,
    Installing, the boot of the new version, Installed.

    Exit 0 when the charger reports Installed and booted the bundle's version; 30 when it
    reports DownloadFailed or InstallationFailed (a version that is not healthy is rolled back
    and the old one runs again), or Installed without a boot of the bundle's version; 31 when
    --timeout passes first (the update may still finish).

    \b
    Examples:
      chargerctl bundle -o evse-0.2.0.bundle --version 0.2.0
      chargerctl charger update --charger CP-1 evse-0.2.0.bundle
      chargerctl charger update --charger CP-1 evse-0.2.0.bundle --at 2026-01-11T03:00:00Z \\
          --timeout 86400 --json
    """
    from host_tools.charger_transfers import read_bundle_file
    from host_tools.charger_transfers import update as run_update

    def work(ops: OperatorClient, progress: _Progress):
        data, version = read_bundle_file(bundle)  # before anything is sent
        progress.say(f"bundle {bundle}: version {version}, {len(data)} bytes")
        t0 = time.monotonic()
        summary = run_update(
            ops, identity, data, version, retries=retries, retry_interval=retry_interval,
            retrieve_date=retrieve_date, timeout=timeout, on_event=progress.event,
            on_stored=lambda s: progress.say(f"uploaded to the backend as {s['name']}"))
        summary["seconds"] = round(time.monotonic() - t0, 1)
        return summary, (f"[green]{identity} runs {version}[/]: Installed in "
                         f"{summary['seconds']:g} s.")

    _transfer(identity, api, token, as_json, work)


@charger.command("diagnostics", context_settings=CTX, epilog=epilog(*_TRANSFER_CODES))
@_options
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Where to write the file ('-': standard output; default: the charger's "
                   "file name in this folder).")
@click.option("--timeout", type=click.FloatRange(1, 24 * 3600), default=300.0,
              show_default=True, metavar="S", help="Seconds to wait for Uploaded.")
@click.option("--since", "start_time", default=None, callback=_until, metavar="TIME",
              help="Only log entries from TIME on, ISO 8601 (no offset: local time).")
@click.option("--until", "stop_time", default=None, callback=_until, metavar="TIME",
              help="Only log entries up to TIME, ISO 8601.")
@click.option("--retries", type=click.IntRange(0, 10), default=None,
              help="Upload attempts after the first (default: the charger's).")
@click.option("--retry-interval", type=click.IntRange(1, 86400), default=None, metavar="S",
              help="Seconds between upload attempts.")
def diagnostics(identity: str, api: str, token: str | None, as_json: bool, output: str | None,
                timeout: float, start_time: str | None, stop_time: str | None,
                retries: int | None, retry_interval: int | None) -> None:
    """Fetch a charger's diagnostics (its log and a summary) and write them to a file.

    The charger gets GetDiagnostics with this backend's upload URL (/diagnostics/IDENTITY),
    answers the name of its file, uploads it (PUT) and reports Uploading, Uploaded; the backend
    keeps the file (the last 20 per charger) and this command writes it out. The file holds no
    secret: the charger leaves out its keys and passwords.

    Exit 0 with the file written; 28 when the charger has nothing to upload or does not
    support it; 30 when it reports UploadFailed; 31 when --timeout passes first.

    \b
    Examples:
      chargerctl charger diagnostics --charger CP-1
      chargerctl charger diagnostics --charger CP-1 -o cp1.txt --since 2026-01-10T00:00:00Z
      chargerctl charger diagnostics --charger CP-1 -o - | grep ERROR
    """
    from host_tools.charger_transfers import diagnostics as run_diagnostics

    if start_time and stop_time and _instant(start_time) >= _instant(stop_time):
        raise click.BadParameter("--until must be after --since.", param_hint="--until")
    if output == "-" and as_json:
        raise click.BadParameter("-o - writes the file to standard output, where --json would "
                                 "go too: give a file name.", param_hint="--output")
    if output is not None and output != "-" and Path(output).is_dir():
        raise click.BadParameter(f"{output} is a folder; give a file name.", param_hint="--output")

    def work(ops: OperatorClient, progress: _Progress):
        name, content, summary = run_diagnostics(
            ops, identity, start_time=start_time, stop_time=stop_time, retries=retries,
            retry_interval=retry_interval, timeout=timeout, on_event=progress.event)
        if output == "-":
            sys.stdout.buffer.write(content)
            sys.stdout.flush()
            summary["output"] = "-"
            return summary, ""
        target = Path(output or name)
        try:
            target.write_bytes(content)
        except OSError as err:
            raise DriverError(f"Cannot write {target}: {err.strerror or err}.") from None
        summary["output"] = str(target)
        return summary, f"[green]{identity}[/]: diagnostics {name} ({len(content)} bytes) " \
                        f"written to {target}."

    _transfer(identity, api, token, as_json, work)


# `chargerctl charger certificates ...`: registers itself on the group above
from host_tools.commands import charger_certificates  # noqa: E402,F401

# `charger security-events` (a read, not an action: no token) lives in its own module
from host_tools.commands import security_events as _security_events  # noqa: E402,F401
