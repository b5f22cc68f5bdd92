"""Reading one of the local backend's operator endpoints
(`GET {api}/operator/chargers/{identity}/{endpoint}`), which it serves to its own machine only,
with the same errors for every command that reads one (`ocpp-log`, `charger security-events`):
unreachable, an unknown identity, not the local backend, a caller from another machine."""

from __future__ import annotations

import httpx

from host_tools.commands import fail
from host_tools.exits import Exit


def fetch(http: httpx.Client, api: str, identity: str, endpoint: str, what: str,
          not_found_hint: str | None = None, **params: float) -> dict:
    """The answer's body (a dict with a `data` list), or the command ends with the documented
    code. `what` names the endpoint in the message for a backend that lacks it."""
    try:
        resp = http.get(f"/operator/chargers/{identity}/{endpoint}", params=params)
    except httpx.HTTPError as err:
        fail(f"cannot reach the backend at {api}: {err}", Exit.NETWORK,
             "start it with `chargerctl backend --chargers FILE`, or give its URL with --api")
    try:
        body = resp.json()
    except ValueError:
        body = {}
    message = body.get("message", resp.reason_phrase) if isinstance(body, dict) else ""
    if resp.status_code == 404 and "identity" in message:
        fail(message, Exit.NOT_FOUND, "use the charge point identity (charge_point_id, e.g. CP-1), "
                                      "not the public code; the identities are in the backend's "
                                      "chargers file")
    if resp.status_code == 404:
        fail(f"{api} has no {what} endpoint: is it the local backend (chargerctl backend)?",
             Exit.NOT_FOUND, not_found_hint)
    if resp.status_code == 403:
        fail(message, Exit.REFUSED, "run this on the machine that runs `chargerctl backend`")
    if not resp.is_success or not isinstance(body, dict) or not isinstance(body.get("data"), list):
        fail(f"the backend answered {resp.status_code}: {message}", Exit.ERROR)
    return body
