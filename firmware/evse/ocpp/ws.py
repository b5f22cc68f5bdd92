"""RFC 6455 WebSocket client on MicroPython asyncio streams (ws:// and wss://).

Why our own: micropython-lib's aiohttp client does not check Sec-WebSocket-Accept nor the
subprotocol the server chose, masks frames byte by byte through a generator, and is not frozen
into the firmware (not installable offline). This one is small, checks the handshake, masks in
place four bytes per step, and bounds every frame.

API (one task calls recv(); any task may call send/ping/close):

    from evse.ocpp import ws
    conn = await ws.connect(url, protocol="ocpp1.6", auth=(identity, key) or None,
                            cadata=None, timeout_ms=10000, max_frame=8192, ping_interval=0)
    await conn.send(text)          # one text frame
    text = await conn.recv()       # next text message; answers pings, reassembles fragments
    await conn.ping()              # explicit ping (recv() does it by itself, see below)
    await conn.close(code=1000)    # close handshake, bounded by timeout_ms
    conn.ping_interval = 30        # WebSocketPingInterval, seconds, 0 = off; may change live
    conn.closed                    # True once the connection is over

Errors: `WSError` (base; `.status` is the HTTP status of a refused upgrade, e.g. 401 or 404,
else 0: TLS, timeout, bad handshake, network) and `ConnectionClosed(WSError)` (`.code`: the close
code, 1006 when the connection just died) raised by recv()/send() once the connection is over.

Keepalive: while recv() waits, if no frame has arrived for `ping_interval` seconds it sends a
ping; if nothing arrives for another `ping_interval` seconds, the connection is declared dead
(socket closed, ConnectionClosed(1006)). Any frame from the server counts as a sign of life.

TLS: `cadata` is the CA as PEM text (or DER bytes); the server certificate must chain to it
(CERT_REQUIRED) and match the host name. The handshake happens on the first write, which the
client does first anyway (MicroPython TLS streams fail when read first). The Authorization key
is never logged nor put into any error message.
"""
import asyncio
import binascii
import hashlib
import os
import struct
import time

_OP_CONT = const(0)
_OP_TEXT = const(1)
_OP_BIN = const(2)
_OP_CLOSE = const(8)
_OP_PING = const(9)
_OP_PONG = const(10)
_MAX_HEADER_LINES = const(40)
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WSError(Exception):
    def __init__(self, msg, status=0):
        super().__init__(msg)
        self.status = status


class ConnectionClosed(WSError):
    def __init__(self, code=1006, reason=""):
        super().__init__("connection closed (%d%s)" % (code, " " + reason if reason else ""))
        self.code = code
        self.reason = reason


def parse_url(url):
    """'wss://host:port/path' -> (tls, host, port, path)."""
    if url.startswith("ws://"):
        tls, rest = False, url[5:]
    elif url.startswith("wss://"):
        tls, rest = True, url[6:]
    else:
        raise WSError("not a ws:// or wss:// URL: %s" % url)
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    i = hostport.rfind(":")
    if i > 0 and "]" not in hostport[i:]:
        host, port = hostport[:i], int(hostport[i + 1:])
    else:
        host, port = hostport, 443 if tls else 80
    if host.startswith("["):
        host = host[1:-1]
    if not host:
        raise WSError("no host in URL: %s" % url)
    return tls, host, port, path


def accept_key(key):
    """Sec-WebSocket-Accept expected for a Sec-WebSocket-Key (both bytes, base64)."""
    return binascii.b2a_base64(hashlib.sha1(key + _GUID).digest())[:-1]


def pem_to_der(pem):
    """PEM text (first certificate) -> DER bytes; DER bytes pass through."""
    if isinstance(pem, (bytes, bytearray)) and not pem.lstrip().startswith(b"-----"):
        return bytes(pem)
    if not isinstance(pem, str):
        pem = pem.decode()
    lines = pem.strip().split("\n")
    body, inside = [], False
    for line in lines:
        line = line.strip()
        if line.startswith("-----BEGIN"):
            inside = True
        elif line.startswith("-----END"):
            break
        elif inside:
            body.append(line)
    if not body:
        raise WSError("CA certificate is not PEM text")
    return binascii.a2b_base64("".join(body))


