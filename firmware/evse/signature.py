# Signature checks for signed firmware updates and certificates: RSA-PSS and RSA PKCS#1 v1.5
# with SHA-256 (RFC 8017 EMSA-PSS-VERIFY 9.1.2, EMSA-PKCS1-v1_5 9.2), ECDSA on P-256 with
# SHA-256 (evse/ecdsa.py), and a signing certificate's check against the installed
# ManufacturerRootCertificates. MicroPython has no public-key API: the RSA operation is
# pow(s, e, n) on its big integers.
# Loaded per use (a signed update, a certificate check) and dropped after.
#
# Every check takes the SHA-256 digest, not the data: the updater hashes the firmware file block
# by block as it downloads it (hashlib.sha256().update), so the file is never held whole.
import hashlib

from micropython import const

# evse.x509 is imported where a certificate is read (signed_by, verify_chain): the firmware
# file's check after a download needs only the key, and the heap is tightest then.

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
    if n >> 8192:  # past what _bits counts: a key no certificate here may have
        return None
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
    if pad < 8 or em[0] != 0 or em[1] != 1 or em[2 + pad] != 0:
        return False
    # the rest compared in place, part by part: no k-byte expected encoding built (heap)
    m = memoryview(em)
    for i in range(2, 2 + pad):
        if em[i] != 0xFF:
            return False
    return m[3 + pad:3 + pad + len(_SHA256_INFO)] == _SHA256_INFO and m[-_HLEN:] == digest


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


def ecdsa_p256(key, digest, sig):
    """ECDSA on P-256 with SHA-256 (evse/ecdsa.py, loaded for an EC key only: RSA is the usual
    firmware signer and the curve arithmetic is a third of the code)."""
    from evse import drop, ecdsa
    drop("evse.ecdsa")
    return ecdsa.verify(key, digest, sig)


def _pss_sha256_params(params):
    # RSASSA-PSS-params (RFC 4055 3.1) must name SHA-256 as the hash and MGF1-SHA-256: the
    # defaults (SHA-1) and anything else are refused. Returns the salt length (default 20).
    from evse import x509
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
    from evse import x509
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


def verify_firmware(key_type, key, digest, sig):
    """The firmware file's signature (its SHA-256 digest) with the signing certificate's key
    (x509.Certificate's key_type and key): RSA-PSS (any salt length) for an RSA key, ECDSA for
    a P-256 key (the whitepaper's "ECSchnorr" is read as ECDSA, as common implementations do)."""
    if key_type == "RSA":
        return rsa_pss_sha256(key, digest, sig)
    if key_type == "EC":
        return ecdsa_p256(key, digest, sig)
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
