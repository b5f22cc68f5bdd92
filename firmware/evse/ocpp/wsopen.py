# The WebSocket opening handshake (RFC 6455 section 4), for ws.connect(): loaded per connection
# and dropped after (see ws.py for the API and why this client is ours), with everything only
# the handshake uses (the URL, the accept key), so that none of it sits in the heap between
# connections; the TLS set-up of a wss:// URL is in wstls.py, loaded only for one. ws.py passes
# itself in (`ws`), so this module never imports it back.
# The CAs of a wss:// connection are tried one per handshake (wstls.cas: why and in which order).
import asyncio
import binascii
import hashlib
import os

from evse import drop
from evse.files import remove
from evse.log import log

_MAX_HEADER_LINES = const(40)
_GUID = const(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")


def parse_url(ws, url):
    """'wss://host:port/path' -> (tls, host, port, path)."""
    tls = url.startswith("wss://")
    if not tls and not url.startswith("ws://"):
        raise ws.WSError("not a ws:// or wss:// URL: " + url)
    rest = url[6 if tls else 5:]
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, _, port = hostport.partition(":")
    if not host:
        raise ws.WSError("no host in URL: " + url)
    return tls, host, int(port) if port else 443 if tls else 80, path


def accept_key(key):
    """Sec-WebSocket-Accept expected for a Sec-WebSocket-Key (both bytes, base64)."""
    return binascii.b2a_base64(hashlib.sha1(key + _GUID).digest())[:-1]


async def _handshake(ws, url, protocol, auth, cadata, timeout_ms, max_frame, ping_interval):
    tls, host, port, path = parse_url(ws, url)
    try:
        ctx = None
        if tls:
            from evse.ocpp import wstls
            drop("evse.ocpp.wstls")
            ctx = wstls.context(ws, cadata)
        r, w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
    except OSError as e:
        raise ws.WSError("cannot connect to %s:%d: %r" % (host, port, e)) from None
    try:
        key = binascii.b2a_base64(os.urandom(16))[:-1]
        req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host, port, key.decode())
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        if auth:
            req += "Authorization: Basic %s\r\n" % binascii.b2a_base64(("%s:%s" % auth).encode())[:-1].decode()
        try:
            w.write((req + "\r\n").encode())
            del req
            await w.drain()
            status = (await r.readline()).split(None, 2)
        except (OSError, ValueError) as e:
            # mbedtls refuses a certificate here, on the first write (ValueError or OSError)
            f = ws.WSError("%s with %s:%d failed: %s" % ("TLS handshake" if tls else "connection",
                                                         host, port, str(e).strip() or repr(e)))
            f.untrusted = tls and isinstance(e, ValueError)  # verification: another CA may do
            raise f from None
        if len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
            raise ws.WSError("not an HTTP response from %s:%d" % (host, port))
        code = int(status[1])
        if code != 101:
            e = ws.WSError("upgrade refused: HTTP %d" % code)
            e.status = code
            raise e
        hs = {}
        for _ in range(_MAX_HEADER_LINES):
            line = await r.readline()
            if len(line) < 3:  # the blank line (or the end of the stream)
                break
            name, _, value = line.partition(b":")
            hs[name.strip().lower()] = value.strip()
        else:
            raise ws.WSError("too many header lines")
        if hs.get(b"upgrade", b"").lower() != b"websocket" or b"upgrade" not in hs.get(b"connection", b"").lower():
            raise ws.WSError("no Upgrade: websocket / Connection: Upgrade")
        if hs.get(b"sec-websocket-accept") != accept_key(key):
            raise ws.WSError("wrong Sec-WebSocket-Accept")
        chosen = hs.get(b"sec-websocket-protocol")
        if chosen != (protocol.encode() if protocol else None):
            raise ws.WSError("server chose subprotocol %r, not %r" % (chosen, protocol))
    except BaseException:
        w.close()
        try:
            await w.wait_closed()
        except OSError:
            pass
        raise
    return ws.WebSocket(r, w, max_frame, timeout_ms, ping_interval)


async def connect(ws, url, protocol, auth, cadata, timeout_ms, max_frame, ping_interval):
    try:
        cas = (None,)
        tls = None
        if url.startswith("wss://"):
            from evse.ocpp import wstls as tls  # dropped below, once the connection is open or failed
            cas = tls.cas(cadata)
            if not cas:
                raise ws.WSError("wss:// needs a CA certificate (ca_cert or an installed "
                                 "CentralSystemRootCertificate) to verify " + url)
        refused = None
        for name in cas:
            ca = name and tls.read(name, cadata)
            if name and not ca:  # deleted since
                continue
            try:
                c = await asyncio.wait_for_ms(_handshake(
                    ws, url, protocol, auth, ca, timeout_ms, max_frame, ping_interval), timeout_ms)
            except asyncio.TimeoutError:
                raise ws.WSError("no ws.WebSocket handshake with %s within %d ms" % (url, timeout_ms)) from None
            except ws.WSError as e:
                if not getattr(e, "untrusted", False):
                    raise
                refused = e
                log("ocpp", "ca", name, "refused", str(e))
                continue
            try:
                if name:
                    tls.worked(name)
                else:
                    remove("data/certs/inuse")  # no CA carries a ws:// connection: any may be deleted
            except OSError:  # the flash: the connection is good all the same, the note is lost
                pass
            return c
        if refused is None:
            raise ws.WSError("no CA certificate to verify " + url)
        # No CA verifies the server's certificate (or every one is unreadable).
        log("ocpp", "invalid central system certificate", url)
        tls.refused(str(refused))
        raise refused
    finally:
        drop("evse.ocpp.wstls")  # the one copy (_handshake imports it too): gone with the handshakes
