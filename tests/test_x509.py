"""The firmware's X.509 reader (firmware/evse/x509.py) in MicroPython against the host's
`cryptography` package, on certificates made at test time (tests/crypto_material.py).

The certificates are made here in CPython and handed to one MicroPython process per build
(the firmware tests in tests/firmware/ run inside MicroPython and cannot make them): every
field the firmware reads is compared with what `cryptography` reads from the same bytes, and
CertificateHashData with the CertID of an OCSP request `cryptography` builds (RFC 6960, as the
security whitepaper ed. 3 defines the hash data). Malformed DER (every truncation of a
certificate, seeded random byte flips, inserts and deletes, hostile lengths) must end in
ValueError and nothing else: the reader's callers answer Rejected on that one exception.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp

from tests import mp_script
from tests.crypto_material import Issued, ec_key, issue, rsa_key

SEED = 5280

_READER = """
import sys, json, binascii
from evse import x509
hx = lambda b: binascii.hexlify(b).decode()
for line in open(sys.argv[1]):
    c = json.loads(line)
    try:
        cert = x509.load(c["pem"]) if "pem" in c else x509.Certificate(binascii.unhexlify(c["der"]))
        if c.get("brief"):
            print(json.dumps("ok"))
            continue
        issuer = x509.load(c["issuer"]) if "issuer" in c else None
        print(json.dumps({"serial": cert.serial_hex(), "issuer": hx(cert.issuer), "subject": hx(cert.subject),
            "not_before": cert.not_before, "not_after": cert.not_after, "key_type": cert.key_type,
            "key": [str(k) for k in cert.key], "ca": cert.ca, "sig_alg": hx(cert.sig_alg),
            "signature": hx(cert.signature), "tbs": hx(cert.tbs),
            "hash": x509.hash_data(cert, issuer)}))
    except Exception as e:
        print(json.dumps(type(e).__name__ + ": " + str(e)))
