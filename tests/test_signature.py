"""The firmware's signature checks (firmware/evse/signature.py) in MicroPython, on keys,
signatures and certificate chains the host's `cryptography` package makes at test time.

Every good signature must verify and every damaged one must not: a flipped bit in the
signature, another message, another key, a signature of the wrong length or not below the
modulus, an ECDSA r or s out of range, a public point off the curve. The chain check
(`verify_chain`) is the one SignedUpdateFirmware runs: a signing certificate issued by an
installed ManufacturerRootCertificate (its issuer Name is the root's subject and the root's key
verifies its signature), within its validity when the clock is set.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tests import mp_script
from tests.crypto_material import NOW, ec_key, issue, rsa_key, sign_ecdsa, sign_pkcs1, sign_pss

_CHECKER = """
import sys, json, binascii, time
from evse import signature, signer, x509
ux = binascii.unhexlify
for line in open(sys.argv[1]):
    c = json.loads(line)
    op = c["op"]
    try:
        if op == "chain":
            roots = (x509.load(p) for p in c["roots"])
            r = signature.verify_chain(x509.load(c["cert"]), roots, c["now"])
        elif op == "signer":
            r = signer.why(x509.load(c["cert"]))
        elif op == "firmware":
            cert = x509.load(c["cert"])
            r = signature.verify_firmware(cert.key_type, cert.key, ux(c["digest"]), ux(c["sig"]))
        else:
            key = tuple(int(k) for k in c["key"])
            fn = {"pss": signature.rsa_pss_sha256, "pkcs1": signature.rsa_pkcs1_sha256,
                  "ecdsa": signature.ecdsa_p256}[op]
            r = fn(key, ux(c["digest"]), ux(c["sig"]), *c.get("extra", ()))
    except Exception as e:
        r = "raised " + type(e).__name__ + ": " + str(e)
    print(json.dumps(r))
