# X.509 certificates (RFC 5280) read from DER, for the security whitepaper's certificate
# operations and signed firmware updates. Loaded per use (InstallCertificate, a signed update)
# and dropped after: nothing here is resident in a charging session.
#
# The reader walks the one shape a certificate has, element by element, with no recursion:
# every length is checked against the element that holds it, so a truncated or corrupted
# certificate raises ValueError and nothing else (an IndexError would be a bug). The parts are
# memoryview slices of the DER, so reading one costs a few small objects, not copies.
import binascii

from micropython import const

_INT = const(0x02)
_BITS = const(0x03)
_OCTETS = const(0x04)
_OID = const(0x06)
_UTC = const(0x17)
_GEN = const(0x18)
_SEQ = const(0x30)
_BOOL = const(0x01)
_MAX_DER = const(16384)  # a certificate is a few KB; OCPP's PEM field is at most 5500 chars

# Object identifiers, as their DER value bytes (RFC 3279, 4055, 5480, 5758, 8017)
RSA = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"  # rsaEncryption
EC = b"\x2a\x86\x48\xce\x3d\x02\x01"  # id-ecPublicKey
P256 = b"\x2a\x86\x48\xce\x3d\x03\x01\x07"  # prime256v1 / secp256r1
RSA_SHA256 = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"  # sha256WithRSAEncryption
RSA_PSS = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a"  # RSASSA-PSS (hash in its parameters)
ECDSA_SHA256 = b"\x2a\x86\x48\xce\x3d\x04\x03\x02"  # ecdsa-with-SHA256
SHA256 = b"\x60\x86\x48\x01\x65\x03\x04\x02\x01"  # id-sha256
_BASIC_CONSTRAINTS = b"\x55\x1d\x13"  # 2.5.29.19


def tlv(b, i, end):
    """(tag, value start, value end) of the DER element at b[i], which must lie within b[:end]."""
    if i + 2 > end:
        raise ValueError("truncated")
    tag = b[i]
    n = b[i + 1]
    i += 2
    if tag & 0x1F == 0x1F:
        raise ValueError("tag")  # multi-byte tag numbers are not used in certificates
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 2 or i + k > end:  # indefinite (BER) or longer than 65535: refused
            raise ValueError("length")
        n = b[i] if k == 1 else b[i] << 8 | b[i + 1]
        i += k
    if i + n > end:
        raise ValueError("truncated")
    return tag, i, i + n


def _want(b, i, end, tag):
    t, s, e = tlv(b, i, end)
    if t != tag:
        raise ValueError("tag %02x" % t)
    return s, e


def integer(b, s, e):
    # A non-negative DER INTEGER's value (serials, RSA n and e, ECDSA r and s).
    if s == e or b[s] & 0x80:
        raise ValueError("integer")
    return int.from_bytes(b[s:e], "big")


def _bits(b, s, e):
    # A BIT STRING's bytes without its unused-bits count, which must be 0 for keys and signatures.
    if s == e or b[s]:
        raise ValueError("bit string")
    return s + 1


