"""`chargerctl charger security-events`: the security events a charger reported to the local
backend (SecurityEventNotification), newest first.

Reads the backend's operator endpoint `GET /api/v3/operator/chargers/{identity}/security-events`
(host_tools/backend/security_events.py), which it serves to its own machine only: no token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
import httpx

from host_tools.commands import CTX, operator_api
from host_tools.commands.charger import charger
from host_tools.driver import API_ENV, DEFAULT_API
from host_tools.exits import Exit, epilog


def event_line(e: dict) -> str:
    """`2026-12-05T01:31:22Z  StartupOfTheDevice  power-up  (received 01:31:23)`."""
    got = datetime.fromtimestamp(float(e.get("received_at") or 0), UTC).strftime("%H:%M:%S")
    return f"{e.get('timestamp')}  {e.get('type'):<34} {e.get('tech_info') or '-'}  (received {got})"


@charger.command("security-events", context_settings=CTX,
                 epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE, Exit.NOT_FOUND, Exit.REFUSED,
                               Exit.NETWORK))
@click.option("--charger", "identity", required=True, metavar="IDENTITY",
              help="The charge point identity (the board's charge_point_id, e.g. CP-1), not "
                   "the public code.")
@click.option("--api", envvar=API_ENV, default=DEFAULT_API, show_default=True, metavar="URL",
              help=f"The local backend's API base URL (env {API_ENV}).")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True,
              help="How many of the newest events to show.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the backend's answer as JSON: {\"data\": [...], \"online\": bool}.")
def security_events(identity: str, api: str, limit: int, as_json: bool) -> None:
    """Show the security events a charger reported (newest first): StartupOfTheDevice,
    ResetOrReboot, SettingSystemTime, FirmwareUpdated, InvalidFirmwareSignature...

    Each line: the charger's timestamp, the type, its techInfo, and when the backend got it.
    Served by the local backend to this machine only.

    \b
    Examples:
      chargerctl charger security-events --charger CP-1
      chargerctl charger security-events --charger CP-1 --limit 10 --json
    """
    api = api.rstrip("/")
    with httpx.Client(base_url=api, timeout=10) as http:
        body = operator_api.fetch(http, api, identity, "security-events", "security events",
                                  limit=limit)
    if as_json:
        click.echo(json.dumps(body))
        return
    if not body["data"]:
        click.echo(f"{identity} has reported no security events.")
    for e in body["data"]:
        click.echo(event_line(e))