"""


def run_checker(tmp_path: Path, build: str, cases: list[dict]) -> list:
    return mp_script.run_cases(tmp_path, build, _CHECKER, cases, timeout=300)


def _rsa_pub(key: rsa.RSAPrivateKey) -> list[str]:
    n = key.public_key().public_numbers()
    return [str(n.n), str(n.e)]


def _ec_pub(key: ec.EllipticCurvePrivateKey) -> list[str]:
    n = key.public_key().public_numbers()
    return [str(n.x), str(n.y)]


def _flip(b: bytes, i: int = -1, bit: int = 1) -> bytes:
    a = bytearray(b)
    a[i] ^= bit
    return bytes(a)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rsa_cases(bits: int) -> list[tuple[dict, bool]]:
    key, other = rsa_key(bits), rsa_key(bits)
    msg = b"firmware image " * 100
    pub = _rsa_pub(key)
    k = bits // 8
    good = sign_pss(key, msg)
    n = key.public_key().public_numbers().n

    def case(op, sig, expect, data=msg, pub=pub, extra=None):
        c = {"op": op, "key": pub, "digest": _digest(data), "sig": sig.hex()}
        if extra is not None:
            c["extra"] = extra
        return c, expect

    return [
        case("pss", good, True),
        case("pss", good, True, extra=[32]),
        case("pss", good, False, extra=[20]),  # a salt length that was not used
        case("pss", sign_pss(key, msg, salt=None), True),  # the longest salt the key allows
        case("pss", sign_pss(key, msg, salt=0), True),
        case("pss", good, False, data=msg + b"x"),
        case("pss", _flip(good), False),
        case("pss", _flip(good, 0, 0x80), False),
        case("pss", good[:-1], False),
        case("pss", b"\x00" + good, False),
        case("pss", n.to_bytes(k, "big"), False),  # not below the modulus
        case("pss", b"\x00" * k, False),
        case("pss", good, False, pub=_rsa_pub(other)),
        case("pss", sign_pkcs1(key, msg), False),  # the other padding
        case("pkcs1", sign_pkcs1(key, msg), True),
        case("pkcs1", _flip(sign_pkcs1(key, msg), 7), False),
        case("pkcs1", sign_pkcs1(key, msg), False, data=b"other"),
        case("pkcs1", good, False),
    ]


@pytest.mark.parametrize("build", ["unix64", "unix32"])
def test_rsa_pss_and_pkcs1_verify_good_and_refuse_damaged(tmp_path, build):
    cases = _rsa_cases(2048) + (_rsa_cases(3072) if build == "unix64" else [])
    got = run_checker(tmp_path, build, [c for c, _ in cases])
    assert got == [e for _, e in cases]


def test_ecdsa_p256_verifies_good_and_refuses_damaged(tmp_path):
    key, other = ec_key(), ec_key()
    msg = b"firmware image"
    pub = _ec_pub(key)
    der = sign_ecdsa(key, msg)
    r, s = decode_dss_signature(der)
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    x, y = (int(v) for v in pub)

    def case(sig, expect, data=msg, pub=pub):
        return {"op": "ecdsa", "key": pub, "digest": _digest(data), "sig": sig.hex()}, expect

    cases = [
        case(der, True), case(raw, True),
        case(sign_ecdsa(key, b""), True, data=b""),
        case(der, False, data=msg + b"!"),
        case(encode_dss_signature(r, s ^ 1), False),
        case(encode_dss_signature(r ^ 1, s), False),
        case(encode_dss_signature(r, order - s), True),  # ECDSA is malleable: (r, n - s) verifies too
        case(encode_dss_signature(0, s), False), case(encode_dss_signature(r, 0), False),
        case(encode_dss_signature(r, s + order), False), case(encode_dss_signature(order, s), False),
        case(der[:-1], False), case(raw[:-1], False),
        case(der, False, pub=_ec_pub(other)),
        case(der, False, pub=[str(x), str(y ^ 1)]),  # off the curve
    ]
    got = run_checker(tmp_path, "unix64", [c for c, _ in cases])
    assert got == [e for _, e in cases]


def _chain_cases():
    r_rsa = issue("Manufacturer Root", rsa_key(2048), ca=True)
    r_ec = issue("Manufacturer Root EC", ec_key(), ca=True)
    r_other = issue("Other Root", rsa_key(2048), ca=True)
    # a root with the same Name as r_rsa but another key: the name alone must not be enough
    r_twin = issue("Manufacturer Root", rsa_key(2048), ca=True)
    now = int(NOW.timestamp())
    signer = issue("Firmware Signer", rsa_key(2048), r_rsa)
    signer_pss = issue("Firmware Signer PSS", rsa_key(2048), r_rsa, pss=True)
    signer_ec = issue("Firmware Signer EC", ec_key(), r_ec)
    expired = issue("Old Signer", rsa_key(2048), r_rsa, not_before=NOW - dt.timedelta(days=30),
                    not_after=NOW - dt.timedelta(days=1))
    early = issue("Future Signer", rsa_key(2048), r_rsa, not_before=NOW + dt.timedelta(days=1))
    by_other = issue("Rogue Signer", rsa_key(2048), r_other)
    by_twin = issue("Twin Signer", rsa_key(2048), r_twin)
    der = bytearray(signer.der)
    der[-5] ^= 1  # a byte of the signature flipped, re-encoded
    tampered = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bytes(der)).decode() + "-----END CERTIFICATE-----\n"

    def case(cert, roots, expect, at=now):
        return {"op": "chain", "cert": cert if isinstance(cert, str) else cert.pem,
                "roots": [r.pem for r in roots], "now": at}, expect

    return [
        case(signer, [r_rsa], None),
        case(signer, [r_other, r_ec, r_rsa], None),
        case(signer_pss, [r_rsa], None),
        case(signer_ec, [r_ec], None),
        case(r_rsa, [r_rsa], None),  # a root signing itself
        case(signer, [], "issuer is no installed root"),
        case(by_other, [r_rsa, r_ec], "issuer is no installed root"),
        case(by_twin, [r_rsa], "signature does not verify with the root's key"),
        case(signer, [r_twin, r_rsa], None),  # the twin is tried first, the real root after
        case(tampered, [r_rsa], "signature does not verify with the root's key"),
        case(expired, [r_rsa], "expired"),
        case(expired, [r_rsa], None, at=None),  # clock not set: validity cannot be judged
        case(early, [r_rsa], "not yet valid"),
        case(signer, [r_rsa], "root certificate outside its validity", at=now + 2 * 365 * 86400),
    ]


@pytest.mark.parametrize("build", ["unix64", "unix32"])
def test_signing_certificate_chain(tmp_path, build):
    cases = _chain_cases()
    got = run_checker(tmp_path, build, [c for c, _ in cases])
    assert got == [e for _, e in cases]


def test_firmware_signature_with_the_signing_certificate(tmp_path):
    """Whitepaper: the firmware's signature is over the whole file with SHA-256, RSA-PSS (or
    "ECSchnorr", read as ECDSA P-256)."""
    root = issue("Root", rsa_key(2048), ca=True)
    rsa_signer = issue("RSA Signer", rsa_key(2048), root)
    ec_signer = issue("EC Signer", ec_key(), root)
    image = os.urandom(5000)

    def case(cert, sig, expect, data=image):
        return {"op": "firmware", "cert": cert.pem, "digest": _digest(data), "sig": sig.hex()}, expect

    cases = [
        case(rsa_signer, sign_pss(rsa_signer.key, image), True),  # type: ignore[arg-type]
        case(rsa_signer, sign_pss(rsa_signer.key, image), False, data=_flip(image, 100)),  # type: ignore[arg-type]
        case(ec_signer, sign_ecdsa(ec_signer.key, image), True),  # type: ignore[arg-type]
        case(ec_signer, sign_pss(rsa_signer.key, image), False),  # type: ignore[arg-type]
        case(rsa_signer, sign_ecdsa(ec_signer.key, image), False),  # type: ignore[arg-type]
    ]
    got = run_checker(tmp_path, "unix64", [c for c, _ in cases])
    assert got == [e for _, e in cases]


def _usage(digital_signature: bool = True, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=False, encipher_only=False,
                         decipher_only=False)


def _rsa_pub_key(n: int, e: int):
    return rsa.RSAPublicNumbers(e, n).public_key()


class _PubOnly:
    """A public key to certify (the root signs: the signer's private key is never needed)."""

    def __init__(self, pub):
        self.pub = pub

    def public_key(self):
        return self.pub


def _exponent(cert, e: bytes) -> tuple[dict, str]:
    # The key's exponent 65537 (INTEGER 01 00 01 after the modulus) replaced in the DER:
    # `cryptography` makes no such key. The root's signature no longer verifies, which
    # signer() does not look at.
    der = cert.der
    i = der.rindex(b"\x02\x03\x01\x00\x01")
    der = der[:i + 2] + e + der[i + 5:]
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode() + "-----END CERTIFICATE-----\n"
    return {"op": "signer", "cert": pem}, "RSA exponent"


def test_signing_certificate_must_be_fit_to_sign_firmware(tmp_path):
    """Whitepaper (Secure firmware update): the signing certificate vouches for the firmware.
    A CA certificate, a weak or odd RSA key (under 2048 bits, e even, e < 3 or >= 2**32, a
    modulus far past 4096 bits, which must not raise), keyUsage without digitalSignature,
    extendedKeyUsage without codeSigning, or a critical extension this reader does not know
    cannot sign firmware: SignedUpdateFirmware answers InvalidCertificate."""
    root = issue("Root", rsa_key(2048), ca=True)
    code = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING])
    server = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
    p2048 = rsa_key(2048).public_key().public_numbers().n
    big = (1 << 12000) + 1 + 2 * 12345  # odd, 12001 bits
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")

    def case(key, expect, **kw):
        return {"op": "signer", "cert": issue("Signer", key, root, **kw).pem}, expect

    cases = [
        case(rsa_key(2048), None),
        case(rsa_key(3072), None, extensions=[(_usage(), True), (code, False)]),
        case(ec_key(), None, extensions=[(_usage(), True)]),
        case(rsa_key(2048), None, extensions=[(unknown, False)]),  # not critical: ignored
        case(rsa_key(2048), "a CA certificate", ca=True),
        case(rsa_key(1024), "RSA key size"),
        case(_PubOnly(_rsa_pub_key(big, 65537)), "RSA key size"),
        _exponent(issue("Signer", rsa_key(2048), root), b"\x00\x00\x01"),  # e = 1
        _exponent(issue("Signer", rsa_key(2048), root), b"\x01\x00\x00"),  # e = 65536, even
        case(_PubOnly(_rsa_pub_key(p2048, (1 << 32) + 1)), "RSA exponent"),
        case(rsa_key(2048), "keyUsage without digitalSignature", extensions=[(_usage(False, True), True)]),
        case(rsa_key(2048), "extendedKeyUsage without codeSigning", extensions=[(server, False)]),
        case(rsa_key(2048), "unknown critical extension", extensions=[(unknown, True)]),
    ]
    got = run_checker(tmp_path, "unix64", [c for c, _ in cases])
    assert got == [e for _, e in cases]
