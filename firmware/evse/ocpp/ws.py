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
(CERT_REQUIRED) and match the host name. For security profile 3 `cadata` is a tuple (CA,
charger certificate, private key), the last two PEM texts (wstls.py): one argument, so that the
resident signature stays as it was. `auth`: (identity, password), the password text or bytes. The handshake happens on the first write, which the
client does first anyway (MicroPython TLS streams fail when read first). The Authorization key
is never logged nor put into any error message.
"""
import asyncio
import os
import struct
import time

_OP_CONT = const(0)
_OP_TEXT = const(1)
_OP_BIN = const(2)
_OP_CLOSE = const(8)
_OP_PING = const(9)
_OP_PONG = const(10)
failed = {}  # close code -> connections this client failed with it (1002, 1003, 1007, 1009)


class WSError(Exception):
    status = 0  # the HTTP status of a refused upgrade


class ConnectionClosed(WSError):
    def __init__(self, code=1006, reason=""):
        super().__init__("connection closed (%d%s)" % (code, " " + reason if reason else ""))
        self.code = code
        self.reason = reason


def _strict(data):
    # the rare check of a text that is not all ASCII: loaded for it, dropped after
    from evse import drop
    from evse.ocpp.utf8 import strict
    drop("evse.ocpp.utf8")
    return strict(data)


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
        self._code = 1006
        self._done = asyncio.Event()  # set when the connection is over
        self._lock = asyncio.Lock()  # one frame at a time on the wire
        self._hdr = memoryview(bytearray(8))
        self._reading = False
        self._mid = False  # part of a frame consumed: a timeout now means a broken stream
        self._rx = time.ticks_ms()
        self._ping_at = None  # ticks of our unanswered ping

    async def _send(self, opcode, payload):
        if self.closed or (self._close_sent and opcode != _OP_CLOSE):
            raise ConnectionClosed(self._code)
        buf = frame(opcode, payload, os.urandom(4))
        async with self._lock:
            try:
                self._w.write(buf)
                await self._w.drain()
            except OSError as e:
                self._abort()
                raise ConnectionClosed(1006, repr(e)) from None

    async def send(self, text):
        data = memoryview(text)  # MicroPython: a str's UTF-8 bytes without a copy
        if len(data) > self.max_frame:
            raise WSError("message of %d bytes > max_frame" % len(data))
        await self._send(_OP_TEXT, data)

    async def ping(self, data=b""):
        if self._ping_at is None:
            self._ping_at = time.ticks_ms()
        await self._send(_OP_PING, data)

    async def _fill(self, mv):
        n = 0
        while n < len(mv):
            k = await self._r.readinto(mv[n:])
            if k is None:  # TLS: a record is not complete yet
                continue
            if not k:
                raise EOFError
            n += k
            self._mid = True

    async def _frame(self):
        """-> (fin, opcode, payload bytearray); control frames included."""
        self._mid = False
        h = self._hdr
        await self._fill(h[:2])
        b0, n = h[0], h[1]
        op = b0 & 0x0F
        if b0 & 0x70 or n & 0x80 or (op > 7 and (n > 125 or not b0 & 0x80)):
            await self._fail(1002)  # reserved bits, masked server frame, bad control frame
        if n == 126:
            await self._fill(h[:2])
            n = struct.unpack_from(">H", h)[0]
        elif n == 127:
            await self._fill(h)
            n = struct.unpack_from(">Q", h)[0]
        if n > self.max_frame:
            await self._fail(1009)
        data = bytearray(n)
        if n:
            await self._fill(memoryview(data))
        self._mid = False
        return b0 & 0x80, op, data

    async def _next(self):
        """Next frame, pinging / giving up when the server stays silent (ping_interval)."""
        while True:
            iv = self.ping_interval
            if not iv:
                return await self._frame()
            t = self._rx if self._ping_at is None else self._ping_at
            left = int(iv * 1000) - time.ticks_diff(time.ticks_ms(), t)
            if left > 0:
                try:
                    return await asyncio.wait_for_ms(self._frame(), left)
                except asyncio.TimeoutError:
                    if self._mid:  # a frame stopped half way: the stream is unusable
                        self._abort()
                        raise ConnectionClosed() from None
            elif self._ping_at is None:
                await self.ping()
            else:
                self._abort()
                raise ConnectionClosed(1006, "no pong")

    async def recv(self):
        """Next text message as str. Raises ConnectionClosed when the connection is over."""
        if self.closed:
            raise ConnectionClosed(self._code)
        self._reading = True
        parts = None
        try:
            while True:
                fin, op, data = await self._next()
                self._rx = time.ticks_ms()
                self._ping_at = None
                if op == _OP_PING:
                    if not self._close_sent:  # closing: the close handshake answers for us
                        await self._send(_OP_PONG, data)
                elif op == _OP_CLOSE:
                    code = struct.unpack_from(">H", data)[0] if len(data) > 1 else 1005
                    if not self._close_sent:
                        self._close_sent = True
                        try:
                            await self._send(_OP_CLOSE, data[:2])
                        except WSError:
                            pass
                    self._code = code
                    self._abort()
                    try:
                        reason = str(data[2:], "utf-8")
                    except UnicodeError:
                        reason = ""  # not UTF-8: the code says enough
                    raise ConnectionClosed(code, reason)
                elif op == _OP_BIN:
                    await self._fail(1003)
                elif op == _OP_TEXT or op == _OP_CONT:
                    if (op == _OP_CONT) != (parts is not None):
                        await self._fail(1002)
                    if not fin or parts:
                        if parts is None:
                            parts = []
                        parts.append(data)
                        if sum(len(p) for p in parts) > self.max_frame:
                            await self._fail(1009)
                        if not fin:
                            continue
                        data = b"".join(parts)
                    # RFC 6455 8.1: valid UTF-8, the whole message (fragments joined). str()
                    # refuses stray continuation bytes and cut sequences; what it lets through
                    # (overlong forms, surrogates, above U+10FFFF) needs a byte >= 0x80, so an
                    # all-ASCII text (as many characters as bytes) is done after str().
                    try:
                        text = str(data, "utf-8")
                    except UnicodeError:
                        text = None
                    if text is None or len(text) != len(data) and not _strict(data):
                        await self._fail(1007)
                    return text
                elif op != _OP_PONG:
                    await self._fail(1002)
        except (OSError, EOFError) as e:
            self._abort()
            raise ConnectionClosed(1006, repr(e)) from None
        finally:
            self._reading = False

    async def _fail(self, code):
        """Protocol violation (1002), unsupported data (1003), not UTF-8 (1007), too big (1009):
        close, count, raise."""
        failed[code] = failed.get(code, 0) + 1
        if not self._close_sent:
            self._close_sent = True
            self._code = code
            try:
                await self._send(_OP_CLOSE, struct.pack(">H", code))
            except WSError:
                pass
        self._abort()
        raise ConnectionClosed(code)

    def _abort(self):
        if not self.closed:
            self.closed = True
            try:
                self._w.close()
                self._w.s.close()
            except (OSError, AttributeError):
                pass
        self._done.set()

    async def close(self, code=1000):
        """Close handshake: send close, wait (bounded) for the server's close, drop the socket."""
        if self.closed:
            return
        if not self._close_sent:
            self._close_sent = True
            self._code = code
            try:
                await self._send(_OP_CLOSE, struct.pack(">H", code))
            except WSError:
                return
        try:
            # a running recv() sees the server's close; otherwise read until it comes
            await asyncio.wait_for_ms(self._done.wait() if self._reading else self._drain(),
                                      self.timeout_ms)
        except (asyncio.TimeoutError, WSError):
            pass
        self._abort()

    async def _drain(self):
        while True:
            await self.recv()


async def connect(url, protocol="ocpp1.6", auth=None, cadata=None, timeout_ms=10000, max_frame=8192,
                  ping_interval=0):
    """Open a WebSocket; raises WSError (.status: HTTP status of a refusal) on any failure."""
    # The opening handshake (and TLS set-up) runs once per connection: its code is in
    # wsopen.py, imported for the call and dropped after, so it does not sit in the heap.
    import sys

    from evse import drop
    from evse.ocpp import wsopen
    drop("evse.ocpp.wsopen")
    return await wsopen.connect(sys.modules[__name__], url, protocol, auth, cadata, timeout_ms,
                                max_frame, ping_interval)