def mask(buf, key, off=0):
    """XOR buf[off:] in place with the 4-byte key: four bytes per loop step, no allocation."""
    k0, k1, k2, k3 = key[0], key[1], key[2], key[3]
    end = len(buf)
    stop = off + ((end - off) & ~3)
    i = off
    while i < stop:
        buf[i] ^= k0
        buf[i + 1] ^= k1
        buf[i + 2] ^= k2
        buf[i + 3] ^= k3
        i += 4
    j = 0
    while i < end:
        buf[i] ^= key[j]
        i += 1
        j += 1


def frame(opcode, payload, key, fin=True):
    """One masked client frame as a bytearray (header + masked payload, a single allocation)."""
    n = len(payload)
    if n < 126:
        hl = 2
    elif n < 65536:
        hl = 4
    else:
        hl = 10
    buf = bytearray(hl + 4 + n)
    buf[0] = (0x80 if fin else 0) | opcode
    if hl == 2:
        buf[1] = 0x80 | n
    elif hl == 4:
        buf[1] = 0xFE
        struct.pack_into(">H", buf, 2, n)
    else:
        buf[1] = 0xFF
        struct.pack_into(">Q", buf, 2, n)
    buf[hl:hl + 4] = key
    buf[hl + 4:] = payload
    mask(buf, key, hl + 4)
    return buf


