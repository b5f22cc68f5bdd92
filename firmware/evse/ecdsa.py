# ECDSA verification on P-256 with SHA-256 (FIPS 186-4 6.4, SEC 1 4.1.4): pure-Python point
# arithmetic in Jacobian coordinates on MicroPython's big integers (no inversion per step: one
# at the end). Loaded by evse/signature.py for an EC key only, and dropped after.
# Measured on the 32-bit unix port (x86-64 host): ~10 ms and ~1.2 MB of short-lived big
# integers per verification (the gc reclaims them as it goes: it passes in a 19k heap).

from evse import x509

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


def verify(key, digest, sig):
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
