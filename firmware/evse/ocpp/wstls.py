# TLS set-up of a wss:// connection (wsopen.py's handshake): the CA certificate, the charger's
# own certificate and key (security profile 3) and the client context. Loaded for a wss:// connection only, and dropped after: a ws:// one (a local central
# system) never holds it in the heap.
import binascii


def pem_to_der(ws, pem):
    """PEM text (the first certificate) -> DER bytes; DER bytes pass through."""
    if isinstance(pem, bytes):
        if pem[:1] == b"\x30":
            return pem
        pem = pem.decode()
    i = pem.find("-----BEGIN")
    j = pem.find("-----END")
    if i < 0 or j < i:
        raise ws.WSError("CA certificate is not PEM text")
    return binascii.a2b_base64(pem[pem.find("\n", i):j])  # a2b_base64 skips the line breaks


def der(text, label):
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
        ctx.load_verify_locations(cadata=pem_to_der(ws, cadata))
    except ValueError as e:
        raise ws.WSError("CA certificate unreadable: %s" % (str(e).strip() or repr(e))) from None
    if client:
        cert, key = der(client[0], "CERTIFICATE"), der(client[1], "PRIVATE KEY")
        if cert is None or key is None:
            raise ws.WSError("client certificate or key is not PEM (client_cert, client_key)")
        try:
            ctx.load_cert_chain(cert, key)  # bytes: a str would be taken for a file name
        except (ValueError, OSError) as e:
            # mbedTLS's general "bad input" for any key or certificate: its text, not the key's
            raise ws.WSError("client certificate or key unreadable: %s" % (str(e).strip() or repr(e))) from None
        del key
    return ctx