"""


def run_reader(tmp_path: Path, build: str, cases: list[dict]) -> list:
    return mp_script.run_cases(tmp_path, build, _READER, cases, timeout=120)


def _oid_der(dotted: str) -> str:
    # the DER value bytes of an OID (X.690 8.19), to compare with what the firmware read
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        while a > 0x7F:
            a >>= 7
            chunk.append(0x80 | (a & 0x7F))
        out += bytes(reversed(chunk))
    return out.hex()


def _expected(c: Issued, issuer: Issued) -> dict:
    cert = c.cert
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        key_type, key = "RSA", [str(pub.public_numbers().n), str(pub.public_numbers().e)]
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        key_type, key = "EC", [str(pub.public_numbers().x), str(pub.public_numbers().y)]
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer.cert, hashes.SHA256()).build()
    return {
        "serial": format(cert.serial_number, "x"),
        "issuer": cert.issuer.public_bytes().hex(), "subject": cert.subject.public_bytes().hex(),
        "not_before": int(cert.not_valid_before_utc.timestamp()),
        "not_after": int(cert.not_valid_after_utc.timestamp()),
        "key_type": key_type, "key": key,
        "ca": cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca,
        "sig_alg": _oid_der(cert.signature_algorithm_oid.dotted_string),
        "signature": cert.signature.hex(), "tbs": cert.tbs_certificate_bytes.hex(),
        "hash": {"hashAlgorithm": "SHA256", "issuerNameHash": req.issuer_name_hash.hex(),
                 "issuerKeyHash": req.issuer_key_hash.hex(), "serialNumber": format(req.serial_number, "x")},
    }


def _family() -> list[tuple[Issued, Issued]]:
    """(certificate, its issuer): roots RSA-2048, RSA-3072 and P-256 (their own issuers), leaf
    certificates under each, a PSS-signed one, serials with a high bit (a leading 00 in DER), a
    small one, and validity in GeneralizedTime (after 2049)."""
    r2048 = issue("Root RSA 2048", rsa_key(2048), ca=True)
    r3072 = issue("Root RSA 3072", rsa_key(3072), ca=True, serial=0xFFF)
    rec = issue("Root EC", ec_key(), ca=True, generalized=True)
    return [
        (r2048, r2048), (r3072, r3072), (rec, rec),
        (issue("Signer", rsa_key(2048), r2048, serial=(1 << 151) | 0xAB), r2048),
        (issue("Signer PSS", rsa_key(2048), r3072, pss=True, serial=1), r3072),
        (issue("Signer EC", ec_key(), rec, serial=0x00FF00), rec),
        (issue("Signer RSA under EC", rsa_key(2048), rec, generalized=True), rec),
    ]


@pytest.mark.parametrize("build", ["unix64", "unix32"])
def test_reader_agrees_with_cryptography(tmp_path, build):
    family = _family()
    cases = []
    for c, issuer in family:
        case = {"pem": c.pem}
        if issuer is not c:
            case["issuer"] = issuer.pem
        cases.append(case)
    got = run_reader(tmp_path, build, cases)
    for (c, issuer), g in zip(family, got, strict=True):
        assert g == _expected(c, issuer), c.cert.subject


def test_hash_data_of_a_root_is_its_own_and_serial_4095_is_fff(tmp_path):
    """Whitepaper ed. 3: serialNumber is the serial in hex without leading zeros (4095 -> fff);
    a root certificate is its own issuer, so its issuerKeyHash hashes its own key."""
    root = issue("Root", rsa_key(2048), ca=True, serial=4095)
    leaf = issue("Leaf", rsa_key(2048), root)
    cases = [{"pem": root.pem}, {"pem": leaf.pem}]  # the leaf without its issuer at hand
    got = run_reader(tmp_path, "unix64", cases)
    assert got[0]["hash"] == _expected(root, root)["hash"]
    assert got[0]["hash"]["serialNumber"] == "fff"
    assert got[1] == "ValueError: issuer certificate needed"


def test_pem_with_crlf_and_a_chain_reads_the_first(tmp_path):
    root = issue("Root", rsa_key(2048), ca=True)
    leaf = issue("Leaf", ec_key(), root)
    got = run_reader(tmp_path, "unix64", [{"pem": (leaf.pem + root.pem).replace("\n", "\r\n"), "issuer": root.pem}])
    assert got[0] == _expected(leaf, root)


def _malformed(der: bytes, rng: random.Random, n: int) -> list[bytes]:
    out = [der[:k] for k in range(len(der))]  # every truncation
    out.append(der + b"\x00")  # trailing garbage
    for _ in range(n):
        b = bytearray(der)
        kind = rng.randrange(4)
        if kind == 0:  # flip one to three bytes
            for _ in range(rng.randint(1, 3)):
                b[rng.randrange(len(b))] ^= rng.randint(1, 255)
        elif kind == 1:  # a hostile length byte where a length may be
            i = rng.randrange(len(b) - 1)
            b[i + 1] = rng.choice([0x80, 0x81, 0x82, 0x83, 0x84, 0x89, 0xFF, 0x00, 0x7F])
        elif kind == 2:  # insert or delete a byte
            i = rng.randrange(len(b))
            if rng.random() < 0.5:
                del b[i]
            else:
                b.insert(i, rng.randrange(256))
        else:  # a random tag anywhere
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("build", ["unix64", "unix32"])
def test_malformed_der_raises_only_value_error(tmp_path, build):
    """Truncations at every byte and seeded random damage: the reader answers ValueError or
    reads a certificate (a flipped byte inside a name or the signature is still a certificate),
    never another exception and never a crash of the interpreter."""
    rng = random.Random(SEED)
    root = issue("Root", rsa_key(2048), ca=True)
    leaf = issue("Leaf", ec_key(), root)
    ders = _malformed(root.der, rng, 600) + _malformed(leaf.der, rng, 600 if build == "unix64" else 200)
    ders += [b"", b"\x30", b"\x30\x80", b"\x30\x84\xff\xff\xff\xff", b"\x30\x82\xff\xff" + b"\x00" * 10,
             b"\x1f\x01\x00", b"\x30\x00", b"\x30\x03\x30\x01\x00"]
    got = run_reader(tmp_path, build, [{"der": d.hex(), "brief": 1} for d in ders])
    other = [(d.hex()[:80], g) for d, g in zip(ders, got, strict=True) if g != "ok" and not g.startswith("ValueError")]
    assert not other, other[:10]
    truncated = got[:len(root.der)]
    assert all(g.startswith("ValueError") for g in truncated)
    assert sum(g == "ok" for g in got) < len(got) // 2  # the damage did reach the reader's checks


def test_times_on_both_sides_of_2050(tmp_path):
    """RFC 5280 4.1.2.5: UTCTime YY >= 50 is 19YY, < 50 is 20YY; from 2050 GeneralizedTime."""
    key = rsa_key(2048)
    old = issue("Old", key, not_before=dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                not_after=dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
    new = issue("New", key, generalized=True)
    got = run_reader(tmp_path, "unix64", [{"pem": old.pem}, {"pem": new.pem}])
    assert (got[0]["not_before"], got[0]["not_after"]) == (946684799, 2524607999)
    assert got[1]["not_after"] == int(dt.datetime(2051, 1, 1, tzinfo=dt.UTC).timestamp())
