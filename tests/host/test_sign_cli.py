"""`chargerctl sign`: the base64 signature a SignedUpdateFirmware request carries, checked by
`cryptography` (RSA-PSS with SHA-256 and MGF1-SHA-256; ECDSA P-256) and refused, with a
sentence and a hint, for every argument that is wrong: a key that is not one, a key of another
certificate, an RSA key under 2048 bits, an EC key off P-256, an encrypted key without its
password, a certificate that is not one, a missing file, an output that cannot be written.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from host_tools.exits import Exit
from tests.crypto_material import ec_key, issue, rsa_key
from tests.host.conftest import chargerctl


def _key_file(path, key, password: bytes | None = None):
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("sign")
    root = issue("Root", rsa_key(2048), ca=True)
    rsa_signer = issue("RSA Signer", rsa_key(2048), root)
    ec_signer = issue("EC Signer", ec_key(), root)
    (d / "rsa.pem").write_text(rsa_signer.pem)
    (d / "ec.pem").write_text(ec_signer.pem)
    _key_file(d / "rsa.key", rsa_signer.key)
    _key_file(d / "ec.key", ec_signer.key)
    _key_file(d / "enc.key", rsa_signer.key, b"secret")
    _key_file(d / "small.key", rsa.generate_private_key(65537, 1024))
    _key_file(d / "p384.key", ec.generate_private_key(ec.SECP384R1()))
    (d / "evse.bundle").write_bytes(b"evse-bundle 1 0.2.0\n" + bytes(range(256)) * 40)
    return d, rsa_signer, ec_signer


def test_rsa_signature_is_pss_sha256_of_the_whole_file(pki):
    d, signer, _ = pki
    proc = chargerctl("sign", d / "evse.bundle", "--key", d / "rsa.key", "--cert", d / "rsa.pem", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    sig = base64.b64decode(out["firmware"]["signature"])
    assert (d / "evse.bundle.sig").read_text().strip() == out["firmware"]["signature"]
    assert out["firmware"]["signingCertificate"] == signer.pem and out["algorithm"] == "RSA-PSS-SHA256"
    signer.cert.public_key().verify(sig, (d / "evse.bundle").read_bytes(),  # raises if not
                                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        signer.cert.public_key().verify(sig, b"another file", padding.PSS(
            mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())


def test_ec_signature_and_an_output_path_and_an_encrypted_key(pki, tmp_path):
    d, rsa_signer, ec_signer = pki
    out = tmp_path / "fw.sig"
    proc = chargerctl("sign", d / "evse.bundle", "--key", d / "ec.key", "--cert", d / "ec.pem", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "ECDSA-P256-SHA256" in proc.stdout
    ec_signer.cert.public_key().verify(base64.b64decode(out.read_text()), (d / "evse.bundle").read_bytes(),
                                       ec.ECDSA(hashes.SHA256()))
    proc = chargerctl("sign", d / "evse.bundle", "--key", d / "enc.key", "--cert", d / "rsa.pem",
                      "--password", "secret", "-o", tmp_path / "enc.sig")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("key", "cert", "words"), [
    ("ec.key", "rsa.pem", "does not belong to the certificate"),
    ("small.key", "rsa.pem", "fewer than 2048"),
    ("p384.key", "rsa.pem", "not P-256"),
    ("enc.key", "rsa.pem", "not a readable PEM private key"),  # no password given
    ("rsa.pem", "rsa.pem", "not a readable PEM private key"),
    ("rsa.key", "rsa.key", "not a readable PEM certificate"),
    ("rsa.key", "missing.pem", "cannot read the certificate"),
    ("missing.key", "rsa.pem", "cannot read the key"),
])
def test_wrong_arguments_are_refused_with_a_reason(pki, key, cert, words):
    d, _, _ = pki
    proc = chargerctl("sign", d / "evse.bundle", "--key", d / key, "--cert", d / cert, "-o", d / "never.sig")
    assert proc.returncode == Exit.ERROR, proc.stdout + proc.stderr
    assert words in proc.stderr and "->" in proc.stderr  # the sentence and its hint
    assert not (d / "never.sig").exists()


def test_missing_file_unwritable_output_and_usage(pki, tmp_path):
    d, _, _ = pki
    proc = chargerctl("sign", tmp_path / "nothing.bundle", "--key", d / "rsa.key", "--cert", d / "rsa.pem")
    assert proc.returncode == Exit.ERROR and "cannot read" in proc.stderr
    proc = chargerctl("sign", d / "evse.bundle", "--key", d / "rsa.key", "--cert", d / "rsa.pem",
                      "-o", tmp_path / "no" / "such" / "dir.sig")
    assert proc.returncode == Exit.ERROR and "cannot write" in proc.stderr
    proc = chargerctl("sign", d / "evse.bundle", "--key", d / "rsa.key")  # no --cert
    assert proc.returncode == Exit.USAGE
