"""HTTP/1.1 client on asyncio streams, for firmware downloads and log uploads (per use: loaded
by the job that needs it, dropped after).

Why our own and not micropython-lib `requests`: `requests` uses blocking sockets, so a download
would stop the event loop (relays, watchdog feeding, the OCPP link's pings) for as long as the
transfer takes, and it returns the body in RAM unless the caller streams the raw socket by hand.
This client yields at every read, times out every read, and moves the body through ONE
preallocated 1 KiB buffer: its heap use does not grow with the file.

API:

    from evse import http
    n = await http.get(url, sink, cadata=None, timeout_ms=10000, limit=-1)
        # streams the body into sink(memoryview) in blocks of <= 1024 bytes (the memoryview is
        # only valid during the call: the buffer is reused); returns the bytes received.
        # Content-Length honoured (fewer bytes = HttpError), chunked, or up to the close.
        # 301/302/303/307/308 followed, at most 3 times, with the same rules; an https:// URL
        # never redirects to http:// (the download would lose its verification).
        # limit >= 0: the most body bytes taken (a Content-Length over it refused before the
        # body; a chunked or close-delimited body passing it ends the read): HttpError(0).
    status = await http.put(url, source, length, cadata=None,
                            content_type="application/octet-stream", method="PUT")
        # uploads `length` bytes pulled from source(buf) -> n (readinto-like, so a log file
        # streams from flash); n <= 0 before `length` = HttpError. Redirects are not followed
        # (the source cannot be rewound). Returns the 2xx status.

Errors: `HttpError`, `.status` = the HTTP status of a non-2xx answer, 0 when there was none (bad
URL, network, TLS, timeout, a body cut short, a malformed answer). An exception raised by `sink`
or `source` passes through unchanged (the caller tells its own errors from the transfer's).

Not asynchronous: the host name's lookup (socket.getaddrinfo inside asyncio.open_connection, a
MicroPython TODO): a DNS server that does not answer holds the loop for its timeout. A location
by IP address, or a central system's own host, does not.

TLS: https:// needs `cadata` (PEM text or DER: the caller's is evse.ocpp.wstls.https_ca's);
the server certificate must chain to it and match the host name (server_hostname is set). No CA
= refused, never an unverified download. The context is built by evse.ocpp.wstls, as for wss://.
"""
import asyncio

from evse import drop

_BLOCK = const(1024)
_MAX_LINE = const(1024)  # a status, header or chunk-size line longer than this: not our server
_MAX_HEADER_LINES = const(40)
_MAX_REDIRECTS = const(3)


class HttpError(Exception):
    def __init__(self, status, msg=""):
        super().__init__(msg or "HTTP %d" % status)
        self.status = status


def parse_url(url):
    """'https://host:port/path' -> (tls, host, port, path); HttpError(0) for anything else."""
    tls = url.startswith("https://")
    if not tls and not url.startswith("http://"):
        raise HttpError(0, "not an http:// or https:// URL")
    rest = url[8 if tls else 7:]
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if "@" in hostport:
        raise HttpError(0, "user info in URL not supported")
    host, _, port = hostport.partition(":")
    if not host or (port and not port.isdigit()) or " " in path:
        raise HttpError(0, "malformed URL")
    port = int(port) if port else 443 if tls else 80
    if not 0 < port < 65536:
        raise HttpError(0, "malformed URL")
    return tls, host, port, path


