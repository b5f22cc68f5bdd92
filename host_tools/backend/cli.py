"""`chargerctl backend`: run the local public-charging API and OCPP central system."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

import click

from host_tools.exits import Exit, epilog


class _OperatorFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        from .clock import iso

        return f"{iso(record.created)} {record.getMessage()}"


class _LineWriter(logging.StreamHandler):
    """One line per event as before, but the lines of one event-loop turn go out in one write:
    a write per line was a system call per OCPP message and HTTP request."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record))
        except Exception:
            self.handleError(record)
            return
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: write now
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self.acquire()
        try:
            self._scheduled = False
            if self._pending:
                text = "\n".join(self._pending) + "\n"
                self._pending.clear()
                self.stream.write(text)
            self.stream.flush()
        except Exception:
            self._pending.clear()
        finally:
            self.release()


def parse_rate_limits(values: tuple[str, ...]) -> dict[str, int]:
    from .api import RATE_LIMITS

    limits = {}
    for item in values:
        name, _, n = item.partition("=")
        if name not in RATE_LIMITS or not n.isdigit() or int(n) < 1:
            raise click.BadParameter(
                f"{item!r}: use NAME=N with N >= 1 and NAME one of {', '.join(RATE_LIMITS)}",
                param_hint="--rate-limit")
        limits[name] = int(n)
    return limits


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
               epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8180, show_default=True, type=int, help="Port for REST and OCPP.")
@click.option("--db", "db_path", default="backend.db", show_default=True,
              type=click.Path(dir_okay=False), help="SQLite database file (created if missing).")
@click.option("--chargers", "chargers_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Chargers file (JSON).")
@click.option("--payments", type=click.Choice(["local", "stripe"]), default="local",
              show_default=True,
              help="Payment provider; stripe reads STRIPE_SECRET_KEY, STRIPE_PUBLISHABLE_KEY, "
                   "STRIPE_ACCOUNT_ID.")
@click.option("--vat-rate", default="0.21", show_default=True,
              help="VAT rate contained in the prices, for tax_amount.")
@click.option("--start-timeout", default=60.0, show_default=True, type=float,
              help="Seconds a confirmed session waits for StartTransaction before it fails.")
@click.option("--heartbeat-interval", default=300, show_default=True, type=int,
              help="Interval given to chargers in BootNotification.conf.")
@click.option("--call-timeout", default=8.0, show_default=True, type=float,
              help="Seconds to wait for a charger's answer to a call (remote start/stop, operator actions).")
@click.option("--rate-limit", "rate_limit", multiple=True, metavar="NAME=N",
              help="Override a per-IP limit per minute (charger, start, get, confirm, stop, cancel, "
                   "local_confirm, actions), e.g. --rate-limit get=600 for fast test polling.")
@click.option("--operator-token", envvar="CHARGERCTL_OPERATOR_TOKEN", default=None,
              metavar="TOKEN", show_envvar=True,
              help="Bearer token of the operator actions (POST /api/v3/chargers/{identity}/"
                   "actions/...), 16..256 visible characters; overrides the chargers file's "
                   "\"operator_token\". Without either the actions answer 403. Prefer the "
                   "environment variable: a command line is visible to every user.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Folder of firmware bundles and diagnostics uploads (default: "
                   "<db name>-files beside the database).")
def backend(host: str, port: int, db_path: str, chargers_path: str, payments: str, vat_rate: str,
            start_timeout: float, heartbeat_interval: int, call_timeout: float,
            rate_limit: tuple[str, ...], operator_token: str | None,
            data_dir: str | None) -> None:
    """Serve the public-charging API and OCPP 1.6J on one port.

    \b
    REST: http://HOST:PORT/api/v3/public-charging/...  (OpenAPI at /docs)
    OCPP: ws://HOST:PORT/ocpp/{identity}  (board csms_url = ws://HOST:PORT/ocpp)
    Operator, this machine only: GET /api/v3/operator/chargers/{identity}/ocpp-log
      (what `chargerctl ocpp-log IDENTITY` shows)
    Operator actions, Bearer token: POST /api/v3/chargers/{identity}/actions/start, stop,
      charge-limit, reserve, cancel-reservation, local-list, local-list-version,
      update-firmware, get-diagnostics (what `chargerctl charger ...` sends)
    Firmware and diagnostics: POST /api/v3/firmware (a bundle, Bearer), GET /firmware/{name}
      (chargers download), PUT /diagnostics/{identity}/{file} (chargers upload), GET
      /api/v3/chargers/{identity}/firmware and .../diagnostics (Bearer; statuses, files)

    \b
    The chargers file (pricing in cents; identity = the board's charge_point_id,
    public_code = what drivers type):
      {"chargers": [{"identity": "CP-1", "name": "Bench charger", "public_code": "ABC123",
        "public_charging": true, "connectors": 2,
        "pricing": {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50},
        "preauth_amount": 5000, "max_sessions_per_hour": 10, "authorization_key": null}]}

    \b
    Examples:
      chargerctl backend --chargers chargers.json --db backend.db
      chargerctl backend --chargers chargers.json --host 0.0.0.0 --port 8180   # ESP32s on the LAN
      chargerctl backend --chargers chargers.json --rate-limit get=600        # fast test polling
      CHARGERCTL_OPERATOR_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))') \
        chargerctl backend --chargers chargers.json                           # operator actions on
      curl -s http://127.0.0.1:8180/api/v3/public-charging/chargers/abc123
      chargerctl session charger ABC123
      chargerctl ocpp-log CP-1
    """
    from decimal import Decimal, InvalidOperation

    import uvicorn

    from .api import create_app
    from .config import ChargersFileError
    from .sessions import Settings

    handler = _LineWriter(sys.stderr)
    handler.setFormatter(_OperatorFormatter())
    log = logging.getLogger("chargerctl.backend")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    logging.getLogger("ocpp").setLevel(logging.WARNING)  # we log each message ourselves
    try:
        rate = Decimal(vat_rate)
        if not 0 <= rate < 1:
            raise InvalidOperation
    except InvalidOperation as e:
        raise click.BadParameter(f"{vat_rate!r} is not a rate between 0 and 1 (e.g. 0.21)",
                                 param_hint="--vat-rate") from e
    limits = parse_rate_limits(rate_limit)
    try:
        app = create_app(chargers_path, db_path, payments=payments,
                         settings=Settings(start_timeout=start_timeout, vat_rate=rate),
                         heartbeat_interval=heartbeat_interval, call_timeout=call_timeout,
                         rate_limits=limits, operator_token=operator_token or None,
                         data_dir=data_dir)
    except (ChargersFileError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    # Everything loaded so far (modules, schemas, the app) lives as long as the process: keep
    # it out of the cyclic collector's scans, and collect the oldest generation less often,
    # so 1,000 connected chargers do not mean long full-collection pauses.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    click.echo(f"backend: REST http://{host}:{port}/api/v3/public-charging  "
               f"OCPP ws://{host}:{port}/ocpp/<identity>  db={db_path}  operator actions "
               f"{'on' if app.state.backend.operator_token else 'off (no operator token)'}",
               err=True)
    # access_log off: request paths carry session tokens; our own http log line redacts them.
    # uvloop and httptools when installed (pinned in pyproject.toml); no permessage-deflate:
    # OCPP messages are small, and a zlib context per charger costs CPU and memory.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning",
                timeout_graceful_shutdown=3, loop="auto", http="auto",
                ws_per_message_deflate=False)
