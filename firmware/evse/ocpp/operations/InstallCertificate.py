# InstallCertificate (security whitepaper): a root certificate (PEM) into the store
# (certstore.py), answered
#   Accepted  stored (or already there: installing it again changes nothing)
#   Rejected  not a certificate: not PEM, DER that does not parse, longer than the store takes
#             (certstore.MAX_DER), expired by the central system's clock, or its type's store
#             full (CertificateStoreMaxLength): nothing is stored
#   Failed    the flash would not take it
# A CentralSystemRootCertificate is trusted from the next wss:// connection on, tried before
# the older ones (certstore.candidates); none is dropped here: a rotation installs the new
# root, the central system switches its certificate, and deletes the old root once the charger
# is connected with the new one.
from evse import drop
from evse.log import log
from evse.ocpp import certstore as cs

drop("evse.ocpp.certstore")


def answer(cp, p):
    t = cs.letter(p["certificateType"])
    status = "Rejected"
    why = "ok"
    try:
        der = cs.der_of(p["certificate"])
        if der is None or len(der) > cs.MAX_DER:
            raise ValueError("too long")
        h = cs.hash_data(der)  # parses it all: a defect raises ValueError
        why = _expired(der)
        if why is None:
            name = cs.find(h)
            if name is None:
                name = cs.add(t, der)
            status = "Accepted"
            why = name
    except ValueError as e:
        why = str(e) or "unreadable"
    except IndexError:
        why = "store full"
    except OSError as e:
        status = "Failed"
        why = repr(e)
    log("certificate install", "type", t, "status", status, "why", why)
    return {"status": status}


def _expired(der):
    """'expired' when notAfter is past on a set clock, else None."""
    from evse import ocpp, x509
    drop("evse.x509")
    if ocpp.clock_set and x509.parse(der).not_after < ocpp.now():
        return "expired"
    return None