class WebSocket:
    def __init__(self, reader, writer, max_frame, timeout_ms, ping_interval):
        self._r = reader
        self._w = writer
        self.max_frame = max_frame
        self.timeout_ms = timeout_ms
        self.ping_interval = ping_interval
        self.closed = False
        self._close_sent = False
        self._close_code = 1006
        self._closed_ev = asyncio.Event()
        self._lock = asyncio.Lock()
        self._hdr = bytearray(8)
        self._hmv = memoryview(self._hdr)
        self._reading = False
        self._mid = False  # part of a frame consumed: a timeout now means a broken stream
        self._rx = time.ticks_ms()
        self._ping_at = None  # ticks of our unanswered ping

    # -- writing --------------------------------------------------------------------------

    async def _send(self, opcode, payload):
        if self.closed or (self._close_sent and opcode != _OP_CLOSE):
            raise ConnectionClosed(self._close_code)
        buf = frame(opcode, payload, os.urandom(4))
        async with self._lock:
            try:
                self._w.write(buf)
                await self._w.drain()
            except OSError as e:
                self._abort()
                raise ConnectionClosed(1006, "write: %s" % e) from None

    async def send(self, text):
        if len(text) > self.max_frame:
            raise WSError("message of %d bytes exceeds max_frame %d" % (len(text), self.max_frame))
        await self._send(_OP_TEXT, text.encode() if isinstance(text, str) else text)

    async def ping(self, data=b""):
        if self._ping_at is None:
            self._ping_at = time.ticks_ms()
        await self._send(_OP_PING, data)

    # -- reading --------------------------------------------------------------------------

    async def _fill(self, mv):
        n, end = 0, len(mv)
        while n < end:
            k = await self._r.readinto(mv[n:])
            if k is None:  # TLS: a record is not complete yet
                continue
            if not k:
                raise EOFError
            n += k
            self._mid = True

    async def _frame(self):
        """-> (fin, opcode, payload bytearray). Control frames are returned like the others."""
        self._mid = False
        h = self._hmv
        await self._fill(h[:2])
        b0, b1 = h[0], h[1]
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        if b0 & 0x70 or b1 & 0x80:
            await self._fail(1002, "reserved bits or masked server frame")
        if opcode >= 8 and (n > 125 or not b0 & 0x80):
            await self._fail(1002, "bad control frame")
        if n == 126:
            await self._fill(h[:2])
            n = struct.unpack_from(">H", h)[0]
        elif n == 127:
            await self._fill(h)
            n = struct.unpack_from(">Q", h)[0]
        if n > self.max_frame:
            await self._fail(1009, "frame of %d bytes exceeds max_frame %d" % (n, self.max_frame))
        data = bytearray(n)
        if n:
            await self._fill(memoryview(data))
        self._mid = False
        return b0 & 0x80, opcode, data

    async def _next(self):
        """Next frame, with the keepalive deadline applied while waiting for one."""
        iv = self.ping_interval
        if not iv:
            return await self._frame()
        while True:
            since = self._rx if self._ping_at is None else self._ping_at
            left = int(iv * 1000) - time.ticks_diff(time.ticks_ms(), since)
            if left > 0:
                try:
                    return await asyncio.wait_for_ms(self._frame(), left)
                except asyncio.TimeoutError:
                    if self._mid:  # a frame stopped half way: the stream is unusable
                        self._abort()
                        raise ConnectionClosed(1006, "frame timed out") from None
                    continue
            if self._ping_at is not None:
                self._abort()
                raise ConnectionClosed(1006, "no answer to ping") from None
            await self.ping()

    async def recv(self):
        """Next text message as str. Raises ConnectionClosed when the connection is over."""
        if self.closed:
            raise ConnectionClosed(self._close_code)
        self._reading = True
        try:
            return await self._recv()
        except (OSError, EOFError) as e:
            self._abort()
            raise ConnectionClosed(1006, "read: %r" % e) from None
        finally:
            self._reading = False

    async def _recv(self):
        parts = None
        size = 0
        while True:
            fin, op, data = await self._next()
            self._rx = time.ticks_ms()
            self._ping_at = None
            if op == _OP_PING:
                await self._send(_OP_PONG, data)
            elif op == _OP_PONG:
                pass
            elif op == _OP_CLOSE:
                code = struct.unpack_from(">H", data)[0] if len(data) >= 2 else 1005
                if not self._close_sent:
                    await self._send(_OP_CLOSE, data[:2])
                    self._close_sent = True
                self._close_code = code
                self._abort()
                raise ConnectionClosed(code, str(data[2:], "utf-8") if len(data) > 2 else "")
            elif op == _OP_TEXT or op == _OP_BIN or op == _OP_CONT:
                if (op == _OP_CONT) != (parts is not None):
                    await self._fail(1002, "unexpected continuation")
                if op == _OP_BIN:
                    await self._fail(1003, "binary message")
                if fin and parts is None:
                    return str(data, "utf-8")
                if parts is None:
                    parts = []
                size += len(data)
                if size > self.max_frame:
                    await self._fail(1009, "message exceeds max_frame %d" % self.max_frame)
                parts.append(data)
                if fin:
                    return str(b"".join(parts), "utf-8")
            else:
                await self._fail(1002, "unknown opcode %d" % op)

    # -- closing --------------------------------------------------------------------------

    async def _fail(self, code, why):
        """Protocol violation: send close with code, drop the connection, raise."""
        try:
            if not self._close_sent:
                self._close_sent = True
                self._close_code = code
                await self._send(_OP_CLOSE, struct.pack(">H", code))
        except WSError:
            pass
        self._abort()
        raise ConnectionClosed(code, why)

    def _abort(self):
        if not self.closed:
            self.closed = True
            try:
                self._w.close()
                self._w.s.close()
            except (OSError, AttributeError):
                pass
        self._closed_ev.set()

    async def close(self, code=1000):
        """Close handshake: send close, wait (bounded) for the server's close, drop the socket."""
        if self.closed:
            return
        if not self._close_sent:
            self._close_sent = True
            self._close_code = code
            try:
                await self._send(_OP_CLOSE, struct.pack(">H", code))
            except WSError:
                return
        try:
            if self._reading:  # the recv() task sees the server's close and sets the event
                await asyncio.wait_for_ms(self._closed_ev.wait(), self.timeout_ms)
            else:
                await asyncio.wait_for_ms(self._drain_until_close(), self.timeout_ms)
        except (asyncio.TimeoutError, OSError, EOFError):
            pass
        self._abort()

    async def _drain_until_close(self):
        while True:
            _, op, data = await self._frame()
            if op == _OP_CLOSE:
                if len(data) >= 2:
                    self._close_code = struct.unpack_from(">H", data)[0]
                return


