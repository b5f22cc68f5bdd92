# The certificate store (security whitepaper: InstallCertificate, GetInstalledCertificateIds,
# DeleteCertificate). Loaded per operation and dropped after: nothing of it is resident. What a
# wss:// connection reads of it (its CAs, the one in use) is in wstls.py, with the files'
# helpers, so that a connection interns only those few names.
#
# On flash, one DER file per certificate in data/certs/, named by type and a number that only
# grows (the newest has the highest):
#   C<n>.der   a CentralSystemRootCertificate
#   M<n>.der   a ManufacturerRootCertificate
#   inuse      the name of the CA the last wss:// connection was verified with ("C3", or "P"
#              for the provisioned one): DeleteCertificate refuses to delete it
#   dropped    the SHA-256 (hex) of a provisioned CA the central system deleted
#   refused    there while no CA verifies the central system (one security event for the run)
# The provisioned CA (config.json's `ca_cert`, "P") counts as an installed
# CentralSystemRootCertificate: listed, and deletable once another CA carries the connection (a
# rotation away from it); config.json itself is never written, its CA is only marked dropped.
# Each file is written beside its name (.tmp) and renamed into place (files.replace): a power cut
# leaves the store as it was or with the new certificate, never half of one; a stale .tmp is
# ignored and removed by the next install.
from evse import drop
from evse.ocpp import wstls
from evse.ocpp.wstls import STORE, names, provisioned, put, read, text

drop("evse.ocpp.wstls")  # this module's reference keeps it, no more

MAX_PER_TYPE = const(4)  # CertificateStoreMaxLength (settings.py): per type
MAX_DER = const(2560)  # a root of RSA-4096 with a few extensions is ~1.5 KB of DER


def letter(ctype):
    """'C' or 'M' for an OCPP CertificateUseEnumType value (the schema has checked it)."""
    return "C" if ctype[0] == "C" else "M"


def der_of(pem):
    """The first certificate of PEM text as DER; None for none; ValueError when not PEM."""
    return wstls.der(pem)


def in_use():
    """The CA the last wss:// connection was verified with ("C3", "P"), "" for none."""
    return text("inuse")


def hash_data(der, alg="SHA256"):
    """The CertificateHashData of a certificate (whitepaper ed. 3; evse/x509.py); ValueError
    when it cannot be parsed."""
    from evse import x509
    drop("evse.x509")
    return x509.hash_data(x509.Certificate(der), None, alg)


def listed(t, pem=None):
    """(name, DER) of every certificate of type letter `t`, the provisioned CA with the
    CentralSystemRootCertificates."""
    for name in names(t):
        der = read(name)
        if der is not None:
            yield name, der
    if t == "C":
        der = provisioned(pem)
        if der is not None:
            yield "P", der


def same(a, b):
    """Two CertificateHashData name one certificate: the hex compared without case, the serial
    without leading zeros."""
    for k in ("hashAlgorithm", "issuerNameHash", "issuerKeyHash"):
        if a[k].lower() != b[k].lower():
            return False
    return a["serialNumber"].lower().lstrip("0") == b["serialNumber"].lower().lstrip("0")


def find(h, pem=None, types="CM", every=False):
    """The name of the installed certificate `h` (CertificateHashData) names among `types`, or
    None (also for a hash MicroPython's hashlib does not have: SHA384 and SHA512 on most
    ports). `every`: the list of all of them (one root may be installed as both types, and
    the provisioned CA installed again), [] for none."""
    import hashlib
    found = []
    if not hasattr(hashlib, h["hashAlgorithm"].lower()):
        return found if every else None
    for t in types:
        for name, der in listed(t, pem):
            try:
                if same(hash_data(der, h["hashAlgorithm"]), h):
                    if not every:
                        return name
                    found.append(name)
            except ValueError:  # a stored file that no longer parses names nothing
                pass
    return found if every else None


def add(t, der):
    """Store a certificate of type letter `t` (already checked); returns its name. OSError when
    the flash fails, IndexError when the type's store is full."""
    have = names(t)
    if len(have) >= MAX_PER_TYPE:
        raise IndexError("store full")
    import os
    try:  # a power cut's leftovers
        for e in os.ilistdir(STORE[:-1]):
            if e[0].endswith(".tmp"):
                os.remove(STORE + e[0])
    except OSError:
        pass
    name = t + str(int(have[0][1:]) + 1 if have else 1)
    put(name + ".der", der)
    return name


def delete(name, pem=None):
    """Forget certificate `name`: its file, or the provisioned CA marked dropped."""
    if name == "P":
        import binascii
        import hashlib
        put("dropped", binascii.hexlify(hashlib.sha256(der_of(pem)).digest()).decode().encode())
    else:
        import os
        os.remove(STORE + name + ".der")