class _Conn:
    # One connection: the stream, the block buffer and the window of it not yet consumed
    # (header reading reads ahead: the first body bytes may already sit in the buffer).
    def __init__(self, buf, timeout_ms):
        self.buf = buf
        self.mv = memoryview(buf)
        self.pos = 0
        self.end = 0
        self.timeout_ms = timeout_ms
        self.cap = -1  # body bytes still allowed (get's limit); < 0: no limit
        self.s = None  # the stream: MicroPython's reader and writer are one object, typed apart
        self.w = None

    async def open(self, tls, host, port, cadata):
        ctx = None
        if tls:
            if not cadata:
                raise HttpError(0, "https:// needs a CA certificate (ca_cert) to verify " + host)
            from evse.ocpp import ws, wstls
            drop("evse.ocpp.wstls")
            try:
                ctx = wstls.context(ws, cadata)
            except ws.WSError as e:
                raise HttpError(0, str(e)) from None
        try:
            self.s, self.w = await asyncio.wait_for_ms(
                asyncio.open_connection(host, port, ssl=ctx, server_hostname=host), self.timeout_ms)
        except (OSError, asyncio.TimeoutError) as e:
            raise HttpError(0, "cannot connect to %s:%d: %r" % (host, port, e)) from None

    async def send(self, data):
        try:
            self.w.write(data)
            await asyncio.wait_for_ms(self.w.drain(), self.timeout_ms)
        except (OSError, ValueError, asyncio.TimeoutError) as e:
            # mbedtls refuses a certificate on the first write (ValueError or OSError)
            raise HttpError(0, "send failed: %s" % (str(e).strip() or repr(e))) from None

    async def fill(self):
        """Refill the buffer when it is consumed; the bytes available (0 = the peer closed)."""
        if self.pos < self.end:
            return self.end - self.pos
        while True:
            try:
                k = await asyncio.wait_for_ms(self.s.readinto(self.mv), self.timeout_ms)
            except asyncio.TimeoutError:
                raise HttpError(0, "no data within %d ms" % self.timeout_ms) from None
            except (OSError, ValueError) as e:
                raise HttpError(0, "receive failed: %s" % (str(e).strip() or repr(e))) from None
            if k is not None:  # None: a TLS record is not complete yet
                self.pos = 0
                self.end = k
                return k

    async def line(self):
        """One line without its CRLF, as bytes; HttpError at EOF or past _MAX_LINE."""
        out = b""
        while True:
            if not await self.fill():
                raise HttpError(0, "connection closed in the headers")
            b = self.buf
            i = b.find(b"\n", self.pos, self.end)
            j = self.end if i < 0 else i + 1
            out += self.mv[self.pos:j]
            self.pos = j
            if len(out) > _MAX_LINE:
                raise HttpError(0, "header line too long")
            if i >= 0:
                return out.rstrip(b"\r\n")

    async def head(self):
        """Status line and headers -> (status, {lower-case name: value}) of the ones we use."""
        st = (await self.line()).split(None, 2)
        if len(st) < 2 or not st[0].startswith(b"HTTP/1.") or not st[1].isdigit() or len(st[1]) != 3:
            raise HttpError(0, "not an HTTP/1.x response")
        hs = {}
        for _ in range(_MAX_HEADER_LINES):
            ln = await self.line()
            if not ln:
                return int(st[1]), hs
            name, _, value = ln.partition(b":")
            name = name.strip().lower()
            if name in (b"content-length", b"transfer-encoding", b"location"):
                hs[name] = value.strip()
        raise HttpError(0, "too many header lines")

    async def body(self, hs, sink):
        """Stream the body into sink (None: discard it); the bytes received. self.cap >= 0:
        the most bytes taken."""
        te = hs.get(b"transfer-encoding")
        if te is not None:
            if te.lower() != b"chunked":
                raise HttpError(0, "transfer-encoding %s not supported" % te.decode())
            total = 0
            while True:
                size = (await self.line()).split(b";", 1)[0].strip()
                try:
                    n = int(size, 16)
                except ValueError:
                    raise HttpError(0, "bad chunk size") from None
                if n < 0:
                    raise HttpError(0, "bad chunk size")
                if not n:
                    for _ in range(_MAX_HEADER_LINES):  # trailers up to the blank line
                        if not await self.line():
                            return total
                    raise HttpError(0, "too many trailer lines")
                total += await self.part(n, sink)
                if await self.line():
                    raise HttpError(0, "no CRLF after a chunk")
        cl = hs.get(b"content-length")
        if cl is None:
            return await self.part(-1, sink)
        if not cl.isdigit():
            raise HttpError(0, "bad Content-Length")
        if self.cap >= 0 and (len(cl) > 12 or int(cl) > self.cap):
            raise HttpError(0, "Content-Length over %d bytes" % self.cap)  # refused unread
        return await self.part(int(cl), sink)

    async def part(self, n, sink):
        """Pass n bytes (n < 0: up to the close) from the stream to sink, block by block."""
        got = 0
        while n < 0 or got < n:
            k = await self.fill()
            if not k:
                if n < 0:
                    return got
                raise HttpError(0, "body cut at %d of %d bytes" % (got, n))
            if n >= 0 and k > n - got:
                k = n - got
            if self.cap >= 0:  # the whole body's bytes, chunks or up to the close
                if k > self.cap:
                    raise HttpError(0, "body over the limit")
                self.cap -= k
            if sink is not None:
                sink(self.mv[self.pos:self.pos + k])
            self.pos += k
            got += k
        return got

    async def close(self):
        if self.w is not None:
            self.w.close()
            try:
                await self.w.wait_closed()
            except OSError:
                pass
            self.s = self.w = None


def _request(method, host, port, tls, path, extra=""):
    default = 443 if tls else 80
    return ("%s %s HTTP/1.1\r\nHost: %s%s\r\nConnection: close\r\nUser-Agent: evse\r\n%s\r\n" % (
        method, path, host, "" if port == default else ":%d" % port, extra)).encode()


async def get(url, sink, cadata=None, timeout_ms=10000, limit=-1):
    c = _Conn(bytearray(_BLOCK), timeout_ms)
    for _ in range(_MAX_REDIRECTS + 1):
        tls, host, port, path = parse_url(url)
        c.cap = limit
        try:
            await c.open(tls, host, port, cadata)
            await c.send(_request("GET", host, port, tls, path))
            status, hs = await c.head()
            if 200 <= status < 300:
                return await c.body(hs, sink)
            loc = hs.get(b"location")
            if status not in (301, 302, 303, 307, 308) or not loc:
                raise HttpError(status)
        finally:
            await c.close()
        c.pos = c.end = 0
        loc = loc.decode()
        if loc.startswith("/"):
            loc = "%s://%s:%d%s" % ("https" if tls else "http", host, port, loc)
        if tls and not loc.startswith("https://"):
            raise HttpError(status, "redirect from https:// to another scheme refused")
        url = loc
    raise HttpError(status, "more than %d redirects" % _MAX_REDIRECTS)


async def put(url, source, length, cadata=None, content_type="application/octet-stream", method="PUT",
              timeout_ms=10000):
    tls, host, port, path = parse_url(url)
    buf = bytearray(_BLOCK)
    c = _Conn(buf, timeout_ms)
    try:
        await c.open(tls, host, port, cadata)
        await c.send(_request(method, host, port, tls, path,
                              "Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type, length)))
        mv = c.mv
        left = length
        while left > 0:
            n = source(mv[:_BLOCK if left > _BLOCK else left])
            if not n or n < 0:
                raise HttpError(0, "source ended %d bytes short" % left)
            await c.send(mv[:n])
            left -= n
        status, hs = await c.head()
        if hs.get(b"content-length") is not None or hs.get(b"transfer-encoding") is not None:
            await c.body(hs, None)  # read the answer's body out: the server may wait for that
        if not 200 <= status < 300:
            raise HttpError(status)
        return status
    finally:
        await c.close()
