"""Operator endpoints of the local backend: what a technician at this machine may look at.

    GET /api/v3/operator/chargers/{identity}/ocpp-log?after=SEQ&wait=S&limit=N

The charger's recent OCPP frames (ocpp_log.FrameLog, secrets redacted) after sequence number
SEQ; with `wait` the answer is held up to S seconds (at most 25) until a frame arrives, so a
follower long-polls instead of polling. Served to loopback clients only (127.0.0.1, ::1):
Plugchoice's operator API uses Bearer tokens, and a bench backend has no accounts to issue
them, so the machine boundary is the protection (403 for any other address, also with
`--host 0.0.0.0`). Not in the OpenAPI document, which describes Plugchoice's public API.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .ocpp_log import RING_SIZE

OCPP_LOG = "/api/v3/operator/chargers/{identity}/ocpp-log"
MAX_WAIT_S = 25.0
LOOPBACK = ("127.0.0.1", "::1")


def loopback_refusal(request: Request, identity: str, what: str) -> JSONResponse | None:
    """None when a loopback client asks about a charger in the chargers file; else the 403
    (another machine) or 404 (unknown identity) answer. `what` begins the 403's sentence
    ("The OCPP log is")."""
    client = request.client.host if request.client else None
    if client not in LOOPBACK:
        return JSONResponse({"message": f"{what} served to this machine only (loopback); "
                                        f"{client} is not."}, status_code=403)
    if request.app.state.backend.store.charger(identity) is None:
        return JSONResponse({"message": f"No charger with identity {identity!r} in this "
                                        "backend's chargers file."}, status_code=404)
    return None


def add_operator_routes(app: FastAPI) -> None:
    @app.get(OCPP_LOG, include_in_schema=False)
    async def ocpp_log(identity: str, request: Request, after: int = 0, wait: float = 0.0,
                       limit: int = RING_SIZE):
        if (no := loopback_refusal(request, identity, "The OCPP log is")) is not None:
            return no
        backend = request.app.state.backend
        frames = await backend.central.frames.wait(
            identity, max(0, after), min(max(0.0, wait), MAX_WAIT_S), max(1, min(limit, RING_SIZE)))
        return JSONResponse({"data": frames, "last_seq": frames[-1]["seq"] if frames else after,
                             "online": backend.central.is_online(identity)})
