"""HTTP routes of firmware updates and diagnostics (transfers.py holds the files and events).

Operator (Bearer token, as the operator actions; not in the OpenAPI document):
    POST /api/v3/firmware                                  upload a bundle (the raw file) -> 201
    GET  /api/v3/firmware                                  the stored bundles
    GET  /api/v3/chargers/{identity}/firmware?after=&wait=     version, status history
    GET  /api/v3/chargers/{identity}/diagnostics?after=&wait=  status history, files received
    GET  /api/v3/chargers/{identity}/diagnostics/{file_name}   one file
Chargers (no token: a charger has none to give; see the rules below):
    GET  /firmware/{name}                                  a bundle, Content-Length set
    PUT  /diagnostics/{identity}/{file_name}               a diagnostics upload

`wait` (<= 25 s) holds an answer until an event after `after` arrives, as the OCPP log does: a
follower long-polls. A bundle name carries its sha256, so the public GET tells nothing to
someone who does not already know the bundle. A diagnostics upload is taken only from the
address of the charger's open OCPP connection, while an operator's GetDiagnostics is pending,
under the file name the charger announced, once per GetDiagnostics, and up to
DIAGNOSTICS_MAX_BYTES. The addresses are as uvicorn sees them: behind a reverse proxy, only
with X-Forwarded-For from an address in FORWARDED_ALLOW_IPS (README: reverse proxies).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

from host_tools.bundle import BundleInvalid

from . import oplog
from . import transfers as limits  # read at each request: one copy of the limits
from .operator_actions import _Credentials, _denied
from .transfers import TooLarge

MAX_WAIT_S = 25.0
OPERATOR_CHARGER = "/api/v3/chargers/{identity}/"


def add_transfer_routes(app: FastAPI) -> None:
    backend = app.state.backend
    store, central = backend.store, backend.central
    transfers = central.transfers

    def message(status: int, text: str, **headers: str) -> JSONResponse:
        return JSONResponse({"message": text}, status_code=status, headers=headers or None)

    def refused(request: Request, credentials) -> JSONResponse | None:
        denied = _denied(backend, credentials, request)
        return None if denied is None else JSONResponse(denied[1], status_code=denied[0],
                                                        headers=denied[2] or None)

    def unknown(identity: str) -> JSONResponse | None:
        if store.charger(identity) is None:
            return message(404, f"No charger with identity {identity!r} in this backend's "
                                "chargers file.")
        return None

    @app.post("/api/v3/firmware", include_in_schema=False)
    async def upload_bundle(request: Request, credentials: _Credentials):
        if (no := refused(request, credentials)) is not None:
            return no
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.BUNDLE_MAX_BYTES:
            # refused before a byte of the body is read
            return message(413, f"A bundle is at most {limits.BUNDLE_MAX_BYTES} bytes; this one "
                                f"is {int(declared)}.")
        try:
            saved = await transfers.save_bundle(request.stream())
        except TooLarge:
            return message(413, f"A bundle is at most {limits.BUNDLE_MAX_BYTES} bytes.")
        except BundleInvalid as e:
            oplog.log("firmware.refused", reason=str(e))
            return JSONResponse({"message": f"Not a firmware bundle: {e}.",
                                 "errors": {"bundle": [f"The bundle is invalid: {e}."]}},
                                status_code=422)
        oplog.log("firmware.stored", name=saved["name"], version=saved["version"],
                  size=saved["size"])
        return JSONResponse({**saved, "url": f"/firmware/{saved['name']}"}, status_code=201)

    @app.get("/api/v3/firmware", include_in_schema=False)
    async def list_bundles(request: Request, credentials: _Credentials):
        if (no := refused(request, credentials)) is not None:
            return no
        return JSONResponse({"data": transfers.bundles()})

    @app.get("/firmware/{name}", include_in_schema=False)
    async def download_bundle(name: str):
        path = transfers.bundle_path(name)
        if path is None:
            return message(404, "No such firmware bundle.")
        # FileResponse sends Content-Length from the file's size: the charger checks the length
        return FileResponse(path, media_type="application/octet-stream")

    @app.put("/diagnostics/{identity}/{file_name}", include_in_schema=False)
    async def receive_diagnostics(identity: str, file_name: str, request: Request):
        if (no := unknown(identity)) is not None:
            return no
        cp = central.connections.get(identity)
        client = request.client.host if request.client else None
        why = await transfers.diagnostics_refusal(identity, client, file_name,
                                                  cp.address if cp else None)
        if why is not None:
            oplog.log("diagnostics.refused", identity=identity, client=client, reason=why[1])
            return message(*why)
        try:
            saved = await transfers.save_diagnostics(identity, file_name, request.stream())
        except TooLarge as e:
            return message(413, f"Diagnostics are at most {e.args[0] // 1024} KB.")
        oplog.log("diagnostics.stored", identity=identity, file=file_name, size=saved["size"])
        return JSONResponse(saved, status_code=201)

    async def follow(identity: str, topic: str, request: Request, credentials, after: int,
                     wait: float, state: Callable[[], dict]) -> JSONResponse:
        """A long poll of `topic`'s events after sequence number `after`, with the charger's
        online flag and `state()` (read once the wait is over) beside them."""
        if (no := refused(request, credentials) or unknown(identity)) is not None:
            return no
        events = await transfers.wait(identity, topic, max(0, after), min(max(0.0, wait), MAX_WAIT_S))
        return JSONResponse({"data": {**state(), "online": central.is_online(identity),
                                      "events": events},
                             "last_seq": events[-1]["seq"] if events else max(0, after)})

    @app.get(OPERATOR_CHARGER + "firmware", include_in_schema=False)
    async def firmware_status(identity: str, request: Request, credentials: _Credentials,
                              after: int = 0, wait: float = 0.0):
        return await follow(identity, "firmware", request, credentials, after, wait, lambda: {
            "firmware_version": (store.charger(identity) or {}).get("firmware_version")})

    @app.get(OPERATOR_CHARGER + "diagnostics", include_in_schema=False)
    async def diagnostics_status(identity: str, request: Request, credentials: _Credentials,
                                 after: int = 0, wait: float = 0.0):
        return await follow(identity, "diagnostics", request, credentials, after, wait,
                            lambda: {"files": transfers.diagnostics_files(identity)})

    @app.get(OPERATOR_CHARGER + "diagnostics/{file_name}", include_in_schema=False)
    async def diagnostics_file(identity: str, file_name: str, request: Request,
                               credentials: _Credentials):
        if (no := refused(request, credentials) or unknown(identity)) is not None:
            return no
        path = transfers.diagnostics_path(identity, file_name)
        if path is None:
            return message(404, f"No diagnostics file {file_name!r} from {identity}.")
        return FileResponse(path, media_type="application/octet-stream", filename=file_name)
