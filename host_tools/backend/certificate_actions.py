"""The operator's certificate actions (OCPP 1.6 security whitepaper), in operator_actions.py's
style and through its `route` (token, rate limit, 404/400/502/504 answers):

    POST /api/v3/chargers/{identity}/actions/certificate-install  -> InstallCertificate
    POST /api/v3/chargers/{identity}/actions/certificate-list     -> GetInstalledCertificateIds
    POST /api/v3/chargers/{identity}/actions/certificate-delete   -> DeleteCertificate

Ours (Plugchoice documents no certificate call). certificate-install answers `{"status"}`
(Accepted, Rejected, Failed); certificate-list `{"status": Accepted|NotFound, "certificates":
[CertificateHashData...]}`; certificate-delete `{"status"}` (Accepted, NotFound, Failed: e.g.
the CentralSystemRootCertificate the charger's connection was verified with). A CA rotation is
install (the new root), switch the server certificate, then delete (the old root) once the
charger is connected with the new one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from ocpp.v16 import call
from pydantic import BaseModel, Field

TYPES = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
HASH_ALGORITHMS = ("SHA256", "SHA384", "SHA512")
CERTIFICATE_MAX = 5500  # InstallCertificate.req certificate: string[0..5500] (PEM)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# CertificateHashDataType: hashes string[0..128], serialNumber string[0..40]
_HASH_FIELDS = (("issuer_name_hash", 128), ("issuer_key_hash", 128), ("serial_number", 40))

Errors = dict[str, list[str]]


def _type(data: dict, errors: Errors) -> str | None:
    v = data.get("certificate_type")
    if v is None or v == "":
        errors["certificate_type"] = ["The certificate type field is required."]
    elif v not in TYPES:
        errors["certificate_type"] = ["The selected certificate type is invalid: "
                                      f"{' or '.join(TYPES)}."]
    else:
        return v
    return None


def install_fields(data: object) -> tuple[dict, Errors]:
    data = data if isinstance(data, dict) else {}
    errors: Errors = {}
    values = {"certificate_type": _type(data, errors), "certificate": None}
    pem = data.get("certificate")
    if pem is None or pem == "":
        errors["certificate"] = ["The certificate field is required."]
    elif not isinstance(pem, str):
        errors["certificate"] = ["The certificate field must be a string (PEM)."]
    elif len(pem) > CERTIFICATE_MAX:
        errors["certificate"] = [f"The certificate field must not be greater than "
                                 f"{CERTIFICATE_MAX} characters."]
    elif "-----BEGIN CERTIFICATE-----" not in pem or "-----END CERTIFICATE-----" not in pem:
        errors["certificate"] = ["The certificate field must be a PEM certificate "
                                 "(-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)."]
    else:
        values["certificate"] = pem
    return values, errors


def list_fields(data: object) -> tuple[dict, Errors]:
    data = data if isinstance(data, dict) else {}
    errors: Errors = {}
    return {"certificate_type": _type(data, errors)}, errors


def delete_fields(data: object) -> tuple[dict, Errors]:
    data = data if isinstance(data, dict) else {}
    errors: Errors = {}
    h = data.get("certificate_hash_data")
    if not isinstance(h, dict):
        errors["certificate_hash_data"] = ["The certificate hash data field is required: an "
                                           "object as certificate-list answers."]
        return {}, errors
    out: dict = {}
    alg = h.get("hash_algorithm")
    if alg not in HASH_ALGORITHMS:
        errors["certificate_hash_data.hash_algorithm"] = [
            f"The selected hash algorithm is invalid: {', '.join(HASH_ALGORITHMS)}."]
    else:
        out["hash_algorithm"] = alg
    for name, most in _HASH_FIELDS:
        v = h.get(name)
        at = f"certificate_hash_data.{name}"
        if not isinstance(v, str) or not v:
            errors[at] = [f"The {at} field is required (hex)."]
        elif len(v) > most or not _HEX.match(v):
            errors[at] = [f"The {at} field must be hex of at most {most} digits."]
        else:
            out[name] = v
    unknown = sorted(set(h) - {"hash_algorithm", *(n for n, _ in _HASH_FIELDS)})
    if unknown:
        errors["certificate_hash_data"] = [f"The certificate hash data field has unknown fields: "
                                           f"{', '.join(unknown)}."]
    return {"certificate_hash_data": out}, errors


_TYPE_SCHEMA = {"type": "string", "enum": list(TYPES)}
_HASH_SCHEMA = {"type": "object", "additionalProperties": False,
                "required": ["hash_algorithm", "issuer_name_hash", "issuer_key_hash", "serial_number"],
                "properties": {"hash_algorithm": {"type": "string", "enum": list(HASH_ALGORITHMS)},
                               "issuer_name_hash": {"type": "string", "maxLength": 128},
                               "issuer_key_hash": {"type": "string", "maxLength": 128},
                               "serial_number": {"type": "string", "maxLength": 40}}}
INSTALL_SCHEMA = {"type": "object", "required": ["certificate_type", "certificate"],
                  "properties": {"certificate_type": _TYPE_SCHEMA,
                                 "certificate": {"type": "string", "maxLength": CERTIFICATE_MAX,
                                                 "description": "The root certificate, PEM"}}}
LIST_SCHEMA = {"type": "object", "required": ["certificate_type"],
               "properties": {"certificate_type": _TYPE_SCHEMA}}
DELETE_SCHEMA = {"type": "object", "required": ["certificate_hash_data"],
                 "properties": {"certificate_hash_data": _HASH_SCHEMA}}


class CertificateHashData(BaseModel):
    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


class CertificateList(BaseModel):
    status: str = Field(description="Accepted, or NotFound when the charger has none of the type")
    certificates: list[CertificateHashData] = Field(description="Their hash data (empty: NotFound)")


def add_certificate_routes(route: Callable, central) -> None:
    """operator_actions.add_action_routes calls this with its `route`."""

    async def install(identity: str, values: dict) -> dict:
        return {"status": await central.operator_call(identity, call.InstallCertificate(
            certificate_type=values["certificate_type"], certificate=values["certificate"]))}

    async def listed(identity: str, values: dict) -> dict:
        # the answer's certificateHashData: absent with NotFound, a list with Accepted
        found = await central.operator_call(identity, call.GetInstalledCertificateIds(
            certificate_type=values["certificate_type"]), "certificate_hash_data")
        return {"status": "Accepted" if found else "NotFound", "certificates": found or []}

    async def delete(identity: str, values: dict) -> dict:
        return {"status": await central.operator_call(identity, call.DeleteCertificate(
            certificate_hash_data=values["certificate_hash_data"]))}

    send: Callable[[str, dict], Awaitable[dict]]
    for name, summary, description, schema, validate, send, model in (
        ("certificate-install", "Install a root certificate (InstallCertificate)",
         "A CentralSystemRootCertificate (a CA the charger's wss:// connection trusts, tried "
         "before the older ones) or a ManufacturerRootCertificate (signed firmware), PEM. "
         "Answer: Accepted; Rejected (not a certificate, expired, not a CA, or the charger's "
         "store full: CertificateStoreMaxLength); Failed (the charger could not store it).",
         INSTALL_SCHEMA, install_fields, install, None),
        ("certificate-list", "List installed certificates (GetInstalledCertificateIds)",
         "The CertificateHashData of each installed certificate of `certificate_type` (a "
         "charger's provisioned CA counts as a CentralSystemRootCertificate). Answer: status "
         "Accepted or NotFound, and `certificates`.", LIST_SCHEMA, list_fields, listed,
         CertificateList),
        ("certificate-delete", "Delete an installed certificate (DeleteCertificate)",
         "The certificate `certificate_hash_data` names (as certificate-list gives it). Answer: "
         "Accepted, NotFound, or Failed (e.g. the CA the charger's connection was verified "
         "with: connect it with another first).", DELETE_SCHEMA, delete_fields, delete, None),
    ):
        kw = {"model": model} if model else {}
        route(name, summary, description, schema,
              lambda data, charger, v=validate: v(data), send, **kw)
