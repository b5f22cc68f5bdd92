# Whether a certificate may sign firmware (SignedUpdateFirmware, before its chain is checked):
# loaded for that one check and dropped before evse.signature, so that its code is not in the
# heap at the CALL's peak (the chain's RSA arithmetic). The extensions are read here, not in
# evse/x509.py, for the same reason: x509 stays loaded through the chain check.
from evse.x509 import tlv

_KEY_USAGE = b"\x55\x1d\x0f"  # 2.5.29.15
_EXT_KEY_USAGE = b"\x55\x1d\x25"  # 2.5.29.37
_BASIC_CONSTRAINTS = b"\x55\x1d\x13"  # 2.5.29.19 (x509 reads it: Certificate.ca)
_CODE_SIGNING = b"\x2b\x06\x01\x05\x05\x07\x03\x03"  # id-kp-codeSigning


def _extensions(cert):
    # -> (keyUsage's first byte or None, extendedKeyUsage names codeSigning or None, an unknown
    # critical extension). x509 checked the extensions' shape when it read the certificate.
    usage = code = None
    if cert.exts is None:
        return usage, code, False
    b = cert.der
    _, i, e = tlv(b, *cert.exts)
    while i < e:
        _, xs, xe = tlv(b, i, e)
        _, os_, j = tlv(b, xs, xe)
        oid = bytes(b[os_:j])
        t, s, v = tlv(b, j, xe)
        crit = False
        if t == 0x01:  # BOOLEAN critical
            crit = v == s + 1 and b[s] != 0
            t, s, v = tlv(b, v, xe)
        if oid == _KEY_USAGE:
            t, ks, ke = tlv(b, s, v)
            usage = b[ks + 1] if t == 0x03 and ke > ks + 1 else 0
        elif oid == _EXT_KEY_USAGE:
            _, ks, ke = tlv(b, s, v)
            code = False
            while ks < ke:
                _, os2, oe = tlv(b, ks, ke)
                if bytes(b[os2:oe]) == _CODE_SIGNING:
                    code = True
                ks = oe
        elif crit and oid != _BASIC_CONSTRAINTS:  # RFC 5280 4.2: not understood -> refused
            return usage, code, True
        i = xe
    return usage, code, False


def why(cert):
    """Why `cert` may not sign firmware, or None: it must be an end entity (not a CA), hold an
    RSA key of 2048..4096 bits with an odd exponent 3 <= e < 2**32 or a P-256 key (x509 reads
    no other curve), have digitalSignature in its keyUsage and codeSigning in its
    extendedKeyUsage where those extensions are present, and no critical extension this reader
    does not know (RFC 5280 4.2). ValueError for extensions that do not parse."""
    if cert.ca:
        return "a CA certificate"
    usage, code, critical = _extensions(cert)
    if critical:
        return "unknown critical extension"
    if usage is not None and not usage & 0x80:
        return "keyUsage without digitalSignature"
    if code is False:
        return "extendedKeyUsage without codeSigning"
    if cert.key_type == "RSA":
        n, e = cert.key
        if n >> 4096 or not n >> 2047:
            return "RSA key size"
        if e < 3 or e >> 32 or not e & 1:
            return "RSA exponent"
    elif cert.key_type != "EC":
        return "key type not supported"
    return None
