"""The chargers file (format fixed in ARCHITECTURE.md) and its validation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_IDENTITY = re.compile(r"^[A-Za-z0-9._-]{1,48}$")
_PUBLIC_CODE = re.compile(r"^[A-Za-z0-9]{1,10}$")
# An operator token travels in an `Authorization: Bearer` header: visible ASCII, no spaces.
# At least 16 characters, so that it cannot be guessed within the actions' rate limit.
_OPERATOR_TOKEN = re.compile(r"^[\x21-\x7e]{16,256}$")


class ChargersFileError(ValueError):
    pass


@dataclass(frozen=True)
class Charger:
    identity: str
    name: str
    public_code: str
    public_charging: bool = True
    connectors: int = 1
    currency: str = "EUR"
    price_per_kwh: int = 0
    start_fee: int = 0
    preauth_amount: int = 5000
    max_sessions_per_hour: int = 10
    authorization_key: str | None = field(default=None, repr=False)
    # Connector descriptions for the charger lookup (OCPI vocabulary); defaults fit a type 2 socket.
    standard: str = "IEC_62196_T2"
    format: str = "SOCKET"
    power_type: str = "AC_3_PHASE"


def _int(entry: dict, key: str, default: int, where: str, lo: int = 0, hi: int = 10**9) -> int:
    v = entry.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ChargersFileError(f"{where}: {key} must be an integer {lo}..{hi}, got {v!r}")
    return v


def parse_charger(entry: object, where: str) -> Charger:
    if not isinstance(entry, dict):
        raise ChargersFileError(f"{where}: must be an object")
    identity = entry.get("identity")
    if not isinstance(identity, str) or not _IDENTITY.match(identity):
        raise ChargersFileError(f"{where}: identity must be 1..48 of [A-Za-z0-9._-], got {identity!r}")
    where = f"{where} ({identity})"
    code = entry.get("public_code")
    if not isinstance(code, str) or not _PUBLIC_CODE.match(code):
        raise ChargersFileError(f"{where}: public_code must be 1..10 letters/digits, got {code!r}")
    pricing = entry.get("pricing", {})
    if not isinstance(pricing, dict):
        raise ChargersFileError(f"{where}: pricing must be an object")
    currency = pricing.get("currency", "EUR")
    if not isinstance(currency, str) or not re.match(r"^[A-Za-z]{3}$", currency):
        raise ChargersFileError(f"{where}: pricing.currency must be a 3-letter code, got {currency!r}")
    key = entry.get("authorization_key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 40):
        raise ChargersFileError(f"{where}: authorization_key must be a string of 1..40 characters or null")
    name = entry.get("name", identity)
    if not isinstance(name, str):
        raise ChargersFileError(f"{where}: name must be a string")
    extra = {k: entry[k] for k in ("standard", "format", "power_type") if isinstance(entry.get(k), str)}
    return Charger(
        identity=identity,
        name=name,
        public_code=code.upper(),
        public_charging=bool(entry.get("public_charging", True)),
        connectors=_int(entry, "connectors", 1, where, 1, 100),
        currency=currency.upper(),
        price_per_kwh=_int(pricing, "price_per_kwh", 0, where + " pricing"),
        start_fee=_int(pricing, "start_fee", 0, where + " pricing"),
        preauth_amount=_int(entry, "preauth_amount", 5000, where, 1),
        max_sessions_per_hour=_int(entry, "max_sessions_per_hour", 10, where, 0),
        authorization_key=key,
        **extra,
    )


def parse_chargers(doc: object) -> list[Charger]:
    if not isinstance(doc, dict) or not isinstance(doc.get("chargers"), list):
        raise ChargersFileError('the chargers file must be {"chargers": [ ... ]}')
    chargers = [parse_charger(e, f"chargers[{i}]") for i, e in enumerate(doc["chargers"])]
    for attr in ("identity", "public_code"):
        seen: set[str] = set()
        for c in chargers:
            v = getattr(c, attr)
            if v in seen:
                raise ChargersFileError(f"two chargers share {attr} {v!r}; each must be unique")
            seen.add(v)
    return chargers


def parse_operator_token(doc: object, where: str = "the chargers file") -> str | None:
    """The optional top-level `"operator_token"`: the Bearer token of the operator calls
    (`POST /api/v3/chargers/{identity}/actions/...`); absent or null turns those calls off."""
    token = doc.get("operator_token") if isinstance(doc, dict) else None
    if token is not None:
        check_operator_token(token, f"{where}: operator_token")
    return token


def check_operator_token(token: object, where: str) -> str:
    if not isinstance(token, str) or not _OPERATOR_TOKEN.match(token):
        # never echo the value: it may be a real token with one character too many
        raise ChargersFileError(
            f"{where} must be 16..256 visible ASCII characters without spaces (e.g. the output "
            "of `python3 -c 'import secrets; print(secrets.token_urlsafe(24))'`)")
    return token


def read_chargers_file(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise ChargersFileError(f"cannot read chargers file {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ChargersFileError(f"chargers file {path} is not JSON: {e}") from e


def load_chargers(path: str | Path) -> list[Charger]:
    return parse_chargers(read_chargers_file(path))
