# The certificate store (security whitepaper: InstallCertificate, GetInstalledCertificateIds,
# DeleteCertificate, and the CAs a wss:// connection trusts). Loaded per use (an operation, a
# TLS connection) and dropped after: nothing of it is resident.
#
# On flash, one DER file per certificate in data/certs/, named by type and a number that only
# grows (the newest has the highest):
#   C<n>.der   a CentralSystemRootCertificate
#   M<n>.der   a ManufacturerRootCertificate
#   inuse      the name of the CA the last wss:// connection was verified with ("C3", or "P"
#              for the provisioned one): DeleteCertificate refuses to delete it
#   dropped    the SHA-256 (hex) of a provisioned CA the central system deleted
# The provisioned CA (config.json's `ca_cert`, "P") counts as an installed
# CentralSystemRootCertificate: listed, and deletable once another CA carries the connection (a
# rotation away from it); config.json itself is never written, its CA is only marked dropped.
# Each file is written beside its name (.tmp) and renamed into place (files.replace): a power cut
# leaves the store as it was or with the new certificate, never half of one; a stale .tmp is
# ignored and removed by the next install.
import binascii
import hashlib
import os

from evse.files import replace

DIR = const("data/certs")
MAX_PER_TYPE = const(4)  # CertificateStoreMaxLength (settings.py): per type
MAX_DER = const(2560)  # a root of RSA-4096 with a few extensions is ~1.5 KB of DER


def letter(ctype):
    """'C' or 'M' for an OCPP CertificateUseEnumType value (the schema has checked it)."""
    return "C" if ctype[0] == "C" else "M"


def names(t):
    """The stored certificates of type letter `t`, newest first: ["C5", "C2"]."""
    found = []
    try:
        for e in os.ilistdir(DIR):
            n = e[0]
            if n[:1] == t and n.endswith(".der") and n[1:-4].isdigit():
                found.append(int(n[1:-4]))
    except OSError:  # no store yet
        pass
    found.sort(reverse=True)
    return [t + str(i) for i in found]


def read(name, provisioned=None):
    """The DER of a stored certificate, or of the provisioned CA ("P"); None when gone."""
    if name == "P":
        return der_of(provisioned)
    try:
        with open(DIR + "/" + name + ".der", "rb") as f:
            return f.read()
    except OSError:
        return None


def der_of(pem):
    """The first certificate of PEM text (or DER bytes as they are) as DER; None when `pem` is
    empty; ValueError when it is not a certificate's PEM."""
    if not pem:
        return None
    if isinstance(pem, bytes):
        if pem[:1] == b"\x30":
            return pem
        pem = pem.decode()
    i = pem.find("-----BEGIN CERTIFICATE-----")
    j = pem.find("-----END CERTIFICATE-----", i + 1)
    if i < 0 or j < 0:
        raise ValueError("not a PEM certificate")
    return binascii.a2b_base64(pem[i + 27:j])  # a2b_base64 skips the line breaks (binascii.Error: a ValueError)


def _text(name):
    try:
        with open(DIR + "/" + name) as f:
            return f.read()
    except OSError:
        return ""


def _write(name, data):
    try:
        os.mkdir("data")
    except OSError:
        pass
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    tmp = DIR + "/" + name + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    replace(tmp, DIR + "/" + name)


def _digest(der):
    return binascii.hexlify(hashlib.sha256(der).digest()).decode()


def provisioned(pem):
    """The provisioned CA's DER, None when there is none, it is unreadable or was deleted."""
    try:
        der = der_of(pem)
    except ValueError:
        return None
    if der is None or _text("dropped") == _digest(der):
        return None
    return der


def in_use():
    return _text("inuse")


def verified_with(name):
    """A wss:// connection was verified with CA `name`: remembered (written only when it
    changes) so that the next connection tries it first and DeleteCertificate keeps it."""
    if _text("inuse") != name:
        _write("inuse", name.encode())


def candidates(pem):
    """The CAs a wss:// connection tries, in order: the one the last connection was verified
    with, then the installed CentralSystemRootCertificates newest first (a new root is tried
    before the old ones: a rotation), then the provisioned one."""
    order = names("C")
    if provisioned(pem) is not None:
        order.append("P")
    used = in_use()
    if used in order:
        order.remove(used)
        order.insert(0, used)
    return order


def hash_data(der, alg="SHA256"):
    """The CertificateHashData of a certificate (whitepaper ed. 3; evse/x509.py); ValueError
    when it cannot be parsed."""
    from evse import drop, x509
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


def find(h, pem=None):
    """The name of the installed certificate `h` (CertificateHashData) names, or None (also for
    a hash MicroPython's hashlib does not have: SHA384 and SHA512 on most ports)."""
    if not hasattr(hashlib, h["hashAlgorithm"].lower()):
        return None
    for t in "CM":
        for name, der in listed(t, pem):
            try:
                if same(hash_data(der, h["hashAlgorithm"]), h):
                    return name
            except ValueError:  # a stored file that no longer parses names nothing
                pass
    return None


def add(t, der):
    """Store a certificate of type letter `t` (already checked); returns its name. OSError when
    the flash fails, IndexError when the type's store is full."""
    have = names(t)
    if len(have) >= MAX_PER_TYPE:
        raise IndexError("store full")
    try:  # a power cut's leftovers
        for e in os.ilistdir(DIR):
            if e[0].endswith(".tmp"):
                os.remove(DIR + "/" + e[0])
    except OSError:
        pass
    name = t + str(int(have[0][1:]) + 1 if have else 1)
    _write(name + ".der", der)
    return name


def delete(name, pem=None):
    """Forget certificate `name`: its file, or the provisioned CA marked dropped."""
    if name == "P":
        _write("dropped", _digest(der_of(pem)).encode())
    else:
        os.remove(DIR + "/" + name + ".der")
