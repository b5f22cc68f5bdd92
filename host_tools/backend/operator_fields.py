"""Validation of the operator actions' bodies, in the API's Laravel style: every bad field gets
its sentence, `{"field": ["The field ... ."]}`, and the answer is 422 with all of them.

    start(data, charger)        -> (values, errors)   connector_id?, id_token
    stop(data)                  -> (values, errors)   transaction_id
    charge_limit(data, charger) -> (values, errors)   connector_id, limit, stack_level?
    reserve(data, charger, now) -> (values, errors)   connector_id, id_token, expires_at | minutes,
                                                      reservation_id?
    cancel_reservation(data)    -> (values, errors)   reservation_id
    local_list(data)            -> (values, errors)   update_type, entries, list_version?
    update_firmware(data, known, now) -> (values, errors)   bundle | location, retrieve_date?,
                                                      retries?, retry_interval?
    get_diagnostics(data)       -> (values, errors)   start_time?, stop_time?, retries?,
                                                      retry_interval?
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation

ID_TOKEN_MAX = 20  # OCPP 1.6 idTag: CiString20Type
INT32_MAX = 2**31 - 1  # an OCPP integer (transactionId, reservationId)
STACK_LEVEL_MAX = 100  # far above any charger's ChargeProfileMaxStackLevel; the charger decides
LIMIT_MAX_A = 1000  # amperes; a limit above the charger's rating is its own to refuse
RESERVE_MAX_MINUTES = 24 * 60
# entries in one SendLocalList: the charger refuses more than its SendLocalListMaxLength
# (Failed); this bound only keeps a request to what one WebSocket frame of the charger can hold
LOCAL_LIST_MAX = 500
LIST_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
UPDATE_TYPES = ("Full", "Differential")
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


def _one_of(data: dict, errors: Errors, name: str, other: str) -> str | None:
    """Which of two fields that exclude each other is given; None (and the error under `name`,
    worded as Plugchoice's API words it) when both are, or neither."""
    has, has_other = data.get(name) is not None, data.get(other) is not None
    if has != has_other:
        return name if has else other
    label = name.replace("_", " ")
    errors[name] = [f"The {label} field prohibits {other} from being present." if has else
                    f"The {label} field is required when {other} is not present."]
    return None


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
    given = _one_of(data, errors, "expires_at", "minutes")
    if given == "expires_at":
        t = _when(data["expires_at"])
        if t is None:
            errors["expires_at"] = ["The expires at field must be a date and time with its "
                                    "offset, e.g. 2026-01-10T14:30:00Z."]
        elif not now < t <= now + RESERVE_MAX_MINUTES * 60:
            errors["expires_at"] = ["The expires at field must be a date after now and at most "
                                    "24 hours ahead."]
        else:
            values["expiry"] = t
    elif given == "minutes":
        m = _int(data, "minutes", errors, 1, RESERVE_MAX_MINUTES)
        if m is not None:
            values["expiry"] = now + m * 60
    return values, errors


def cancel_reservation(data: object) -> tuple[dict, Errors]:
    data, errors = _object(data), {}
    return {"reservation_id": _int(data, "reservation_id", errors, 0, INT32_MAX)}, errors


def _tag(v: object) -> str | None:
    """What is wrong with an idTag value (None: nothing)."""
    if not isinstance(v, str):
        return "must be a string"
    if not v:
        return "is required"
    if len(v) > ID_TOKEN_MAX:
        return f"must not be greater than {ID_TOKEN_MAX} characters"
    if not _PRINTABLE.match(v):
        return "must contain printable ASCII characters only (an OCPP idTag)"
    return None


def local_list(data: object) -> tuple[dict, Errors]:
    """A SendLocalList's fields: every bad entry's field is named by its index
    (`entries.3.id_tag`), as Laravel names the fields of an array."""
    data, errors = _object(data), {}
    values: dict = {"list_version": _int(data, "list_version", errors, 1, INT32_MAX, required=False),
                    "update_type": None, "entries": []}
    kind = data.get("update_type")
    if kind is None or kind == "":
        errors["update_type"] = ["The update type field is required."]
    elif kind not in UPDATE_TYPES:
        errors["update_type"] = ["The selected update type is invalid: Full or Differential."]
    else:
        values["update_type"] = kind
    entries = data.get("entries")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        errors["entries"] = ["The entries field must be an array."]
        return values, errors
    if len(entries) > LOCAL_LIST_MAX:
        errors["entries"] = [f"The entries field must not have more than {LOCAL_LIST_MAX} items."]
        return values, errors
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        at = f"entries.{i}"
        if not isinstance(e, dict):
            errors[at] = [f"The {at} field must be an object."]
            continue
        unknown = sorted(set(e) - {"id_tag", "status", "expiry_date", "parent_id_tag"})
        if unknown:
            errors[at] = [f"The {at} field has unknown fields: {', '.join(unknown)}."]
        out: dict = {}
        why = _tag(e.get("id_tag"))
        if why:
            errors[at + ".id_tag"] = [f"The {at}.id_tag field {why}."]
        else:
            key = e["id_tag"].lower()  # idTags compare case-insensitively
            if key in seen:
                errors[at + ".id_tag"] = [f"The {at}.id_tag field is entries.{seen[key]}'s "
                                          "idTag again (idTags compare case-insensitively)."]
            seen[key] = i
            out["id_tag"] = e["id_tag"]
        status = e.get("status")
        if status is None:
            if kind == "Full":
                errors[at + ".status"] = [f"The {at}.status field is required in a Full update "
                                          "(in a Differential one, no status deletes the idTag)."]
            elif "expiry_date" in e or "parent_id_tag" in e:
                errors[at + ".status"] = [f"The {at}.status field is required with expiry_date "
                                          "or parent_id_tag."]
        elif status not in LIST_STATUSES:
            errors[at + ".status"] = [f"The selected {at}.status is invalid: one of "
                                      f"{', '.join(LIST_STATUSES)}."]
        else:
            out["status"] = status
        if e.get("expiry_date") is not None:
            t = _when(e["expiry_date"])
            if t is None:
                errors[at + ".expiry_date"] = [f"The {at}.expiry_date field must be a date and "
                                               "time with its offset, e.g. 2027-01-10T14:30:00Z."]
            else:
                out["expiry"] = t
        if e.get("parent_id_tag") is not None:
            why = _tag(e["parent_id_tag"])
            if why:
                errors[at + ".parent_id_tag"] = [f"The {at}.parent_id_tag field {why}."]
            else:
                out["parent_id_tag"] = e["parent_id_tag"]
        values["entries"].append(out)
    return values, errors


# UpdateFirmware / GetDiagnostics ---------------------------------------------------------
RETRIES_MAX = 10  # download or upload attempts beyond the first; a charger may cap lower
RETRY_INTERVAL_MAX_S = 24 * 3600
RETRIEVE_AHEAD_MAX_S = 30 * 24 * 3600  # an update planned further ahead is a typo
LOCATION_MAX = 512  # our own URLs are < 150 characters; the charger's buffers are small
_URL = re.compile(r"^https?://[^\s/?#@]+(/[^\s]*)?$", re.IGNORECASE)


def _retries(data: dict, errors: Errors, values: dict) -> None:
    values["retries"] = _int(data, "retries", errors, 0, RETRIES_MAX, required=False)
    values["retry_interval"] = _int(data, "retry_interval", errors, 1, RETRY_INTERVAL_MAX_S,
                                    required=False)


def _time(data: dict, field: str, errors: Errors) -> float | None:
    v = data.get(field)
    if v is None:
        return None
    t = _when(v)
    if t is None:
        errors[field] = [f"The {_words(field)} field must be a date and time with its offset, "
                         "e.g. 2026-01-10T14:30:00Z."]
    return t


def update_firmware(data: object, bundle_known: Callable[[str], bool],
                    now: float) -> tuple[dict, Errors]:
    """`bundle` (a name `POST /api/v3/firmware` answered) or `location` (an http(s) URL the
    charger downloads from), one of them; `retrieve_date` (absent: now; past: the charger
    starts at once; at most 30 days ahead); `retries`, `retry_interval` (s)."""
    data, errors = _object(data), {}
    values: dict = {"bundle": None, "location": None, "retrieve": now}
    given = _one_of(data, errors, "bundle", "location")
    bundle, location = data.get("bundle"), data.get("location")
    if given == "bundle":
        if not isinstance(bundle, str) or not bundle_known(bundle):
            errors["bundle"] = ["The selected bundle is invalid: upload it first (POST "
                                "/api/v3/firmware answers its name)."]
        else:
            values["bundle"] = bundle
    elif given == "location":
        if not isinstance(location, str) or not _URL.match(location):
            errors["location"] = ["The location field must be an http:// or https:// URL."]
        elif len(location) > LOCATION_MAX:
            errors["location"] = [f"The location field must not be greater than {LOCATION_MAX} "
                                  "characters."]
        else:
            values["location"] = location
    t = _time(data, "retrieve_date", errors)
    if t is not None:
        if t > now + RETRIEVE_AHEAD_MAX_S:
            errors["retrieve_date"] = ["The retrieve date field must be at most 30 days ahead."]
        else:
            values["retrieve"] = t
    _retries(data, errors, values)
    return values, errors


def get_diagnostics(data: object) -> tuple[dict, Errors]:
    """`start_time`, `stop_time` (the log's window, both optional, start before stop);
    `retries`, `retry_interval` (s)."""
    data, errors = _object(data), {}
    values: dict = {"start": _time(data, "start_time", errors),
                    "stop": _time(data, "stop_time", errors)}
    if values["start"] is not None and values["stop"] is not None and \
            values["start"] >= values["stop"]:
        errors["stop_time"] = ["The stop time field must be a date after start time."]
    _retries(data, errors, values)
    return values, errors
