"""The operator's charger actions at Plugchoice's paths, each one OCPP CALL to the charger.

    POST /api/v3/chargers/{identity}/actions/start               -> RemoteStartTransaction
    POST /api/v3/chargers/{identity}/actions/stop                -> RemoteStopTransaction
    POST /api/v3/chargers/{identity}/actions/charge-limit        -> SetChargingProfile
    POST /api/v3/chargers/{identity}/actions/reserve             -> ReserveNow
    POST /api/v3/chargers/{identity}/actions/cancel-reservation  -> CancelReservation
    POST /api/v3/chargers/{identity}/actions/local-list          -> SendLocalList
    POST /api/v3/chargers/{identity}/actions/local-list-version  -> GetLocalListVersion
    POST /api/v3/chargers/{identity}/actions/certificate-*       -> certificate_actions.py

Plugchoice names a charger by its UUID; this backend has none, so `{identity}` is the charge
point identity (the board's charge_point_id, the chargers file's `identity`), as everywhere
else in it. reserve and cancel-reservation are ours, in the same style (Plugchoice documents
no reservation call), and so are local-list and local-list-version (the charger's local
authorization list). Each answers `{"status": <the charger's answer>}` (200 also for
Rejected: that is the charger's word, not an API error); local-list-version answers
`{"list_version": n}`.

Authentication: `Authorization: Bearer <operator token>`, the token given to `chargerctl
backend --operator-token` (env CHARGERCTL_OPERATOR_TOKEN) or the chargers file's top-level
`operator_token`. Without one the actions are off (403); a missing or wrong token is 401. The
token is compared in constant time and never logged. Errors: 404 unknown identity, 422 a
bad field (every field's sentence), 400 charger offline, 502 the charger answered with a
CALLERROR (its code is named) or an answer that breaks the OCPP schema, 504 no answer in
time, 429 over the per-IP limit.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated

from fastapi import FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from ocpp.v16 import call

from . import operator_fields as fields
from . import oplog, schemas
from .clock import iso, ocpp_time
from .ocpp_server import ChargerCallError
from .sessions import ChargerOffline, ChargerTimeout

ACTIONS = "/api/v3/chargers/{identity}/actions/"
TOKEN_ENV = "CHARGERCTL_OPERATOR_TOKEN"
# How long a remote start's idTag is accepted in Authorize/StartTransaction without a public
# session: the charger waits for a cable up to its ConnectionTimeOut (seconds to minutes).
START_VOUCH_S = 600.0
# chargingProfileId of a charge limit: one per connector and stack level, so a new limit at the
# same place replaces the old one (same id), and limits elsewhere never touch each other.
_PROFILE_ID_BASE = 1_000_000

_BEARER = HTTPBearer(auto_error=False, scheme_name="operatorToken",
                     description="The operator token: `chargerctl backend --operator-token` "
                                 f"(env {TOKEN_ENV}) or the chargers file's `operator_token`.")
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
_MSG = {"model": schemas.Message}
_ERRORS = {400: _MSG, 401: _MSG, 403: _MSG, 404: _MSG,
           422: {"model": schemas.ValidationErrors}, 429: _MSG,
           409: _MSG, 502: {"model": schemas.ChargerErrorMessage}, 504: _MSG}


class ReservationElsewhere(Exception):
    """A reservation_id this backend holds for another charger: (id, its charger)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _denied(backend, credentials: HTTPAuthorizationCredentials | None,
            request: Request) -> tuple[int, dict, dict] | None:
    """None when the Bearer token is the operator token; else the 403/401 answer (status,
    body, headers)."""
    client = request.client.host if request.client else None
    expected = backend.operator_token
    if not expected:
        oplog.log("operator.denied", reason="off", client=client)
        return 403, {"message": "The operator actions are off: this backend has no operator "
                                "token. Start it with --operator-token (or "
                                f"{TOKEN_ENV}), or set \"operator_token\" in the chargers "
                                "file."}, {}
    given = credentials.credentials if credentials else None
    # equal digests, compared in constant time: neither the token nor its length leaks
    if given and hmac.compare_digest(_digest(given), _digest(expected)):
        return None
    oplog.log("operator.denied", reason="wrong_token" if given else "no_token", client=client)
    return 401, {"message": "Unauthenticated." if given is None else
                 "Unauthenticated: the operator token is wrong."}, \
        {"WWW-Authenticate": 'Bearer realm="operator"'}


