# Signature checks for signed firmware updates and certificates: RSA-PSS and RSA PKCS#1 v1.5
# with SHA-256 (RFC 8017 EMSA-PSS-VERIFY 9.1.2, EMSA-PKCS1-v1_5 9.2), ECDSA on P-256 with
# SHA-256 (FIPS 186-4 6.4, SEC 1 4.1.4), and a signing certificate's check against the
# installed ManufacturerRootCertificates. MicroPython has no public-key API: the RSA operation is
# pow(s, e, n) on its big integers; the curve arithmetic is here, in Jacobian coordinates.
# Loaded per use (a signed update, a certificate check) and dropped after.
#
# Every check takes the SHA-256 digest, not the data: the updater hashes the firmware file block
# by block as it downloads it (hashlib.sha256().update), so the file is never held whole.
import hashlib

from micropython import const

from evse import x509

_HLEN = const(32)
# DigestInfo of SHA-256 (RFC 8017 9.2 note 1): the bytes before the hash in PKCS#1 v1.5
_SHA256_INFO = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"
_MGF1 = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08"  # id-mgf1


def _bits(n):
    # int.bit_length, which MicroPython's int lacks: a binary search with shifts (bin(n) would
    # be a 2 KB string for a 2048-bit key); keys up to 8192 bits
    if n <= 0:
        return 0
    b = 0
    step = 4096
    while step:
        if n >> (b + step):
            b += step
        step >>= 1
    return b + 1


def _rsa_message(key, sig):
    # RSAVP1: the signature representative raised to e, as k bytes; None when it cannot be one
    n, e = key
    k = (_bits(n) + 7) // 8
    if len(sig) != k:
        return None
    s = int.from_bytes(sig, "big")
    if s >= n:
        return None
    return pow(s, e, n).to_bytes(k, "big")


def rsa_pkcs1_sha256(key, digest, sig):
    """RSASSA-PKCS1-v1_5 with SHA-256: the expected encoding is built and compared whole."""
    em = _rsa_message(key, sig)
    if em is None:
        return False
    pad = len(em) - 3 - len(_SHA256_INFO) - _HLEN
    if pad < 8:
        return False
    return em == b"\x00\x01" + b"\xff" * pad + b"\x00" + _SHA256_INFO + bytes(digest)


def _mgf1_xor(db, seed):
    # db ^= MGF1-SHA256(seed, len(db)), in place
    c = 0
    i = 0
    while i < len(db):
        block = hashlib.sha256(seed)
        block.update(c.to_bytes(4, "big"))
        for x in block.digest():
            if i == len(db):
                break
            db[i] ^= x
            i += 1
        c += 1


def rsa_pss_sha256(key, digest, sig, salt_len=None):
    """RSASSA-PSS with SHA-256 and MGF1-SHA-256; salt_len None accepts any salt length (the
    whitepaper does not fix one; 32, the hash length, is the usual), else exactly that one."""
    em = _rsa_message(key, sig)
    if em is None:
        return False
    em_bits = _bits(key[0]) - 1
    if em_bits % 8 == 0:  # emLen = k - 1: the top byte must be zero
        if em[0]:
            return False
        em = em[1:]
    em_len = len(em)
    if em_len < _HLEN + 2 or em[-1] != 0xBC:
        return False
    top = 0xFF >> (8 * em_len - em_bits)  # the bits of the first byte that belong to emBits
    if em[0] & ~top & 0xFF:
        return False
    h = em[em_len - _HLEN - 1:em_len - 1]
    db = bytearray(em[:em_len - _HLEN - 1])
    _mgf1_xor(db, h)
    db[0] &= top
    i = 0
    while i < len(db) and db[i] == 0:
        i += 1
    if i == len(db) or db[i] != 1:
        return False
    salt = db[i + 1:]
    if salt_len is not None and len(salt) != salt_len:
        return False
    m = hashlib.sha256(b"\x00" * 8)
    m.update(digest)
    m.update(salt)
    return m.digest() == h


# P-256 (FIPS 186-4 D.1.2.3, SEC 2 2.4.2): y^2 = x^3 - 3x + b over GF(p), base point G of order n
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def _double(pt):
    # Jacobian doubling with a = -3 (delta/gamma/beta/alpha form); (x, y, 0) is the infinity
    x, y, z = pt
    if z == 0 or y == 0:
        return (1, 1, 0)
    p = _P
    delta = z * z % p
    gamma = y * y % p
    beta = x * gamma % p
    alpha = 3 * (x - delta) * (x + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y + z) * (y + z) - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return (x3, y3, z3)


def _add(a, b):
    # Jacobian addition; equal points fall back to doubling, opposite ones give infinity
    if a[2] == 0:
        return b
    if b[2] == 0:
        return a
    p = _P
    x1, y1, z1 = a
    x2, y2, z2 = b
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    if h == 0:
        return _double(a) if r == 0 else (1, 1, 0)
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    return (x3, y3, h * z1 * z2 % p)


