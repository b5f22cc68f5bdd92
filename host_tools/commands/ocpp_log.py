"""`chargerctl ocpp-log`: a charger's OCPP traffic, live, from the local backend.

Each frame is one line: time, direction (`in` from the charger, `out` to it), message type,
action, message id and the payload as compact JSON; connects and disconnects too. The backend
keeps the last 500 frames per charger and redacts secrets before it stores them (the
Authorization header, AuthorizationKey values). Following is a long poll of the backend's
operator endpoint (`GET /api/v3/operator/chargers/{identity}/ocpp-log?after=SEQ&wait=S`), which
it serves to its own machine only.
"""

from __future__ import annotations

import json
import time

import click
import httpx

from host_tools.commands import CTX, operator_api
from host_tools.driver import API_ENV, DEFAULT_API
from host_tools.exits import Exit, epilog

_WAIT_S = 20.0  # one long poll; the backend answers as soon as a frame arrives
_NO_LOG_HINT = "the real Plugchoice service shows OCPP traffic in its web app"


def frame_line(frame: dict) -> str:
    """One line per frame: `17:35:01.123 in  CALL       BootNotification  42 {...}`."""
    stamp = str(frame.get("time") or "")
    stamp = stamp[11:23] if len(stamp) >= 23 else stamp
    payload = json.dumps(frame.get("payload"), separators=(",", ":"), ensure_ascii=False)
    return (f"{stamp} {frame.get('direction', '-'):<3} {frame.get('type', '-'):<12} "
            f"{frame.get('action') or '-':<28} {frame.get('message_id') or '-'} {payload}")


@click.command("ocpp-log", context_settings=CTX,
               epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE, Exit.NOT_FOUND, Exit.REFUSED,
                             Exit.NETWORK))
@click.argument("identity")
@click.option("--api", envvar=API_ENV, default=DEFAULT_API, show_default=True, metavar="URL",
              help=f"The local backend's API base URL (env {API_ENV}).")
@click.option("--lines", "lines", type=click.IntRange(0, 500), default=20, show_default=True,
              help="How many recent frames to show first.")
@click.option("--follow/--no-follow", default=True, show_default=True,
              help="Keep printing new frames until Ctrl-C.")
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Stop following after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per frame.")
def ocpp_log(identity: str, api: str, lines: int, follow: bool, duration: float | None,
             as_json: bool) -> None:
    """Show a charger's OCPP frames from the local backend, live, one line each.

    IDENTITY is the charge point identity (the board's charge_point_id), e.g. CP-1. Secrets are
    redacted by the backend; idTags are shown as they are. The backend serves this to loopback
    clients only.

    \b
    Examples:
      chargerctl ocpp-log CP-1
      chargerctl ocpp-log CP-1 --lines 100 --no-follow
      chargerctl ocpp-log CP-1 --json | jq 'select(.action == "MeterValues")'
      chargerctl ocpp-log CP-1 --api http://127.0.0.1:8180/api/v3 --duration 60
    """
    api = api.rstrip("/")
    end = None if duration is None else time.monotonic() + duration

    def show(frames: list[dict]) -> None:
        for frame in frames:
            click.echo(json.dumps(frame, separators=(",", ":")) if as_json else frame_line(frame))

    with httpx.Client(base_url=api, timeout=_WAIT_S + 10) as http:
        body = operator_api.fetch(http, api, identity, "ocpp-log", "OCPP log", _NO_LOG_HINT, after=0, limit=max(1, lines))
        show(body["data"] if lines else [])
        last = body["last_seq"]
        if not follow:
            return
        if not body.get("online"):
            click.echo(f"{identity} is not connected right now; waiting for its frames "
                       "(Ctrl-C ends).", err=True)
        try:
            while end is None or time.monotonic() < end:
                wait = _WAIT_S if end is None else max(0.0, min(_WAIT_S, end - time.monotonic()))
                body = operator_api.fetch(http, api, identity, "ocpp-log", "OCPP log", _NO_LOG_HINT,
                                          after=last, wait=wait)
                show(body["data"])
                last = body["last_seq"]
        except KeyboardInterrupt:
            pass  # Ctrl-C is how following ends
