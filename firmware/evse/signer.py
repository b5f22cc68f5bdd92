# Whether a certificate may sign firmware (SignedUpdateFirmware, before its chain is checked):
# loaded for that one check and dropped before evse.signature, so that its code is not in the
# heap at the CALL's peak (the chain's RSA arithmetic).


def why(cert):
    """Why `cert` may not sign firmware, or None: it must be an end entity (not a CA), hold an
    RSA key of 2048..4096 bits with an odd exponent 3 <= e < 2**32 or a P-256 key (x509 reads
    no other curve), have digitalSignature in its keyUsage and codeSigning in its
    extendedKeyUsage where those extensions are present, and no critical extension this reader
    does not know (RFC 5280 4.2)."""
    if cert.ca:
        return "a CA certificate"
    if cert.critical:
        return "unknown critical extension"
    if cert.usage is not None and not cert.usage & 0x80:
        return "keyUsage without digitalSignature"
    if cert.code_signing is False:
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