def on_curve(x, y):
    return 0 <= x < _P and 0 <= y < _P and (y * y - x * x * x + 3 * x - _B) % _P == 0


def ecdsa_p256(key, digest, sig):
    """ECDSA verification on P-256 with SHA-256. `sig` is DER SEQUENCE { r, s } (X.509,
    `cryptography`, OpenSSL) or the 64 bytes r || s (IEEE P1363)."""
    try:
        r, s = x509.ecdsa_rs(sig)
    except ValueError:
        if len(sig) != 64:
            return False
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    qx, qy = key
    if not (0 < r < _N and 0 < s < _N) or not on_curve(qx, qy):
        return False
    e = int.from_bytes(digest, "big")  # 256 bits, as n: no truncation
    w = pow(s, _N - 2, _N)
    u1 = e * w % _N
    u2 = r * w % _N
    # u1*G + u2*Q with one pass over the bits (Shamir's trick)
    g = (_GX, _GY, 1)
    q = (qx, qy, 1)
    both = (None, g, q, _add(g, q))
    acc = (1, 1, 0)
    for i in range(255, -1, -1):
        acc = _double(acc)  # the infinity while no bit was set yet: no arithmetic
        k = (u1 >> i & 1) | (u2 >> i & 1) << 1
        if k:
            acc = _add(acc, both[k])
    x, _, z = acc
    if z == 0:
        return False
    zi = pow(z, _P - 2, _P)
    return x * zi * zi % _P % _N == r


def _pss_sha256_params(params):
    # RSASSA-PSS-params (RFC 4055 3.1) must name SHA-256 as the hash and MGF1-SHA-256: the
    # defaults (SHA-1) and anything else are refused. Returns the salt length (default 20).
    b = memoryview(params)
    s, e = x509.tlv(b, 0, len(b))[1:]
    hash_ok = mgf_ok = False
    salt = 20
    while s < e:
        t, vs, ve = x509.tlv(b, s, e)
        if t == 0xA0:
            _, os_, oe = x509.tlv(b, x509.tlv(b, vs, ve)[1], ve)
            hash_ok = bytes(b[os_:oe]) == x509.SHA256
        elif t == 0xA1:
            _, ss, se = x509.tlv(b, vs, ve)
            _, os_, oe = x509.tlv(b, ss, se)
            _, hs, he = x509.tlv(b, oe, se)
            _, os2, oe2 = x509.tlv(b, hs, he)
            mgf_ok = bytes(b[os_:oe]) == _MGF1 and bytes(b[os2:oe2]) == x509.SHA256
        elif t == 0xA2:
            _, is_, ie = x509.tlv(b, vs, ve)
            salt = x509.integer(b, is_, ie)
        s = ve
    return salt if hash_ok and mgf_ok else None


def signed_by(cert, issuer):
    """Whether `issuer`'s key verifies `cert`'s signature (sha256WithRSAEncryption, RSASSA-PSS
    with SHA-256, or ecdsa-with-SHA256; any other algorithm is no)."""
    digest = hashlib.sha256(cert.tbs).digest()
    alg = cert.sig_alg
    if issuer.key_type == "RSA":
        if alg == x509.RSA_SHA256:
            return rsa_pkcs1_sha256(issuer.key, digest, cert.signature)
        if alg == x509.RSA_PSS:
            try:
                salt = _pss_sha256_params(cert.sig_params)
            except ValueError:
                return False
            return salt is not None and rsa_pss_sha256(issuer.key, digest, cert.signature, salt)
    elif issuer.key_type == "EC" and alg == x509.ECDSA_SHA256:
        return ecdsa_p256(issuer.key, digest, cert.signature)
    return False


def verify_firmware(cert, digest, sig):
    """The firmware file's signature (its SHA-256 digest) with the signing certificate's key:
    RSA-PSS (any salt length) for an RSA key, ECDSA for a P-256 key (the whitepaper's
    "ECSchnorr" is read as ECDSA, as common implementations do)."""
    if cert.key_type == "RSA":
        return rsa_pss_sha256(cert.key, digest, sig)
    if cert.key_type == "EC":
        return ecdsa_p256(cert.key, digest, sig)
    return False


def verify_chain(cert, roots, now=None):
    """None when `cert` was issued by one of `roots` (its issuer Name is the root's subject and
    the root's key verifies its signature) and both are within their validity at `now` (unix
    seconds; None when the charger's clock is not set: validity is then not checked), else the
    reason, for the log. `roots` is any iterable of x509.Certificate: a generator that reads
    them from flash one at a time keeps one in the heap."""
    reason = "issuer is no installed root"
    issuer = bytes(cert.issuer)
    for root in roots:
        if bytes(root.subject) != issuer:
            continue
        if not signed_by(cert, root):
            reason = "signature does not verify with the root's key"
            continue
        if now is not None and not root.valid_at(now):
            reason = "root certificate outside its validity"
            continue
        if now is not None and not cert.valid_at(now):
            return "expired" if now > cert.not_after else "not yet valid"
        return None
    return reason
