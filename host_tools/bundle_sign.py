"""Signing a firmware file for SignedUpdateFirmware (OCPP 1.6 security whitepaper): the
signature of the whole file with SHA-256, base64 as the request's `firmware.signature`, made
with the private key of the signing certificate the request carries.

RSA keys sign with RSA-PSS (MGF1-SHA-256, salt of the hash's length, 32 bytes), P-256 keys with
ECDSA (DER r, s): the two the board verifies (firmware/evse/signature.py). The file is read in
blocks and hashed once; the key signs the digest (Prehashed), so a bundle is never held twice.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

_BLOCK = 64 * 1024
MIN_RSA_BITS = 2048  # the whitepaper's floor for RSA; EC keys must be P-256 (what the board verifies)


class SignError(ValueError):
    """What is wrong with the key, the certificate or the file, said for people, and a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class Signed:
    signature: str  # base64
    certificate: str  # PEM of the signing certificate
    sha256: str  # of the file, hex
    algorithm: str  # "RSA-PSS-SHA256" or "ECDSA-P256-SHA256"


def load_key(pem: bytes, password: bytes | None = None) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise SignError(f"the key is not a readable PEM private key ({e})",
                        "pass the signing certificate's private key, PEM (PKCS#8 or PKCS#1), "
                        "with --password if it is encrypted") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SignError(f"the RSA key has {key.key_size} bits, fewer than {MIN_RSA_BITS}",
                            "the security whitepaper wants RSA keys of 2048 bits or more")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SignError(f"the EC key is on {key.curve.name}, not P-256 (secp256r1)",
                            "the board verifies ECDSA on P-256 only")
        return key
    raise SignError(f"a {type(key).__name__} cannot sign firmware", "use an RSA (>= 2048 bits) or P-256 key")


def load_certificate(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as e:
        raise SignError(f"the certificate is not a readable PEM certificate ({e})",
                        "pass the signing certificate the ManufacturerRootCertificate issued, PEM") from None


def file_digest(path: str | os.PathLike) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.digest()


def sign_digest(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    pre = utils.Prehashed(hashes.SHA256())
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), pre)
    return key.sign(digest, ec.ECDSA(pre))


def sign_file(path: str | os.PathLike, key_pem: bytes, cert_pem: bytes, password: bytes | None = None) -> Signed:
    """The signature of the file at `path`, checked against the certificate's public key before
    it is returned (a key that does not belong to the certificate is refused)."""
    key = load_key(key_pem, password)
    cert = load_certificate(cert_pem)
    if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
        raise SignError("the key does not belong to the certificate (their public keys differ)",
                        "pass the private key of this signing certificate")
    digest = file_digest(path)
    sig = sign_digest(key, digest)
    return Signed(base64.b64encode(sig).decode(), cert.public_bytes(serialization.Encoding.PEM).decode(),
                  digest.hex(), "RSA-PSS-SHA256" if isinstance(key, rsa.RSAPrivateKey) else "ECDSA-P256-SHA256")
