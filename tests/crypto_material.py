"""Keys, certificates and signatures made at test time with the host's `cryptography` package,
for the firmware's certificate reader (evse/x509.py) and signature checks (evse/signature.py).

Everything is generated fresh by the test that uses it (keys are cheap enough: RSA-2048 in
~50 ms), so no key material is committed and every run checks new numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def name(cn: str, org: str = "Test Manufacturer") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Issued:
    key: object
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def issue(subject: str, key, issuer: Issued | None = None, *, ca: bool = False, serial: int | None = None,
          not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
          pss: bool = False, generalized: bool = False, extensions=()) -> Issued:
    """A certificate for `key` named `subject`, signed by `issuer` (self-signed when None).
    `generalized` puts the validity past 2049, where RFC 5280 wants GeneralizedTime."""
    nb = not_before or NOW - dt.timedelta(days=1)
    na = not_after or (dt.datetime(2051, 1, 1, tzinfo=dt.UTC) if generalized else NOW + dt.timedelta(days=365))
    signer = issuer.key if issuer else key
    b = (x509.CertificateBuilder()
         .subject_name(name(subject))
         .issuer_name(issuer.cert.subject if issuer else name(subject))
         .public_key(key.public_key())
         .serial_number(serial if serial is not None else x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for ext, critical in extensions:  # (an x509 extension value, critical)
        b = b.add_extension(ext, critical=critical)
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        cert = b.sign(signer, hashes.SHA256())
    elif pss:
        cert = b.sign(signer, hashes.SHA256(), rsa_padding=padding.PSS(
            mgf=padding.MGF1(hashes.SHA256()), salt_length=32))
    else:
        cert = b.sign(signer, hashes.SHA256())
    return Issued(key, cert)


def sign_pss(key: rsa.RSAPrivateKey, data: bytes, salt: int | None = 32) -> bytes:
    """RSA-PSS with SHA-256 and MGF1-SHA-256; salt None = the largest the key allows."""
    return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                      salt_length=padding.PSS.MAX_LENGTH if salt is None else salt),
                    hashes.SHA256())


def sign_pkcs1(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def sign_ecdsa(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER SEQUENCE { r, s }
