# evse.x509, evse.signature and evse.ecdsa inside MicroPython on fixed vectors, so they also run
# on a board (`--board PORT`): a self-signed RSA-2048 root (serial 0xfff, validity 2026-01-01 to
# 2050-06-01 12:00, GeneralizedTime after 2049), an RSA-PSS signature and an ECDSA P-256 one of
# MESSAGE. The vectors were made once with the host's `cryptography`; tests/test_x509.py and
# tests/test_signature.py make fresh ones at every run and compare every field with it.
import binascii
import hashlib

import mptest
from evse import signature, x509

ROOT_PEM = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIICxTCCAa2gAwIBAgICD/8wDQYJKoZIhvcNAQELBQAwGjEYMBYGA1UEAwwPRml4\n"
    "ZWQgVGVzdCBSb290MCAXDTI2MDEwMTAwMDAwMFoYDzIwNTAwNjAxMTIwMDAwWjAa\n"
    "MRgwFgYDVQQDDA9GaXhlZCBUZXN0IFJvb3QwggEiMA0GCSqGSIb3DQEBAQUAA4IB\n"
    "DwAwggEKAoIBAQCZmbtpYCgieQMAKw8AoyClJavV+gvr1TCtYT2po+QW96th+MXB\n"
    "3lPok3gd9YhWvsLaev7afk/M7eXkwKOes+e174DH74QyqGoQVQShyIgzk1c6fBGD\n"
    "6rZDPouSuWUW++eTI+pUyd9oqnb62buG8SaMFGXMzKz5GEHsByZbs2Ikv/DqN17J\n"
    "21VrfNGGWH6HKMV4z0ifOPYRyA8dg4ck3S295Ov3iwzsDPS048RYx+DcY1r9Knjm\n"
    "mkzDO7VW7OuRoNhDse7bT8zAkVfYGvASFnvC95J6z/ClG1ez7hAwnIyNOzpRA4XD\n"
    "arIdllExSPUqBXxTrRQoXjeDR/rM933bcYEjAgMBAAGjEzARMA8GA1UdEwEB/wQF\n"
    "MAMBAf8wDQYJKoZIhvcNAQELBQADggEBAJZ3TdtIKS/6/nufYNvMzP+ysWvNyKHB\n"
    "qvsZ5w4sAR6rzOr9Lv4HuJpdxt227vlf7TnYeldH6VJHX1DhGjsAZcVGhdybZRuO\n"
    "Jub5Exq1G3rc/U9PzklKtjkmZ/Qp4fs/ChLqV2gDjeH1KmWaR+FaA812GGWfhm59\n"
    "rdo1y8QoF0Zs8bUWfvtLQuYaITp0Juj1bcOhSkauHsR89K/1SW5O3j/4zGEtiEAV\n"
    "UjMaHPN0V9h9u2RIkikNvJO9Izex0fllpsz5dd8U2q0vaQWGf2lGd0R89X2Se+7x\n"
    "pCpNVZbOEis9vQB3zo2lc9MzWFii30FKpeIaqu14YMtPvmKCfAF5R5A=\n"
    "-----END CERTIFICATE-----\n"
)
NOT_BEFORE = 1767225600
NOT_AFTER = 2537697600
MESSAGE = b'evse firmware'
PSS_SIG = (
    "UfStff6sahSYgIvOdaJPO9KHkPpyJEHgUN+UddCO2xdND590G0Zz9eJ7KzA2pfflR3EuAQ462DcY"
    "xEibPOaYmpcrfQnjhXw5lqHHcebfNfb2kbAcISF9MaLS3JlCUkSmMhZ0sBoDZdP7SIGTn1LyXr2O"
    "E/8kknhIf3tNLkMFp0eqdYmsSmgo+L+MfajXFI22mKt41Sg+VcqEE/fAfaqOkbTuy/jA+07q8C4v"
    "nRyHtKch0X1hq62JeKTNbRDgJwJm81vIb/efP5NAXSlMI1zQa1rjHx2H2ZipMFarf5LhUrCHsDbc"
    "cxVuROmGJp6o51fvZiJ1WnFx+OIoXjfr75t82A=="
)
EC_KEY = (0x99e8936a0a8462f7eb3f3751ee9a6d69423a5518b1f5c51844f98776b21009f5,
          0xd2e1976a70ca8dad418d853d94566fecd4fbc2835902c24023b3baa025680e9a)