def _charge_limit_profile(connector_id: int, limit: Decimal, stack_level: int,
                          now: float) -> dict:
    """The SetChargingProfile of `actions/charge-limit`.

    Plugchoice: "connector_id 0 = the charge point level", "limit in amperes", "higher stack
    levels take priority". A limit that stays until it is replaced, for whatever charges:
    - on 0 a ChargePointMaxProfile (the only purpose connector 0 caps all connectors with);
    - on a connector a TxDefaultProfile: it applies to the transaction running now and to
      every later one (a TxProfile would need a running transaction and die with it);
    - Absolute from now with one period and no duration: in force at once, with or without a
      transaction (Relative has no start without one), until a new limit replaces it.
    `A` per phase, as Plugchoice gives it; no numberPhases (the charger's own)."""
    return {
        "charging_profile_id": _PROFILE_ID_BASE + connector_id * 1000 + stack_level,
        "stack_level": stack_level,
        "charging_profile_purpose": "ChargePointMaxProfile" if connector_id == 0
        else "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "start_schedule": ocpp_time(now),
            "charging_rate_unit": "A",
            "charging_schedule_period": [{"start_period": 0, "limit": float(limit)}],
        },
    }


def add_action_routes(app: FastAPI) -> None:
    from .api import _body, _json  # api.py calls this at the end of create_app

    backend = app.state.backend
    store, central, clock = backend.store, backend.central, backend.central.clock

    def route(name: str, summary: str, description: str, request_schema: dict,
              validate: Callable[[object, dict], tuple[dict, dict]],
              send: Callable[[str, dict], Awaitable[dict]], model=schemas.ActionStatus) -> None:
        @app.post(ACTIONS + name, response_model=None, name="action_" + name.replace("-", "_"),
                  tags=["operator actions"], summary=summary, description=description,
                  responses={200: {"model": model}, **_ERRORS},
                  openapi_extra={"requestBody": {"required": True, "content": {
                      "application/json": {"schema": request_schema}}}})
        async def act(identity: str, request: Request, credentials: _Credentials):
            ip = request.client.host if request.client else "unknown"
            v = backend.limiter.hit(f"actions|{ip}", backend.limits["actions"])
            if not v.allowed:
                return _json(429, {"message": "Too Many Attempts."}, v)
            denied = _denied(backend, credentials, request)
            if denied is not None:
                return _json(denied[0], denied[1], v, denied[2])
            charger = store.charger(identity)
            if charger is None:
                return _json(404, {"message": f"No charger with identity {identity!r} in this "
                                              "backend's chargers file."}, v)
            values, errors = validate(await _body(request), charger)
            if errors:
                return _json(422, {"message": "The given data was invalid.", "errors": errors}, v)
            offline = _json(400, {"message": f"The charger {identity} is offline: it has no "
                                             "OCPP connection to this backend."}, v)
            if not central.is_online(identity):
                return offline
            try:
                answer = await send(identity, values)
            except ChargerOffline:
                return offline
            except ReservationElsewhere as e:
                return _json(409, {"message": f"Reservation {e.args[0]} is the charger "
                                              f"{e.args[1]}'s: choose another reservation_id or "
                                              "leave it out (the backend assigns one)."}, v)
            except ChargerTimeout:
                oplog.log("operator.action", identity=identity, action=name, answer="timeout")
                return _json(504, {"message": f"The charger {identity} did not answer within "
                                              f"{central.call_timeout:g} s."}, v)
            except ChargerCallError as e:
                oplog.log("operator.action", identity=identity, action=name, answer=e.code,
                          from_charger=e.from_charger)
                what = (f"answered {e.action} with the error {e.code}" if e.from_charger else
                        f"answered {e.action} with a payload that breaks the OCPP 1.6 schema "
                        f"({e.code})")
                desc = f": {e.description}" if e.description else ""
                return _json(502, {"message": f"The charger {identity} {what}{desc}.",
                                   "ocpp_error": {"code": e.code, "description": e.description,
                                                  "from_charger": e.from_charger}}, v)
            oplog.log("operator.action", identity=identity, action=name,
                      answer=answer.get("status", answer.get("list_version")), client=ip)
            return _json(200, answer, v)

    # the security whitepaper's certificates: their own module, through the same route
    from .certificate_actions import add_certificate_routes
    add_certificate_routes(route, central)

    def withdraw(identity: str, id_tag: str) -> None:
        """A cancelled reservation vouches for nothing: the idTag stays accepted only as long as
        another live reservation the charger accepted holds it."""
        now = clock()
        other = store.one("SELECT max(expiry) AS t FROM reservations WHERE identity = ? AND "
                          "id_tag = ? AND status = 'Accepted' AND expiry > ?", identity, id_tag, now)
        store.db.execute("UPDATE operator_id_tags SET valid_until = min(valid_until, ?) "
                         "WHERE identity = ? AND id_tag = ?",
                         (max(now, (other or {}).get("t") or now), identity, id_tag))

    async def vouched_call(identity: str, id_tag: str, until: float, payload) -> str:
        # vouch first: Authorize and StartTransaction may arrive right behind the answer. A
        # refusal puts back the voucher as it was (an earlier start or reservation keeps its
        # own); a timeout keeps it (the charger may have acted on the call).
        before = store.one("SELECT valid_until FROM operator_id_tags WHERE identity = ? AND "
                           "id_tag = ?", identity, id_tag)
        store.vouch_id_tag(identity, id_tag, until)

        def put_back() -> None:
            store.db.execute("UPDATE operator_id_tags SET valid_until = ? WHERE identity = ? "
                             "AND id_tag = ?", (before["valid_until"] if before else clock(),
                                                identity, id_tag))

        try:
            status = await central.operator_call(identity, payload)
        except ChargerCallError:
            put_back()
            raise
        if status != "Accepted":
            put_back()
        return status

    async def start(identity: str, values: dict) -> dict:
        return {"status": await vouched_call(
            identity, values["id_token"], clock() + START_VOUCH_S, call.RemoteStartTransaction(
                id_tag=values["id_token"], connector_id=values["connector_id"]))}

    async def stop(identity: str, values: dict) -> dict:
        return {"status": await central.operator_call(identity, call.RemoteStopTransaction(
            transaction_id=values["transaction_id"]))}

    async def charge_limit(identity: str, values: dict) -> dict:
        profile = _charge_limit_profile(values["connector_id"], values["limit"],
                                        values["stack_level"], clock())
        status = await central.operator_call(identity, call.SetChargingProfile(
            connector_id=values["connector_id"], cs_charging_profiles=profile))
        if status == "Accepted":  # on the charger now: the sessions there show it
            store.set_charge_limit(identity, values["connector_id"], values["stack_level"],
                                   float(values["limit"]), clock())
        return {"status": status}

    async def reserve(identity: str, values: dict) -> dict:
        now = clock()
        row = {"identity": identity, "connector_id": values["connector_id"],
               "id_tag": values["id_token"], "expiry": values["expiry"], "created_at": now}
        rid = values["reservation_id"]
        old = None
        if rid is None:  # SQLite gives the next free id
            rid = store.insert("reservations", **row)
        else:
            old = store.one("SELECT identity FROM reservations WHERE id = ?", rid)
            if old is not None and old["identity"] != identity:
                raise ReservationElsewhere(rid, old["identity"])
            if old is None:
                store.insert("reservations", id=rid, **row)
        reserve_now = call.ReserveNow(
            connector_id=values["connector_id"], expiry_date=ocpp_time(values["expiry"]),
            id_tag=values["id_token"], reservation_id=rid)
        status = None
        try:
            status = await vouched_call(identity, values["id_token"], values["expiry"],
                                        reserve_now)
        finally:  # what the charger said, or nothing (offline, timeout, CALLERROR)
            if old is None:
                store.update("reservations", rid, status=status)
            elif status == "Accepted":  # a known id is replaced, on the charger as here
                store.db.execute("DELETE FROM reservations WHERE id = ?", (rid,))
                store.insert("reservations", id=rid, status=status, **row)
            # a refused replacement keeps the old row: the charger keeps the old reservation
        return {"status": status, "reservation_id": rid, "expires_at": iso(values["expiry"])}

    async def cancel_reservation(identity: str, values: dict) -> dict:
        rid = values["reservation_id"]
        status = await central.operator_call(identity, call.CancelReservation(reservation_id=rid))
        row = store.one("SELECT * FROM reservations WHERE id = ? AND identity = ?", rid, identity)
        if status == "Accepted" and row is not None:
            store.update("reservations", rid, status="Cancelled")
            withdraw(identity, row["id_tag"])
        return {"status": status}

    async def local_list(identity: str, values: dict) -> dict:
        version = values["list_version"]
        if version is None:  # the charger's next: one more than it has (-1, none: 1)
            have = await central.operator_call(identity, call.GetLocalListVersion(),
                                               "list_version")
            version = max(int(have), 0) + 1
        entries = []
        for e in values["entries"]:
            entry: dict = {"id_tag": e["id_tag"]}
            if "status" in e:  # without: a Differential's delete
                info = {"status": e["status"]}
                if "expiry" in e:
                    info["expiry_date"] = ocpp_time(e["expiry"])
                if "parent_id_tag" in e:
                    info["parent_id_tag"] = e["parent_id_tag"]
                entry["id_tag_info"] = info
            entries.append(entry)
        status = await central.operator_call(identity, call.SendLocalList(
            list_version=version, update_type=values["update_type"],
            local_authorization_list=entries))
        return {"status": status, "list_version": version}

    async def local_list_version(identity: str, values: dict) -> dict:
        return {"list_version": await central.operator_call(identity, call.GetLocalListVersion(),
                                                            "list_version")}

    route("start", "Start a transaction (RemoteStartTransaction)",
          "The charger starts a transaction for `id_token` on `connector_id` (or one it picks) "
          "once an EV is plugged in. The backend accepts that idTag from this charger for "
          f"{START_VOUCH_S / 60:g} minutes without a public session. Answer: the charger's "
          "status, Accepted or Rejected.", schemas.ACTION_START,
          fields.start, start)
    route("stop", "Stop a transaction (RemoteStopTransaction)",
          "Answer: the charger's status, Accepted or Rejected (e.g. an unknown transaction).",
          schemas.ACTION_STOP, lambda data, charger: fields.stop(data), stop)
    route("charge-limit", "Set a current limit (SetChargingProfile)",
          "A limit in amperes per phase at `stack_level` (default 1; higher stack levels take "
          "priority; not all chargers support all stack levels). `connector_id` 0: the charge "
          "point as a whole (ChargePointMaxProfile); N: connector N (TxDefaultProfile, for the "
          "transaction running now and the next ones). An Absolute profile from now with one "
          "period; a new limit at the same connector and stack level replaces the old one. "
          "Answer: Accepted, Rejected or NotSupported; a firmware without smart charging "
          "answers a CALLERROR NotSupported (502).", schemas.ACTION_CHARGE_LIMIT,
          fields.charge_limit, charge_limit)
    route("reserve", "Reserve a connector (ReserveNow)",
          "Reserves `connector_id` (0: any connector of the charger, if it supports that) for "
          "`id_token` until `expires_at` or for `minutes`. `reservation_id`: the backend assigns "
          "one when absent; a known one is replaced. Answer: the charger's status (Accepted, "
          "Faulted, Occupied, Rejected or Unavailable), the reservation_id and expires_at. The "
          "backend accepts the idTag from this charger until the reservation expires.",
          schemas.ACTION_RESERVE, lambda data, charger: fields.reserve(data, charger, clock()),
          reserve, model=schemas.ReserveStatus)
    route("cancel-reservation", "Cancel a reservation (CancelReservation)",
          "Answer: the charger's status, Accepted, or Rejected for a reservation it does not "
          "know.", schemas.ACTION_CANCEL_RESERVATION,
          lambda data, charger: fields.cancel_reservation(data), cancel_reservation)
    route("local-list", "Send the local authorization list (SendLocalList)",
          "The idTags the charger may authorize by itself, also offline: `update_type` Full "
          "replaces its list with `entries` (none: an empty list), Differential adds or updates "
          "each entry with a `status` and deletes each one without. `list_version`: the "
          "charger's version plus one when absent (a Differential one must be above the "
          "charger's). Answer: the charger's status (Accepted; Failed, e.g. more entries than "
          "its SendLocalListMaxLength or LocalAuthListMaxLength; VersionMismatch; NotSupported, "
          "its list disabled) and the list_version sent; a firmware without the "
          "LocalAuthListManagement profile answers a CALLERROR NotSupported (502).",
          schemas.ACTION_LOCAL_LIST, lambda data, charger: fields.local_list(data), local_list,
          model=schemas.LocalListStatus)
    route("local-list-version", "Read the local list's version (GetLocalListVersion)",
          "Answer: `list_version`, the version of the charger's local authorization list: 0 "
          "when it has none, -1 when it has no local list (or it is disabled).",
          schemas.ACTION_LOCAL_LIST_VERSION, lambda data, charger: ({}, {}), local_list_version,
          model=schemas.LocalListVersion)
