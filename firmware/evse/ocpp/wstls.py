# TLS set-up of a wss:// connection (wsopen.py's handshake): the CA certificate and the client
# context. Loaded for a wss:// connection only, and dropped after: a ws:// one (a local central
# system) never holds it in the heap.
import binascii


def pem_to_der(ws, pem):
    """PEM text (the first certificate) -> DER bytes; DER bytes pass through."""
    if isinstance(pem, bytes):
        if b"-----BEGIN" not in pem:  # DER (certstore.read gives DER, whatever it holds)
            return pem
        pem = pem.decode()
    i = pem.find("-----BEGIN")
    j = pem.find("-----END")
    if i < 0 or j < i:
        raise ws.WSError("CA certificate is not PEM text")
    return binascii.a2b_base64(pem[pem.find("\n", i):j])  # a2b_base64 skips the line breaks


def context(ws, cadata):
    """The client context of a wss:// connection: the server certificate must chain to the CA
    (`cadata`: PEM text or DER bytes) and match the host name."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cadata=pem_to_der(ws, cadata))
    except ValueError as e:
        f = ws.WSError("CA certificate unreadable: %s" % (str(e).strip() or repr(e)))
        f.untrusted = True  # the next CA may be readable (wsopen.connect)
        raise f from None
    return ctx
