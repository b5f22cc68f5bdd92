"""`chargerctl charger certificates install|list|delete` end to end: the CLI -> the backend's
operator API (certificate_actions.py) -> OCPP -> the real firmware on a virtual board, and back.

Security whitepaper (reference/ocpp16-profiles.md section 6): InstallCertificate ->
Accepted|Failed|Rejected; GetInstalledCertificateIds -> Accepted|NotFound + certificateHashData;
DeleteCertificate -> Accepted|Failed|NotFound. Exit 0 for Accepted (and a list), 28 for the
charger's no, 22 for a bad request the backend refuses, 2 for a file that is no certificate.
"""

from __future__ import annotations

import datetime
import json

from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import E2E_OCPP, FAST_LIMITS, board_tail

TOKEN = "e2e-operator-token-certs-0123456789"
RIG = {"code": "CRT42", "backend_args": [*FAST_LIMITS, "--rate-limit", "actions=6000", "--operator-token", TOKEN],
       "config": {"ocpp": E2E_OCPP}}


def _root(cn: str, serial: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificates(rig, *args: str):
    from host_tools.cli import main

    sub, *rest = args
    argv = ["charger", "certificates", sub, "--charger", rig.identity, "--api", rig.api, "--token", TOKEN, *rest]
    return CliRunner(mix_stderr=False).invoke(main, argv, catch_exceptions=False)


def test_install_list_delete_on_the_virtual_board(rig, tmp_path):
    """TC_075_1 / TC_076 through the operator's tools: a manufacturer root installed (Accepted,
    exit 0), listed by its serial, deleted (Accepted), deleted again (the charger has none: exit
    28); a certificate the charger refuses (PEM of garbage) is its Rejected, exit 28; a file
    that is no PEM is refused before anything is sent (exit 2)."""
    root = tmp_path / "maker.pem"
    root.write_text(_root("E2E maker root", 0x0ABCDEF))
    result = certificates(rig, "list", "--type", "manufacturer", "--json")
    assert result.exit_code == 0, result.stderr + board_tail(rig)
    assert json.loads(result.stdout) == {"ManufacturerRootCertificate": []}

    result = certificates(rig, "install", "--type", "manufacturer", str(root))
    assert result.exit_code == 0, result.stderr + board_tail(rig)
    assert "manufacturer root installed" in result.stdout
    result = certificates(rig, "list", "--json")
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [c["serial_number"] for c in listed["ManufacturerRootCertificate"]] == ["abcdef"]
    assert listed["CentralSystemRootCertificate"] == []  # ws://: no CA provisioned
    result = certificates(rig, "list")
    assert "serial abcdef" in result.stdout

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nMIIBAgMEBQYHCAkKCwwNDg8Q\n-----END CERTIFICATE-----\n")
    result = certificates(rig, "install", "--type", "central-system", str(garbage), "--json")
    assert result.exit_code == 28, result.stdout + result.stderr
    assert json.loads(result.stdout)["answer"] == {"status": "Rejected"}
    text = tmp_path / "notes.txt"
    text.write_text("not a certificate")
    result = certificates(rig, "install", "--type", "manufacturer", str(text))
    assert result.exit_code == 2 and "not a PEM certificate" in result.stderr, result.stderr

    result = certificates(rig, "delete", "--serial", "00ABCDEF", "--json")
    assert result.exit_code == 0, result.stderr + board_tail(rig)
    assert json.loads(result.stdout) == {"status": "Accepted"}
    result = certificates(rig, "delete", "--serial", "abcdef")
    assert result.exit_code == 28 and "no installed certificate with serial abcdef" in result.stderr
    assert "certificate delete" in rig.board.console_text()


def test_a_bad_request_is_the_backends_422(rig):
    """Every malformed field of the three actions named (422), nothing sent to the charger."""
    import httpx

    r = httpx.post(f"{rig.api}/chargers/{rig.identity}/actions/certificate-delete",
                   headers={"Authorization": f"Bearer {TOKEN}"},
                   json={"certificate_hash_data": {"hash_algorithm": "MD5", "issuer_name_hash": "zz",
                                                   "issuer_key_hash": "a" * 129, "extra": 1}})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert set(errors) == {"certificate_hash_data.hash_algorithm", "certificate_hash_data.issuer_name_hash",
                           "certificate_hash_data.issuer_key_hash", "certificate_hash_data.serial_number",
                           "certificate_hash_data"}
    r = httpx.post(f"{rig.api}/chargers/{rig.identity}/actions/certificate-install",
                   headers={"Authorization": f"Bearer {TOKEN}"},
                   json={"certificate_type": "Other", "certificate": "x" * 5501})
    assert r.status_code == 422 and set(r.json()["errors"]) == {"certificate_type", "certificate"}
    r = httpx.post(f"{rig.api}/chargers/{rig.identity}/actions/certificate-list",
                   headers={"Authorization": f"Bearer {TOKEN}"}, json={})
    assert r.status_code == 422 and set(r.json()["errors"]) == {"certificate_type"}