def _time(b, s, e, tag):
    # UTCTime YYMMDDHHMMSSZ (years 1950..2049) or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280
    # 4.1.2.5: always UTC, seconds present, no fractions) -> unix seconds, evse.ocpp.now()'s.
    d = bytes(b[s:e])
    if len(d) != (13 if tag == _UTC else 15) or d[-1] != 0x5A or not d[:-1].isdigit():
        raise ValueError("time")
    if tag == _UTC:
        y = int(d[0:2])
        y += 1900 if y >= 50 else 2000
        d = d[2:]
    else:
        y = int(d[0:4])
        d = d[4:]
    mo, day, h, mi, sec = int(d[0:2]), int(d[2:4]), int(d[4:6]), int(d[6:8]), int(d[8:10])
    if not (1 <= mo <= 12 and 1 <= day <= 31 and h < 24 and mi < 60 and sec < 61):
        raise ValueError("time")
    from evse.ocpp import parse_iso

    return parse_iso("%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, day, h, mi, sec))


def _alg(b, i, end):
    # AlgorithmIdentifier -> (OID value, end of the element, parameters start, parameters end)
    s, e = _want(b, i, end, _SEQ)
    os_, oe = _want(b, s, e, _OID)
    return bytes(b[os_:oe]), e, oe, e


class Certificate:
    def __init__(self, der):
        if not isinstance(der, (bytes, bytearray)) or len(der) > _MAX_DER:
            raise ValueError("certificate size")
        b = self.der = memoryview(der)
        s, e = _want(b, 0, len(b), _SEQ)
        if e != len(b):
            raise ValueError("trailing bytes")
        # tbsCertificate: the signed part, kept whole for the signature check
        t, ts, te = tlv(b, s, e)
        if t != _SEQ:
            raise ValueError("tbs")
        self.tbs = b[s:te]
        self.sig_alg, i, ps, pe = _alg(b, te, e)
        self.sig_params = b[ps:pe]
        bs, be = _want(b, i, e, _BITS)
        if be != e:
            raise ValueError("trailing fields")
        self.signature = b[_bits(b, bs, be):be]
        self._tbs(b, ts, te)

    def _tbs(self, b, i, end):
        t, s, e = tlv(b, i, end)
        if t == 0xA0:  # [0] EXPLICIT version: v2 or v3
            vs, ve = _want(b, s, e, _INT)
            if ve != e or integer(b, vs, ve) > 2:
                raise ValueError("version")
            i = e
            t, s, e = tlv(b, i, end)
        if t != _INT:
            raise ValueError("serial")
        self.serial = integer(b, s, e)
        i = e
        _, i, _, _ = _alg(b, i, end)  # the inner signature field repeats sig_alg
        t, s, e = tlv(b, i, end)
        if t != _SEQ:
            raise ValueError("issuer")
        self.issuer = b[i:e]  # the whole Name element, tag and length included (RFC 6960)
        vs, i = _want(b, e, end, _SEQ)
        t, s, e = tlv(b, vs, i)
        if t not in (_UTC, _GEN):
            raise ValueError("notBefore")
        self.not_before = _time(b, s, e, t)
        t, s, e = tlv(b, e, i)
        if t not in (_UTC, _GEN) or e != i:
            raise ValueError("notAfter")
        self.not_after = _time(b, s, e, t)
        t, s, e = tlv(b, i, end)
        if t != _SEQ:
            raise ValueError("subject")
        self.subject = b[i:e]
        self._key(b, e, end)
        self.ca = False
        self.exts = None  # (start, end) of the extensions' SEQUENCE: evse/signer.py reads them
        i = self._end
        while i < end:  # [1], [2] unique ids (skipped), [3] extensions
            t, s, e = tlv(b, i, end)
            if t == 0xA3:
                self.exts = (s, e)
                self._extensions(b, s, e)
            elif t not in (0x81, 0xA1, 0x82, 0xA2):
                raise ValueError("tbs field %02x" % t)
            i = e

    def _key(self, b, i, end):
        # subjectPublicKeyInfo: RSA (n, e) or an uncompressed P-256 point (x, y)
        s, self._end = _want(b, i, end, _SEQ)
        alg, i, ps, pe = _alg(b, s, self._end)
        ks, ke = _want(b, i, self._end, _BITS)
        if ke != self._end:
            raise ValueError("key info")
        k = _bits(b, ks, ke)
        self.key_bits = b[k:ke]  # what issuerKeyHash hashes
        if alg == RSA:
            self.key_type = "RSA"
            s, e = _want(b, k, ke, _SEQ)
            ns, ne = _want(b, s, e, _INT)
            es, ee = _want(b, ne, e, _INT)
            self.key = (integer(b, ns, ne), integer(b, es, ee))
        elif alg == EC:
            s, e = _want(b, ps, pe, _OID)
            if bytes(b[s:e]) != P256:
                raise ValueError("curve")
            if ke - k != 65 or b[k] != 4:
                raise ValueError("point")
            self.key_type = "EC"
            self.key = (int.from_bytes(b[k + 1:k + 33], "big"), int.from_bytes(b[k + 33:ke], "big"))
        else:
            self.key_type = None  # a key this charger cannot use; the certificate still reads
            self.key = None

    def _extensions(self, b, i, end):
        s, e = _want(b, i, end, _SEQ)
        if e != end:
            raise ValueError("extensions")
        i = s
        while i < e:
            xs, xe = _want(b, i, e, _SEQ)
            os_, j = _want(b, xs, xe, _OID)
            t, s, v = tlv(b, j, xe)
            if t == _BOOL:
                t, s, v = tlv(b, v, xe)
            if t != _OCTETS or v != xe:
                raise ValueError("extension")
            if bytes(b[os_:j]) == _BASIC_CONSTRAINTS:
                cs, ce = _want(b, s, v, _SEQ)
                if cs < ce:
                    t, s, v = tlv(b, cs, ce)
                    self.ca = t == _BOOL and v == s + 1 and b[s] != 0
            i = xe

    def serial_hex(self):
        return "%x" % self.serial  # hex without leading zeros, as CertificateHashData's

    def valid_at(self, t):
        return self.not_before <= t <= self.not_after

    def ecdsa_signature(self):
        # An ECDSA signature value is DER too: SEQUENCE { r INTEGER, s INTEGER }
        return ecdsa_rs(self.signature)


def ecdsa_rs(sig):
    b = memoryview(sig)
    s, e = _want(b, 0, len(b), _SEQ)
    if e != len(b):
        raise ValueError("signature")
    rs, re = _want(b, s, e, _INT)
    ss, se = _want(b, re, e, _INT)
    if se != e:
        raise ValueError("signature")
    return integer(b, rs, re), integer(b, ss, se)


def pem_to_der(pem, which=0):
    """The `which`-th certificate of a PEM text (str or bytes) as DER bytes. The base64 body is
    decoded where it lies (a memoryview of bytes, one slice of a str): a2b_base64 skips the line
    breaks, so no copy without them is made."""
    b = not isinstance(pem, str)
    head = b"-----BEGIN CERTIFICATE-----" if b else "-----BEGIN CERTIFICATE-----"
    i = -1
    for _ in range(which + 1):
        i = pem.find(head, i + 1)
        if i < 0:
            raise ValueError("no certificate")
    j = pem.find(b"-----END CERTIFICATE-----" if b else "-----END CERTIFICATE-----", i)
    if j < 0:
        raise ValueError("no certificate end")
    i += len(head)
    # bad base64 raises ValueError; a memoryview is a buffer like any (the stub says str|bytes)
    return binascii.a2b_base64(memoryview(pem)[i:j] if b else pem[i:j])  # pyright: ignore[reportArgumentType]


def pem_count(pem):
    if isinstance(pem, str):
        pem = pem.encode()
    return pem.count(b"-----BEGIN CERTIFICATE-----")


def load(pem_or_der, which=0):
    """A Certificate from PEM (str or bytes starting with '-----') or DER bytes."""
    d = pem_or_der
    if isinstance(d, str) or d[:5] == b"-----":
        d = pem_to_der(d, which)
    return Certificate(d)


def hash_data(cert, issuer_cert=None, alg="SHA256"):
    """OCPP CertificateHashData (security whitepaper ed. 3, RFC 6960 CertID): the hashes of the
    issuer's Name DER and of the issuer's public key bits, the serial in hex. A root is its own
    issuer; a certificate whose issuer is not at hand hashes its issuer Name and, lacking the
    issuer's key, its own key only when self-issued (else ValueError)."""
    import hashlib

    if alg != "SHA256":
        raise ValueError("hash algorithm")  # MicroPython's hashlib has no SHA-384/512
    if issuer_cert is None:
        if bytes(cert.issuer) != bytes(cert.subject):
            raise ValueError("issuer certificate needed")
        issuer_cert = cert
    h = hashlib.sha256(cert.issuer)
    name = binascii.hexlify(h.digest()).decode()
    h = hashlib.sha256(issuer_cert.key_bits)
    key = binascii.hexlify(h.digest()).decode()
    return {"hashAlgorithm": alg, "issuerNameHash": name, "issuerKeyHash": key,
            "serialNumber": cert.serial_hex()}