EC_SIG = (
    "304402207a4ff2660c952f04d174c1446e218647f3bb5006b9c7eef6fd28c241c2dff3140220"
    "1b47a88b1f29482459e2f7df8da7a109566f97e1dd4f1551a20404829c94ef47"
)
HASH = {"hashAlgorithm": "SHA256",
        "issuerNameHash": "0a29e0c6b39609b510117bd3a08e387b2192be0ea4bdad55d672bd0ac343ec8c",
        "issuerKeyHash": "ef388959ec67eb12da69cdd2d2c32a396004cc040fb9f2789790438372e012a1",
        "serialNumber": "fff"}


def _digest(data):
    return hashlib.sha256(data).digest()


def test_root_fields_and_hash_data():
    c = x509.load(ROOT_PEM)
    assert c.serial == 0xFFF and c.serial_hex() == "fff"
    assert (c.not_before, c.not_after) == (NOT_BEFORE, NOT_AFTER)
    assert c.ca is True and c.key_type == "RSA" and c.key[1] == 65537
    assert bytes(c.issuer) == bytes(c.subject)
    assert bytes(c.sig_alg) == x509.RSA_SHA256
    assert len(c.signature) == 256
    assert x509.hash_data(c) == HASH
    assert x509.load(x509.pem_to_der(ROOT_PEM)).serial == 0xFFF  # DER in, the same certificate
    assert x509.load(ROOT_PEM.encode()).serial == 0xFFF  # PEM as bytes


def test_root_signs_itself_and_verifies_as_a_chain():
    c = x509.load(ROOT_PEM)
    assert signature.signed_by(c, c)
    assert signature.verify_chain(c, [c], NOT_BEFORE + 1) is None
    assert signature.verify_chain(c, [c], None) is None
    assert signature.verify_chain(c, [c], NOT_AFTER + 1) == "root certificate outside its validity"
    assert signature.verify_chain(c, [], NOT_BEFORE + 1) == "issuer is no installed root"


def test_rsa_pss_and_ecdsa_vectors():
    c = x509.load(ROOT_PEM)
    sig = binascii.a2b_base64(PSS_SIG)
    assert signature.verify_firmware("RSA", c.key, _digest(MESSAGE), sig)
    assert not signature.verify_firmware("RSA", c.key, _digest(MESSAGE + b"!"), sig)
    bad = bytearray(sig)
    bad[100] ^= 4
    assert not signature.verify_firmware("RSA", c.key, _digest(MESSAGE), bytes(bad))
    esig = binascii.unhexlify(EC_SIG)
    assert signature.verify_firmware("EC", EC_KEY, _digest(MESSAGE), esig)
    assert not signature.verify_firmware("EC", EC_KEY, _digest(b"other"), esig)
    assert not signature.verify_firmware("DSA", EC_KEY, _digest(MESSAGE), esig)


def test_every_truncation_and_hostile_lengths_raise_value_error():
    der = x509.pem_to_der(ROOT_PEM)
    for n in range(len(der)):
        mptest.raises(ValueError, x509.Certificate, der[:n])
    for bad in (b"\x30\x80\x00\x00", b"\x30\x84\xff\xff\xff\xff", b"\x30\x82\xff\xff\x00",
                b"\x1f\x01\x00", b"\x30\x00", der + b"\x00", "not bytes", None):
        mptest.raises(ValueError, x509.Certificate, bad)
    mptest.raises(ValueError, x509.load, "-----BEGIN CERTIFICATE-----\nAAAA\n")
    mptest.raises(ValueError, x509.load, "no PEM at all")


def test_tlv_reads_short_and_long_lengths_within_their_container():
    b = b"\x04\x81\x80" + bytes(128)
    assert x509.tlv(b, 0, len(b)) == (4, 3, 131)
    mptest.raises(ValueError, x509.tlv, b, 0, 130)  # the value runs past its container
    assert x509.tlv(b"\x02\x01\x05", 0, 3) == (2, 2, 3)
    mptest.raises(ValueError, x509.integer, b"\x02\x01\x85", 2, 3)  # negative
    mptest.raises(ValueError, x509.integer, b"\x02\x00", 2, 2)  # empty