def _tls_context(cadata):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=pem_to_der(cadata))
    return ctx


async def _handshake(url, protocol, auth, cadata, timeout_ms, max_frame, ping_interval):
    tls, host, port, path = parse_url(url)
    ctx = None
    if tls:
        if not cadata:
            raise WSError("wss:// needs a CA certificate (ca_cert) to verify %s" % host)
        ctx = _tls_context(cadata)
    try:
        if ctx:
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
        else:
            reader, writer = await asyncio.open_connection(host, port)
    except OSError as e:
        raise WSError("cannot connect to %s:%d: %r" % (host, port, e)) from None
    try:
        key = binascii.b2a_base64(os.urandom(16))[:-1]
        req = [
            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host, port, key.decode())
        ]
        if protocol:
            req.append("Sec-WebSocket-Protocol: %s\r\n" % protocol)
        if auth:
            cred = binascii.b2a_base64(("%s:%s" % auth).encode())[:-1]
            req.append("Authorization: Basic %s\r\n" % cred.decode())
            del cred
        req.append("\r\n")
        try:
            writer.write("".join(req).encode())
            del req
            await writer.drain()
            status = await reader.readline()
        except (OSError, ValueError) as e:
            # mbedtls reports a refused certificate here, on the first write (ValueError or OSError)
            if tls:
                raise WSError("TLS handshake with %s:%d failed: %s" % (host, port, str(e).strip() or repr(e))) from None
            raise WSError("connection to %s:%d failed: %r" % (host, port, e)) from None
        parts = status.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise WSError("not an HTTP response from %s:%d" % (host, port))
        code = int(parts[1])
        if code != 101:
            why = parts[2].strip().decode() if len(parts) > 2 else ""
            raise WSError("upgrade refused: HTTP %d %s" % (code, why), code)
        got = {}
        for _ in range(_MAX_HEADER_LINES):
            line = await reader.readline()
            if not line:
                raise WSError("connection closed during the handshake")
            if line == b"\r\n" or line == b"\n":
                break
            i = line.find(b":")
            if i > 0:
                name = line[:i].strip().lower()
                if name in (b"upgrade", b"connection", b"sec-websocket-accept", b"sec-websocket-protocol"):
                    got[name] = line[i + 1:].strip()
        else:
            raise WSError("too many header lines in the upgrade response")
        if got.get(b"upgrade", b"").lower() != b"websocket" or b"upgrade" not in got.get(b"connection", b"").lower():
            raise WSError("upgrade response lacks Upgrade: websocket / Connection: Upgrade", 101)
        if got.get(b"sec-websocket-accept") != accept_key(key):
            raise WSError("wrong Sec-WebSocket-Accept from server", 101)
        chosen = got.get(b"sec-websocket-protocol")
        if protocol and chosen != protocol.encode():
            raise WSError("server chose subprotocol %r, we asked for %s" % (chosen, protocol), 101)
        if not protocol and chosen:
            raise WSError("server chose subprotocol %r we did not ask for" % chosen, 101)
    except BaseException:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        raise
    return WebSocket(reader, writer, max_frame, timeout_ms, ping_interval)


async def connect(url, protocol="ocpp1.6", auth=None, cadata=None, timeout_ms=10000, max_frame=8192,
                  ping_interval=0):
    """Open a WebSocket; raises WSError (with .status for an HTTP refusal) on any failure."""
    try:
        return await asyncio.wait_for_ms(
            _handshake(url, protocol, auth, cadata, timeout_ms, max_frame, ping_interval), timeout_ms)
    except asyncio.TimeoutError:
        raise WSError("no WebSocket handshake with %s within %d ms" % (url, timeout_ms)) from None
