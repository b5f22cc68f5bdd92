"""The operator's charger actions over HTTP (`POST {api}/chargers/{identity}/actions/...`, Bearer
token), for `chargerctl charger`. The local backend serves them (operator_actions.py) at
Plugchoice's paths; each answers the charger's status.

    with OperatorClient(api, token) as ops:
        ops.act("CP-1", "charge-limit", {"connector_id": 1, "limit": 10})  # {"status": "Accepted"}

Every error is a DriverError (host_tools/driver_errors.py) with a sentence and an exit code: a
status other than Accepted is `ChargerSaidNo` (exit 28), as is the charger's CALLERROR (502).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx

from host_tools.driver import API_ENV, DEFAULT_API
from host_tools.driver_errors import (
    ChargerOffline,
    ChargerTimeout,
    DriverError,
    NetworkError,
    NotFound,
    RateLimited,
    Unprocessable,
    _retry_after,
)
from host_tools.exits import Exit

TOKEN_ENV = "CHARGERCTL_OPERATOR_TOKEN"


class ChargerSaidNo(DriverError):
    """The charger answered with a status other than Accepted, or with an OCPP error."""

    exit_code = Exit.CHARGER_REFUSED
    answer: dict | None = None  # the API's body: {"status": ...} or {"message", "ocpp_error"}


class Unauthorized(DriverError):
    exit_code = Exit.UNAUTHORIZED


class OperatorClient:
    def __init__(self, api: str | None, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        self.api = (api or os.environ.get(API_ENV) or DEFAULT_API).rstrip("/")
        # the charger has --call-timeout (8 s by default) to answer; wait longer than that
        self._http = httpx.Client(base_url=self.api, timeout=timeout, transport=transport,
                                  headers={"Accept": "application/json",
                                           "Authorization": f"Bearer {token}",
                                           "User-Agent": "chargerctl-operator"})

    def __enter__(self) -> OperatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kw)
        except httpx.TimeoutException:
            raise NetworkError(f"The API at {self.api} did not answer in time. Check the URL and "
                               "that the backend is running.") from None
        except httpx.HTTPError as err:
            raise NetworkError(f"Cannot reach the API at {self.api}: {err}. Check --api (or "
                               f"{API_ENV}) and that the backend is running.") from None

    def _json(self, resp: httpx.Response, identity: str, what: str,
              ok: tuple[int, ...] = (200, 201)) -> dict:
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DriverError(f"The API at {self.api} answered {resp.status_code} with something "
                              "that is not a JSON object; is --api the /api/v3 base URL?",
                              status=resp.status_code)
        if resp.status_code not in ok:
            raise _error(resp, answer, identity, what)
        return answer

    def upload_bundle(self, data: bytes) -> dict:
        """Stores a firmware bundle on the backend: {name, version, sha256, size, files}."""
        resp = self._send("POST", "/firmware", content=data,
                          headers={"Content-Type": "application/octet-stream"})
        return self._json(resp, "-", "the bundle upload")

    def follow(self, identity: str, topic: str, after: int, wait: float) -> dict:
        """GET .../{topic}?after=&wait= (firmware, diagnostics): the events after `after`,
        held by the backend up to `wait` seconds until one arrives."""
        resp = self._send("GET", f"/chargers/{quote(identity, safe='')}/{topic}",
                          params={"after": after, "wait": wait}, timeout=wait + 15)
        return self._json(resp, identity, topic)

    def diagnostics_file(self, identity: str, file_name: str) -> bytes:
        resp = self._send("GET", f"/chargers/{quote(identity, safe='')}/diagnostics/"
                                 f"{quote(file_name, safe='')}")
        if resp.status_code != 200:
            self._json(resp, identity, "the diagnostics download")
        return resp.content

    def act(self, identity: str, action: str, body: dict[str, Any], *,
            accepted_only: bool = True) -> dict:
        """The charger's answer when it is Accepted; else the error that says what it was.
        `accepted_only` False: any answer of 200 (local-list-version has no status)."""
        path = f"/chargers/{quote(identity, safe='')}/actions/{action}"
        answer = self._json(self._send("POST", path, json=body), identity, action, ok=(200,))
        status = answer.get("status")
        if accepted_only and status != "Accepted":
            raise ChargerSaidNo(f"Charger {identity} answered {status}{_why(action, status)}.",
                                status=200, body=answer, answer=answer)
        return answer


def _why(action: str, status: object) -> str:
    """What a refusal usually means, for a technician."""
    hints = {
        ("start", "Rejected"): ": the connector is busy, reserved for another idTag, "
                               "unavailable or faulted, or the charger is not booted",
        ("stop", "Rejected"): ": it has no transaction with that id (see `chargerctl ocpp-log`)",
        ("charge-limit", "Rejected"): ": it does not take a limit there (that stack level, "
                                      "connector or purpose)",
        ("charge-limit", "NotSupported"): ": it has no smart charging",
        ("reserve", "Occupied"): ": the connector is in use or held by another reservation",
        ("reserve", "Faulted"): ": the connector has a fault",
        ("reserve", "Unavailable"): ": the connector is switched off (Unavailable)",
        ("reserve", "Rejected"): ": it takes no reservations there (connector 0 needs "
                                 "ReserveConnectorZeroSupported)",
        ("cancel-reservation", "Rejected"): ": it has no reservation with that id (it may "
                                            "have expired or been used)",
        ("local-list", "Failed"): ": more entries than it takes (its SendLocalListMaxLength "
                                  "in one push, LocalAuthListMaxLength in all), or it could not "
                                  "store the list; its list is unchanged",
        ("local-list", "VersionMismatch"): ": a differential update needs a version above the "
                                           "charger's (`local-list version`); its list is "
                                           "unchanged",
        ("local-list", "NotSupported"): ": its local list is off (LocalAuthListEnabled false)",
    }
    return hints.get((action, str(status)), "")


def _error(resp: httpx.Response, body: dict, identity: str, action: str) -> DriverError:
    status = resp.status_code
    server = str(body.get("message") or resp.reason_phrase)
    kw = {"status": status, "body": body}
    if status in (401, 403):
        hint = (f" Give the backend's operator token with --token or {TOKEN_ENV}."
                if status == 401 else "")
        return Unauthorized(f"{server}{hint}", **kw)
    if status == 404:
        if "diagnostics file" in server:
            return NotFound(server, **kw)
        if "identity" in server:
            return NotFound(f"{server} Use the charge point identity (the board's "
                            "charge_point_id, e.g. CP-1), not the public code.", **kw)
        return NotFound(f"{resp.request.url} does not exist: is --api the local backend "
                        "(chargerctl backend), at its /api/v3 base URL?", **kw)
    if status == 422:
        errors = body.get("errors") or {}
        detail = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}"
                           for k, v in errors.items())
        return Unprocessable(f"The request was not accepted: {detail or server}", errors=errors,
                             **kw)
    if status == 400:
        return ChargerOffline(f"{server} Check that it is powered and online "
                              "(`chargerctl ocpp-log` shows its traffic).", **kw)
    if status == 502:
        code = (body.get("ocpp_error") or {}).get("code")
        return ChargerSaidNo(server, answer=body, **kw) if code else \
            DriverError(f"The API answered 502: {server}", **kw)
    if status == 504:
        return ChargerTimeout(f"{server} Try again; if it keeps happening the charger may be "
                              "offline.", **kw)
    if status == 413:
        return Unprocessable(f"{server} (during {action})", **kw)
    if status == 429:
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        wait = f"Try again in {retry_after:g} s." if retry_after is not None else "Try again later."
        return RateLimited(f"Too many attempts from this address. {wait}",
                           retry_after=retry_after, **kw)
    return DriverError(f"The API answered {status}: {server} (during {action} on {identity}).",
                       **kw)
