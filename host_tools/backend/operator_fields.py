"""Validation of the operator actions' bodies, in the API's Laravel style: every bad field gets
its sentence, `{"field": ["The field ... ."]}`, and the answer is 422 with all of them.

    start(data, charger)        -> (values, errors)   connector_id?, id_token
    stop(data)                  -> (values, errors)   transaction_id
    charge_limit(data, charger) -> (values, errors)   connector_id, limit, stack_level?
    reserve(data, charger, now) -> (values, errors)   connector_id, id_token, expires_at | minutes,
                                                      reservation_id?
    cancel_reservation(data)    -> (values, errors)   reservation_id
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

ID_TOKEN_MAX = 20  # OCPP 1.6 idTag: CiString20Type
INT32_MAX = 2**31 - 1  # an OCPP integer (transactionId, reservationId)
STACK_LEVEL_MAX = 100  # far above any charger's ChargeProfileMaxStackLevel; the charger decides
LIMIT_MAX_A = 1000  # amperes; a limit above the charger's rating is its own to refuse
RESERVE_MAX_MINUTES = 24 * 60
# OCPP 1.6 CiString: printable ASCII only
_PRINTABLE = re.compile(r"^[\x20-\x7e]+$")

Errors = dict[str, list[str]]


def _words(field: str) -> str:
    return field.replace("_", " ")


def _int(data: dict, field: str, errors: Errors, lo: int, hi: int,
         required: bool = True) -> int | None:
    v = data.get(field)
    if v is None or v == "":
        if required:
            errors[field] = [f"The {_words(field)} field is required."]
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        errors[field] = [f"The {_words(field)} field must be an integer."]
        return None
    if not lo <= v <= hi:
        errors[field] = [f"The {_words(field)} field must be between {lo} and {hi}."]
        return None
    return v


def _connector(data: dict, errors: Errors, charger: dict, lo: int,
               required: bool = True) -> int | None:
    cid = _int(data, "connector_id", errors, lo, 100, required)
    if cid is not None and cid > charger["connectors"]:
        errors["connector_id"] = [f"The selected connector id is invalid: this charger has "
                                  f"{charger['connectors']} connector(s)."]
        return None
    return cid


def _id_token(data: dict, errors: Errors) -> str | None:
    v = data.get("id_token")
    if v is None or v == "":
        errors["id_token"] = ["The id token field is required."]
    elif not isinstance(v, str):
        errors["id_token"] = ["The id token field must be a string."]
    elif len(v) > ID_TOKEN_MAX:
        errors["id_token"] = [f"The id token field must not be greater than {ID_TOKEN_MAX} "
                              "characters."]
    elif not _PRINTABLE.match(v):
        errors["id_token"] = ["The id token field must contain printable ASCII characters only "
                              "(an OCPP idTag)."]
    else:
        return v
    return None


def _object(data: object) -> dict:
    return data if isinstance(data, dict) else {}


def start(data: object, charger: dict) -> tuple[dict, Errors]:
    data, errors = _object(data), {}
    values = {"connector_id": _connector(data, errors, charger, 1, required=False),
              "id_token": _id_token(data, errors)}
    return values, errors


def stop(data: object) -> tuple[dict, Errors]:
    data, errors = _object(data), {}
    return {"transaction_id": _int(data, "transaction_id", errors, 0, INT32_MAX)}, errors


def charge_limit(data: object, charger: dict) -> tuple[dict, Errors]:
    data, errors = _object(data), {}
    values = {"connector_id": _connector(data, errors, charger, 0),
              "limit": None,
              "stack_level": _int(data, "stack_level", errors, 0, STACK_LEVEL_MAX, required=False)}
    if values["stack_level"] is None and "stack_level" not in errors:
        values["stack_level"] = 1  # Plugchoice's default
    v = data.get("limit")
    if v is None or v == "":
        errors["limit"] = ["The limit field is required."]
    elif isinstance(v, bool) or not isinstance(v, int | float):
        errors["limit"] = ["The limit field must be a number."]
    else:
        try:
            amps = Decimal(str(v))
        except InvalidOperation:  # inf, nan
            amps = Decimal(-1)
        if not amps.is_finite() or not 0 <= amps <= LIMIT_MAX_A:
            errors["limit"] = [f"The limit field must be between 0 and {LIMIT_MAX_A} (amperes)."]
        elif amps != amps.quantize(Decimal("0.1")):
            # OCPP's chargingSchedulePeriod.limit is a multiple of 0.1
            errors["limit"] = ["The limit field must have 0-1 decimal places."]
        else:
            values["limit"] = amps
    return values, errors


def _when(v: object) -> float | None:
    """An ISO 8601 date and time with its offset (or Z) as seconds since the epoch."""
    if not isinstance(v, str) or len(v) > 40:
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00") if v.endswith("Z") else v)
    except ValueError:
        return None
    return t.timestamp() if t.tzinfo is not None else None


def reserve(data: object, charger: dict, now: float) -> tuple[dict, Errors]:
    data, errors = _object(data), {}
    values: dict = {"connector_id": _connector(data, errors, charger, 0),
                    "id_token": _id_token(data, errors),
                    "reservation_id": _int(data, "reservation_id", errors, 0, INT32_MAX,
                                           required=False),
                    "expiry": None}
    at, minutes = data.get("expires_at"), data.get("minutes")
    if at is not None and minutes is not None:
        errors["expires_at"] = ["The expires at field prohibits minutes from being present."]
    elif at is None and minutes is None:
        errors["expires_at"] = ["The expires at field is required when minutes is not present."]
    elif at is not None:
        t = _when(at)
        if t is None:
            errors["expires_at"] = ["The expires at field must be a date and time with its "
                                    "offset, e.g. 2026-01-10T14:30:00Z."]
        elif not now < t <= now + RESERVE_MAX_MINUTES * 60:
            errors["expires_at"] = ["The expires at field must be a date after now and at most "
                                    "24 hours ahead."]
        else:
            values["expiry"] = t
    else:
        m = _int(data, "minutes", errors, 1, RESERVE_MAX_MINUTES)
        if m is not None:
            values["expiry"] = now + m * 60
    return values, errors


def cancel_reservation(data: object) -> tuple[dict, Errors]:
    data, errors = _object(data), {}
    return {"reservation_id": _int(data, "reservation_id", errors, 0, INT32_MAX)}, errors
