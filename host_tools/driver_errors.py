"""The driver's errors: one typed exception per documented answer of the public-charging API,
each with a sentence for people (`str(err)`) and an exit code from `host_tools.exits`.

`error_for(response, op)` turns an error status of operation `op` into the right one.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from host_tools.connector_states import refusal
from host_tools.exits import Exit


class DriverError(Exception):
    """Base of every driver error: `str(err)` is the sentence to show a person. Keyword
    arguments beyond `status` and `body` become attributes (each subclass names its own:
    `retry_after`, `connector_status`, `errors`, `session`)."""

    exit_code = Exit.ERROR

    def __init__(self, message: str, *, status: int | None = None, body: Any = None,
                 **details: Any):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body
        for name, value in details.items():
            if not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__} has no detail {name!r}")
            setattr(self, name, value)


class NotFound(DriverError):
    exit_code = Exit.NOT_FOUND


class UnknownCharger(NotFound):
    pass


class UnknownSession(NotFound):
    pass


class Refused(DriverError):
    exit_code = Exit.REFUSED


class ChargerOffline(Refused):
    pass


class StopRefused(Refused):
    pass


class ChargerTimeout(Refused):
    pass


class Unprocessable(DriverError):
    exit_code = Exit.UNPROCESSABLE
    errors: dict | None = None  # the API's field errors


class Conflict(DriverError):
    exit_code = Exit.CONFLICT


class ConnectorUnavailable(Conflict):
    connector_status: str | None = None  # the OCPP status that made it unavailable


class NotCancellable(Conflict):
    pass


class RateLimited(DriverError):
    exit_code = Exit.RATE_LIMITED
    retry_after: float | None = None  # seconds, from Retry-After


class NetworkError(DriverError):
    exit_code = Exit.NETWORK


class SessionFailed(DriverError):
    exit_code = Exit.SESSION_FAILED
    session: dict | None = None  # the session as last seen


class PaymentActionNeeded(DriverError):
    exit_code = Exit.ACTION_NEEDED


class NoSession(DriverError):
    exit_code = Exit.USAGE


def shorten(token: str | None) -> str:
    """Enough of a token to tell two sessions apart, never enough to use it."""
    if not token:
        return "-"
    if len(token) <= 8:
        return token[:2] + "…"
    return f"{token[:4]}…{token[-4:]}"


_STATUS_IN_MESSAGE = re.compile(r"\(status: (\w+)\)|^Connector \d+ is (\w+):")


def unavailable(code: str | None, connector: Any, state: str | None,
                **kw: Any) -> ConnectorUnavailable:
    """A 409 on start, in plain words: the connector's state, what it means, what to do."""
    return ConnectorUnavailable(refusal(state, connector, code, bench=True),
                                connector_status=state, **kw)


def error_for(resp: httpx.Response, op: str, **ctx: Any) -> DriverError:
    """The typed error, with a plain sentence, for a documented error status of operation `op`."""
    status = resp.status_code
    try:
        body = resp.json()
    except ValueError:
        body = None
    server = body.get("message") if isinstance(body, dict) else None
    code = ctx.get("code")
    connector = ctx.get("connector_id")
    token = shorten(ctx.get("token"))
    kw = {"status": status, "body": body}

    if status == 404:
        if op in ("lookup", "start"):
            return UnknownCharger(f"No charger with public code {code!r} offers public charging. "
                                  "Check the code on the charger's display.", **kw)
        if op == "pay":
            return NotFound("The local payment provider does not know this payment; "
                            "the session may have expired. Start a new one.", **kw)
        return UnknownSession(f"Session {token} is unknown or has expired. "
                              "Start a new one with `chargerctl session start`.", **kw)
    if status == 400:
        if op == "start":
            return ChargerOffline(f"Charger {code} is offline: it is not connected to the backend "
                                  "right now. Try again later or use another charger.", **kw)
        if op == "stop":
            why = server.rstrip(".") if server else "the charger refused the stop or is offline"
            return StopRefused(f"The stop was refused: {why}. If the EV is still charging, "
                               "unplug it to end the session.", **kw)
        return Refused(f"The request was refused: {server or 'bad request'}.", **kw)
    if status == 422:
        errors = body.get("errors", {}) if isinstance(body, dict) else {}
        if op == "start" and "connector_id" in errors:
            msg = (f"Charger {code} has no connector {connector}. "
                   "Look up its connectors with `chargerctl session charger CODE`.")
        else:
            detail = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}"
                               for k, v in errors.items())
            msg = f"The request was not accepted: {detail or server or 'invalid data'}."
        return Unprocessable(msg, errors=errors, **kw)
    if status == 409:
        if op == "cancel":
            m = _STATUS_IN_MESSAGE.search(server or "")
            now = m.group(1) if m and m.group(1) else None
            if now == "cancelled":
                return NotCancellable(f"Session {token} is already cancelled; its payment hold "
                                      "was released.", **kw)
            return NotCancellable(f"Session {token} can no longer be cancelled"
                                  f"{f' (it is {now})' if now else ''}: cancel is only possible "
                                  "before charging starts. A charging session ends with "
                                  "`chargerctl session stop`.", **kw)
        if op == "start":
            state = body.get("connector_status") if isinstance(body, dict) else None
            if state is None and server and (m := _STATUS_IN_MESSAGE.search(server)):
                state = m.group(1) or m.group(2)
            return unavailable(code, connector, state, **kw)
        return Conflict(f"The request conflicts with the session's state: {server or 'conflict'}.", **kw)
    if status == 429:
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        wait = f"Try again in {retry_after:g} s." if retry_after is not None else "Try again later."
        if server and "per hour" in server:
            what = "sessions started on this charger in the last hour"
        else:
            what = "requests from this address"
        return RateLimited(f"Too many attempts ({what}). {wait}", retry_after=retry_after, **kw)
    if status == 503:
        return Refused(f"The service is unavailable: {server or 'try again later'}", **kw)
    if status == 504:
        return ChargerTimeout("The charger did not respond in time. Try again; if it keeps "
                              "happening the charger may be offline.", **kw)
    return DriverError(f"The API answered {status}{': ' + server if server else ''} "
                       f"(during {op}).", **kw)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
