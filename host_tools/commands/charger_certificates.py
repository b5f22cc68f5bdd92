"""`chargerctl charger certificates install|list|delete`: the charger's root certificates
(OCPP 1.6 security whitepaper), through the backend's operator API
(host_tools/backend/certificate_actions.py). Registered on `chargerctl charger` by charger.py.

Exit 0 when the charger answered Accepted (list: also when it has none), 28 when it said no
(Rejected, NotFound, Failed), the operator API's codes otherwise.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

from host_tools.commands import CTX, console
from host_tools.commands.charger import _CODES, _fail, _options, charger
from host_tools.driver_errors import DriverError
from host_tools.exits import Exit, epilog
from host_tools.operator_client import ChargerSaidNo, OperatorClient

TYPES = {"central-system": "CentralSystemRootCertificate", "manufacturer": "ManufacturerRootCertificate"}
PEM_MAX = 5500  # InstallCertificate.req certificate: string[0..5500]


@charger.group("certificates", context_settings=CTX, epilog=epilog(*_CODES))
def certificates() -> None:
    """The charger's root certificates: install, list, delete.

    central-system: a CA the charger's wss:// connection trusts (with its provisioned ca_cert);
    manufacturer: a root that signs firmware. A CA rotation: install the new root, switch the
    central system's server certificate to one it issued (the charger reconnects with the new
    root), then delete the old root; the charger refuses (Failed) to delete the CA its
    connection was verified with.

    \b
    Examples:
      chargerctl charger certificates install --charger CP-1 --type central-system new-root.pem
      chargerctl charger certificates list --charger CP-1
      chargerctl charger certificates delete --charger CP-1 --serial 3a1f0c
    """


def _command(name: str) -> Callable:
    """A sub-command whose function gets an OperatorClient (`ops`) and returns (answer, line)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(identity: str, api: str, token: str | None, as_json: bool, **kw: Any) -> None:
            out = console(stderr=True)
            if not token:
                _fail(out, as_json, "No operator token: give --token or set CHARGERCTL_OPERATOR_TOKEN "
                                    "(the token the backend was started with).", Exit.USAGE)
            try:
                with OperatorClient(api, token) as ops:
                    answer, said = fn(ops, identity, **kw)
            except DriverError as err:
                if as_json:
                    click.echo(json.dumps({"error": err.message, "exit_code": int(err.exit_code),
                                           "http_status": err.status,
                                           "answer": getattr(err, "answer", None)}))
                _fail(out, False, err.message, err.exit_code)
            if as_json:
                click.echo(json.dumps(answer))
            else:
                console().print(said)

        return certificates.command(name, context_settings=CTX, epilog=epilog(*_CODES))(_options(run))

    return wrap


def _read_pem(file: str) -> str:
    try:
        with click.open_file(file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise click.BadParameter(f"cannot read {file}: {e}", param_hint="FILE") from None
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        raise click.BadParameter(f"{file} is not a PEM certificate (-----BEGIN CERTIFICATE-----).",
                                 param_hint="FILE")
    if text.count("-----BEGIN CERTIFICATE-----") > 1:
        raise click.BadParameter(f"{file} holds several certificates: give one root a file.",
                                 param_hint="FILE")
    if len(text) > PEM_MAX:
        raise click.BadParameter(f"{file} is {len(text)} characters; OCPP takes at most {PEM_MAX}.",
                                 param_hint="FILE")
    return text


_TYPE = click.Choice(sorted(TYPES))


@_command("install")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--type", "kind", type=_TYPE, required=True,
              help="central-system (a CA for the connection) or manufacturer (firmware signing).")
def install(ops: OperatorClient, identity: str, file: str, kind: str):
    """Install the root certificate in FILE (PEM; '-': standard input) (InstallCertificate).

    The charger answers Accepted, Rejected (not a certificate, expired, not a CA, or its store
    full: CertificateStoreMaxLength) or Failed (it could not store it).
    """
    pem = _read_pem(file)
    answer = ops.act(identity, "certificate-install", {"certificate_type": TYPES[kind], "certificate": pem})
    return answer, f"[green]{identity} answered Accepted[/]: {kind} root installed."


def _lists(ops: OperatorClient, identity: str, kinds) -> dict[str, list[dict]]:
    return {TYPES[k]: ops.act(identity, "certificate-list", {"certificate_type": TYPES[k]},
                              accepted_only=False)["certificates"] for k in kinds}


@_command("list")
@click.option("--type", "kind", type=_TYPE, default=None, help="Only this type (default: both).")
def list_(ops: OperatorClient, identity: str, kind: str | None):
    """List the charger's installed root certificates (GetInstalledCertificateIds): each one's
    serial number and hashes (SHA-256 of its issuer name and key), by type."""
    found = _lists(ops, identity, [kind] if kind else sorted(TYPES))
    lines = []
    for t, certs in found.items():
        lines.append(f"{t}: {len(certs) or 'none'}")
        lines += [f"  serial {c['serial_number']}  issuer name {c['issuer_name_hash'][:16]}..  "
                  f"key {c['issuer_key_hash'][:16]}.." for c in certs]
    return found, "\n".join(lines)


@_command("delete")
@click.option("--serial", required=True, metavar="HEX",
              help="The serial number (hex, as `list` shows it) of the certificate to delete.")
@click.option("--type", "kind", type=_TYPE, default=None,
              help="Look only among this type (default: both).")
def delete(ops: OperatorClient, identity: str, serial: str, kind: str | None):
    """Delete an installed root certificate by its serial number (DeleteCertificate with the
    hash data the charger lists for it).

    The charger answers Accepted, NotFound, or Failed (e.g. the CA its connection was verified
    with: connect it with another root first).
    """
    want = serial.lower().removeprefix("0x").lstrip("0")
    found = [c for certs in _lists(ops, identity, [kind] if kind else sorted(TYPES)).values()
             for c in certs if c["serial_number"].lower().lstrip("0") == want]
    if not found:
        raise ChargerSaidNo(f"Charger {identity} has no installed certificate with serial {serial} "
                            "(see `chargerctl charger certificates list`).",
                            answer={"status": "NotFound"})
    if len({json.dumps(c, sort_keys=True) for c in found}) > 1:
        raise DriverError(f"Serial {serial} names {len(found)} different certificates on {identity}: "
                          "give --type.")
    answer = ops.act(identity, "certificate-delete", {"certificate_hash_data": found[0]})
    return answer, f"[green]{identity} answered Accepted[/]: certificate {serial} deleted."
