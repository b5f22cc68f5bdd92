# InstallCertificate (security whitepaper): a root certificate (PEM) into the store
# (certstore.py), answered
#   Accepted  stored (or already there as that type: installing it again changes nothing; the
#             same root may be installed as both types)
#   Rejected  not a certificate: not PEM, DER that does not parse, longer than the store takes
#             (certstore.MAX_DER), not a self-issued CA, an RSA key under 2048 bits, expired by
#             the central system's clock, a CentralSystemRootCertificate mbedtls cannot load,
#             or its type's store full (CertificateStoreMaxLength): nothing is stored
#   Failed    the flash would not take it
# A CentralSystemRootCertificate is trusted from the next wss:// connection on, tried before
# the older ones (wstls.cas); none is dropped here: a rotation installs the new
# root, the central system switches its certificate, and deletes the old root once the charger
# is connected with the new one.
from evse import drop
from evse.log import log
from evse.ocpp import certstore as cs

drop("evse.ocpp.certstore")


def answer(cp, p):
    t = cs.letter(p["certificateType"])
    status = "Rejected"
    try:
        der = cs.der_of(p["certificate"])
        if not der or len(der) > cs.MAX_DER:
            raise ValueError("empty or too long")
        why = _check(t, der)
        if why is None:
            name = cs.find(cs.hash_data(der), None, t)
            why = "already there"
            if name is None:
                why = name = cs.add(t, der)
            status = "Accepted"
    except ValueError as e:  # not PEM, bad base64, DER that does not parse
        why = str(e) or "unreadable"
    except IndexError:
        why = "store full"
    except OSError as e:
        status = "Failed"
        why = repr(e)
    log("certificate install", "type", t, "status", status, "why", why)
    return {"status": status}


def _check(t, der):
    """Why the certificate cannot be a root of type letter `t`, None when it can: a root is a
    self-issued CA certificate (x509.hash_data refuses another: its issuer's key is not at
    hand), not expired on a set clock; a CentralSystemRootCertificate must also be one mbedtls
    loads, or it could never verify a connection."""
    from evse import ocpp, x509
    drop("evse.x509")
    c = x509.Certificate(der)
    x509.hash_data(c)
    if not c.ca:
        return "not a CA"
    if c.key_type == "RSA" and not c.key[0] >> 2047:  # the whitepaper: RSA >= 2048 (no bit_length here)
        return "RSA key under 2048 bits"
    if ocpp.clock_set and c.not_after < ocpp.now():
        return "expired"
    del c
    if t == "C":
        import ssl
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=der)  # ValueError if not
    return None
