# TLS set-up of a wss:// connection (wsopen.py's handshake): the CA certificates, the charger's
# own certificate and key (security profile 3) and the client context. Loaded for a wss://
# connection only, and dropped after: a ws:// one (a local central
# system) never holds it in the heap.
#
# The CAs: config.json's `ca_cert` ("P", the provisioned one) and the
# CentralSystemRootCertificates installed over OCPP (certstore.py, whose flash layout this
# reads: data/certs/C<n>.der, and the notes `inuse`, `dropped`, `refused`). One CA per
# handshake: the port's load_verify_locations would take several (each call adds to mbedtls'
# chain), but then which one verified the server is unknown, and DeleteCertificate must refuse
# exactly that one; and each CA loaded costs heap through the connection. wsopen.connect tries
# cas() in turn: the CA the last connection was verified with first (one handshake, as before),
# then the installed ones newest first (after the central system switched to a certificate of a
# newly installed root, a rotation, the new one is found), then the provisioned one.
# The names here are few and short: a wss:// charger interns them at its first connection.
import binascii
import os

from evse.files import load_json, remove, replace

STORE = const("data/certs/")


def der(pem):
    """The first certificate of PEM text as DER (DER bytes pass through); None for none;
    ValueError when it is not PEM (binascii.Error, a ValueError, for bad base64). Unlike
    pem_block below it judges no content: mbedTLS's load does, and says why."""
    if not pem:
        return None
    if isinstance(pem, bytes):
        if b"-----BEGIN" not in pem:
            return pem
        pem = pem.decode()
    i = pem.find("-----", pem.find("-----BEGIN") + 10) + 5  # after the header's dashes
    j = pem.find("-----END", i)
    if i < 15 or j < 0:
        raise ValueError("CA certificate is not PEM text")
    return binascii.a2b_base64(pem[i:j])  # a2b_base64 skips line breaks (LF, CRLF) and spaces


def text(name):
    """A note of the store ("inuse"...), "" when there is none."""
    try:
        with open(STORE + name) as f:
            return f.read()
    except OSError:
        return ""


def put(name, data):
    """Write a file of the store whole or not at all (beside its name, then renamed)."""
    for d in ("data", STORE[:-1]):
        try:
            os.mkdir(d)
        except OSError:
            pass  # there already
    with open(STORE + name + ".tmp", "wb") as f:
        f.write(data)
    replace(STORE + name + ".tmp", STORE + name)


def names(t):
    """The stored certificates of type letter `t` ("C", "M"), newest first: ["C5", "C2"]."""
    found = []
    try:
        for e in os.ilistdir(STORE[:-1]):
            n = e[0]
            if n[:1] == t and n[-4:] == ".der" and n[1:-4].isdigit():
                found.append(int(n[1:-4]))
    except OSError:  # no store yet
        pass
    found.sort(reverse=True)
    return [t + str(i) for i in found]


def provisioned(pem):
    """The provisioned CA's DER; None when there is none, it is not PEM, or it was deleted
    (DeleteCertificate marks it `dropped` by its SHA-256: config.json is never written)."""
    import hashlib
    try:
        d = der(pem)
    except ValueError:
        return None
    if d is None or text("dropped") == binascii.hexlify(hashlib.sha256(d).digest()).decode():
        return None
    return d


def read(name, pem=None):
    """The DER of CA or certificate `name` ("C3", "M1", "P": the provisioned `pem`); None
    when it is gone."""
    if name == "P":
        return provisioned(pem)
    try:
        with open(STORE + name + ".der", "rb") as f:
            return f.read()
    except OSError:
        return None


def cas(pem):
    """The CAs a wss:// connection tries, in order (above)."""
    order = names("C")
    if provisioned(pem) is not None:
        order.append("P")
    used = text("inuse")
    if used in order:
        order.remove(used)
        order.insert(0, used)
    return order


def https_ca():
    """The CA of an https:// transfer (GetDiagnostics and GetLog uploads, a firmware download):
    DER, None when there is none. The first of cas() that is still readable: the CA the OCPP
    connection was verified with, else the newest installed CentralSystemRootCertificate, else
    config.json's ca_cert unless DeleteCertificate dropped it. One CA: evse.http's TLS context
    takes one."""
    cfg = load_json("config.json", {})
    pem = cfg.get("ca_cert") if type(cfg) is dict else None
    del cfg
    for name in cas(pem):
        d = read(name, pem)
        if d:
            return d
    return None


def worked(name):
    """A connection was verified with CA `name`: remembered (written only when it changes) to
    be tried first next time, and kept from DeleteCertificate."""
    if text("inuse") != name:
        put("inuse", name.encode())
    remove(STORE + "refused")


def refused(why):
    """No CA verified the central system's certificate: the security event
    InvalidCentralSystemCertificate, once for a run of refused connections (the charger tries
    again every ReconnectBackoffMax at most: an event each time would fill the security log and
    the notification queue), until a connection is verified again."""
    if text("refused"):
        return
    from evse.ocpp.security_events import event
    event(None, "InvalidCentralSystemCertificate", why)  # queued: sent once a connection is up
    try:
        put("refused", b"1")
    except OSError:
        pass


def pem_block(text, label):
    """The DER bytes of the PEM block whose label ends with `label` ("CERTIFICATE"; "PRIVATE
    KEY": PKCS#8, or SEC1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY", which OpenSSL may put
    after an "EC PARAMETERS" block), None when there is none or it is no base64 of a DER
    sequence. DER, because the unix port's mbedTLS is built without PEM parsing (an ESP32's
    reads both). Never raises and never echoes the text: it may be a private key. config.py's
    check of client_cert and client_key is this very function."""
    if type(text) is not str:
        return None
    i = text.find(label + "-----")
    b = text.rfind("-----BEGIN ", 0, i) if i > 0 else -1
    j = text.find("-----END ", i)
    if b < 0 or j < 0 or "-" in text[b + 11:i]:
        return None
    try:
        data = binascii.a2b_base64(text[i + len(label) + 5:j])
    except ValueError:
        return None
    return data if data[:1] == b"\x30" and len(data) > 64 else None


def context(ws, cadata):
    """The client context of a wss:// connection: the server certificate must chain to the CA
    (`cadata`: PEM text or DER bytes) and match the host name (mbedTLS checks the name given as
    server_hostname against the certificate's subjectAltName, or its CN without one, when
    CERT_REQUIRED). Security profile 3: `cadata` is (CA, charger certificate, private key),
    the last two PEM texts."""
    import ssl

    client = None
    if type(cadata) is tuple:
        cadata, client = cadata[0], cadata[1:]
        if not cadata:
            raise ws.WSError("a client certificate needs a CA certificate (ca_cert) too")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cadata=der(cadata))
    except (ValueError, TypeError) as e:
        f = ws.WSError("CA certificate unreadable: %s" % (str(e).strip() or repr(e)))
        f.untrusted = True  # the next CA may be readable (wsopen.connect)
        raise f from None
    if client:
        cert, key = pem_block(client[0], "CERTIFICATE"), pem_block(client[1], "PRIVATE KEY")
        if cert is None or key is None:
            raise ws.WSError("client certificate or key is not PEM (client_cert, client_key)")
        try:
            ctx.load_cert_chain(cert, key)  # bytes: a str would be taken for a file name
        except (ValueError, OSError) as e:
            # mbedTLS's general "bad input" for any key or certificate: its text, not the key's
            raise ws.WSError("client certificate or key unreadable: %s" % (str(e).strip() or repr(e))) from None
        del key
    return ctx
