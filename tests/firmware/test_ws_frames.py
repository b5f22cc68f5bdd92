# WebSocket framing inside MicroPython: RFC 6455 vectors, masking, frame parsing over an
# in-memory byte stream (the transport, not the client under test, is what is stood in for).
import asyncio
import gc

from evse.ocpp import ws, wsopen, wstls
from mptest import raises, skip

RFC_KEY = bytes((0x37, 0xFA, 0x21, 0x3D))


def unmask_frames(data):
    """Decode masked client frames byte by byte (an independent reading of RFC 6455 5.2)."""
    out, i = [], 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        assert b1 & 0x80, "client frames must be masked"
        n, i = b1 & 0x7F, i + 2
        if n == 126:
            n, i = (data[i] << 8) | data[i + 1], i + 2
        elif n == 127:
            n = 0
            for k in range(8):
                n = (n << 8) | data[i + k]
            i += 8
        key, i = data[i:i + 4], i + 4
        payload = bytes(data[i + k] ^ key[k % 4] for k in range(n))
        out.append((b0 & 0x80 != 0, b0 & 0x0F, payload))
        i += n
    return out


class Pipe:
    """Byte stream with the asyncio Stream surface the client uses (readinto/write/drain)."""

    def __init__(self, data=b""):
        self.buf = bytearray(data)
        self.out = bytearray()
        self.ev = asyncio.Event()
        self.eof = False
        self.closed = False

    def feed(self, data):
        self.buf += data
        self.ev.set()

    async def readinto(self, mv):
        while not self.buf:
            if self.eof or self.closed:
                return 0
            self.ev.clear()
            await self.ev.wait()
        n = min(len(mv), len(self.buf))
        mv[:n] = self.buf[:n]
        self.buf[:n] = b""
        return n

    def write(self, data):
        self.out += data

    async def drain(self):
        await asyncio.sleep_ms(0)

    def close(self):
        self.closed = True
        self.ev.set()


async def araises(exc, coro):
    try:
        await coro
    except exc as e:
        return e
    raise AssertionError(exc.__name__ + " not raised")


def client(data=b"", max_frame=8192, ping_interval=0):
    p = Pipe(data)
    return p, ws.WebSocket(p, p, max_frame, 1000, ping_interval)


def test_accept_key_matches_the_rfc_example():
    """RFC 6455 1.3: key dGhlIHNhbXBsZSBub25jZQ== gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=."""
    assert wsopen.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_masked_text_frame_matches_rfc_5_7():
    """RFC 6455 5.7: a single-frame masked text message "Hello"."""
    expected = bytes((0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58))
    assert bytes(ws.frame(1, b"Hello", RFC_KEY)) == expected


def test_masked_pong_matches_rfc_5_7():
    """RFC 6455 5.7: a masked Pong response with body "Hello"."""
    expected = bytes((0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58))
    assert bytes(ws.frame(10, b"Hello", RFC_KEY)) == expected


def big_heap():
    gc.collect()
    if gc.mem_free() < 400000:
        skip("64 KiB frames need a bigger heap than this one")


def test_length_encodings_126_and_127():
    """RFC 6455 5.2: 7-bit length up to 125, 126 + 16-bit, 127 + 64-bit."""
    big_heap()
    for n, hl, marker in ((125, 2, 125), (126, 4, 126), (65535, 4, 126), (65536, 10, 127)):
        f = ws.frame(2, bytes(n), RFC_KEY)
        assert len(f) == hl + 4 + n
        assert f[1] == 0x80 | marker
        assert unmask_frames(f) == [(True, 2, bytes(n))]


def test_mask_round_trips_every_tail_length():
    for n in range(0, 13):
        data = bytes(range(n))
        f = ws.frame(1, data, b"\x01\x80\xff\x10")
        assert unmask_frames(f) == [(True, 1, data)], n


def test_masking_does_not_allocate_per_byte():
    buf = bytearray(4096)
    ws.mask(bytearray(8), RFC_KEY)  # warm up
    gc.collect()
    before = gc.mem_alloc()
    ws.mask(buf, RFC_KEY)
    grew = gc.mem_alloc() - before
    assert grew < 256, grew
    ws.mask(buf, RFC_KEY)
    assert buf == bytearray(4096)  # masking twice restores the data


def test_parse_url():
    assert wsopen.parse_url(ws, "ws://127.0.0.1:9000/ocpp/CP-1") == (False, "127.0.0.1", 9000, "/ocpp/CP-1")
    assert wsopen.parse_url(ws, "wss://csms.example.com/ocpp/X") == (True, "csms.example.com", 443, "/ocpp/X")
    assert wsopen.parse_url(ws, "ws://host") == (False, "host", 80, "/")
    e = raises(ws.WSError, wsopen.parse_url, ws, "http://host/")
    assert "ws://" in str(e)


def test_pem_to_der_reads_the_base64_body():
    pem = "-----BEGIN CERTIFICATE-----\nAAEC\nAwQF\n-----END CERTIFICATE-----\n"
    assert wstls.der(pem) == bytes((0, 1, 2, 3, 4, 5))
    assert wstls.der(b"\x30\x82") == b"\x30\x82"
    assert wstls.der("") is None
    assert wstls.der(pem.replace("\n", "\r\n")) == bytes((0, 1, 2, 3, 4, 5))  # CRLF lines
    assert wstls.der(pem.replace("\n", "")) == bytes((0, 1, 2, 3, 4, 5))  # one line
    assert wstls.der("junk\n" + pem) == bytes((0, 1, 2, 3, 4, 5))  # text before it
    raises(ValueError, wstls.der, "-----BEGIN CERTIFICATE-----\nAAEC")  # no end
    raises(ValueError, wstls.der, "no certificate here")


async def test_unmasked_hello_from_rfc_is_received():
    """RFC 6455 5.7: a single-frame unmasked text message."""
    _, c = client(bytes((0x81, 0x05)) + b"Hello")
    assert await c.recv() == "Hello"


async def test_fragmented_message_with_ping_in_between():
    """RFC 6455 5.4/5.5: control frames may be injected in the middle of a fragmented message;
    5.5.2: an endpoint MUST send a Pong in response to a Ping."""
    data = bytes((0x01, 0x03)) + b"Hel" + bytes((0x89, 0x05)) + b"Hello" + bytes((0x80, 0x02)) + b"lo"
    p, c = client(data)
    assert await c.recv() == "Hello"
    assert unmask_frames(p.out) == [(True, 10, b"Hello")]


async def test_long_frames_are_received():
    big_heap()
    body = "x" * 300
    _, c = client(bytes((0x81, 126, 1, 44)) + body.encode())
    assert await c.recv() == body
    body = "y" * 70000
    _, c = client(bytes((0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70)) + body.encode(), max_frame=80000)
    assert await c.recv() == body


async def test_oversize_frame_is_refused_with_1009():
    """RFC 6455 7.4.1: 1009 indicates a message too big to process."""
    p, c = client(bytes((0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0)))
    try:
        await c.recv()
    except ws.ConnectionClosed as e:
        assert e.code == 1009
    else:
        raise AssertionError("oversize frame accepted")
    assert unmask_frames(p.out) == [(True, 8, bytes((0x03, 0xF1)))]
    assert c.closed and p.closed


async def test_oversize_fragmented_message_is_refused():
    part = bytes((0x01, 100)) + bytes(100)
    _, c = client(part + bytes((0x00, 100)) + bytes(100), max_frame=150)
    try:
        await c.recv()
    except ws.ConnectionClosed as e:
        assert e.code == 1009
    else:
        raise AssertionError("oversize message accepted")


async def test_masked_server_frame_is_a_protocol_error():
    """RFC 6455 5.1: a client MUST close a connection if it detects a masked frame."""
    p, c = client(ws.frame(1, b"hi", RFC_KEY))
    try:
        await c.recv()
    except ws.ConnectionClosed as e:
        assert e.code == 1002
    else:
        raise AssertionError("masked frame accepted")


async def test_invalid_utf8_text_closes_1007():
    """RFC 6455 8.1: an endpoint that receives invalid UTF-8 in a text message fails the
    connection (7.4.1: 1007)."""
    p, c = client(bytes((0x01, 1, 0xC3, 0x80, 1, 0xFF)))
    e = await araises(ws.ConnectionClosed, c.recv())
    assert e.code == 1007
    assert unmask_frames(p.out) == [(True, 8, bytes((0x03, 0xEF)))]


# RFC 3629 section 4 (the syntax of UTF-8 byte sequences), the edges of each rule.
NOT_UTF8 = (b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
            b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
            b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xff", b"\x80", b"\xe2\x82", b"\xc2")
UTF8 = (b"", b"ascii", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
        b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf3\xbf\xbf\xbf", b"\xf4\x8f\xbf\xbf",
        b"\xe0\xa0\x80\xed\x9f\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf")


def accepted_by_str(data):
    try:
        str(data, "utf-8")
        return True
    except UnicodeError:
        return False


def test_strict_refuses_what_rfc_3629_forbids():
    """RFC 3629 4: overlong forms, surrogates (U+D800-DFFF) and code points above U+10FFFF are
    not UTF-8, whatever MicroPython's own decoder (str()) accepts."""
    from evse.ocpp import utf8
    slipped = [bad for bad in NOT_UTF8 if accepted_by_str(bad)]
    assert len(slipped) == 11, slipped  # what utf8.py is there for (this port's str())
    for bad in slipped:
        for data in (bad, bytearray(b"ab" + bad + b"cd"), b"\xc3\xa9" + bad):
            assert not utf8.strict(data), data
    for good in UTF8:
        for data in (good, bytearray(b"ab" + good + b"cd")):
            assert utf8.strict(data), data


async def test_valid_utf8_texts_are_received():
    for good in UTF8:
        _, c = client(bytes((0x81, len(good))) + good)
        assert await c.recv() == str(good, "utf-8"), good


async def test_an_ascii_text_skips_the_strict_check():
    """The common case costs str() and a length compare: utf8.py is loaded only for a text
    with a byte >= 0x80."""
    calls = []
    strict = ws._strict
    ws._strict = lambda data: calls.append(data) or strict(data)
    try:
        _, c = client(bytes((0x81, 5)) + b"Hello" + bytes((0x81, 3)) + "hé".encode())
        assert await c.recv() == "Hello"
        assert calls == []
        assert await c.recv() == "hé"
        assert len(calls) == 1
    finally:
        ws._strict = strict


async def test_each_invalid_utf8_form_closes_1007_and_is_counted():
    """RFC 6455 8.1, also when the bad sequence is split over fragments: the message as a whole
    is checked."""
    before = ws.failed.get(1007, 0)
    for bad in NOT_UTF8:
        for data in (bytes((0x81, len(bad))) + bad,
                     bytes((0x01, 1)) + bad[:1] + bytes((0x80, len(bad) - 1)) + bad[1:]):
            p, c = client(data)
            e = await araises(ws.ConnectionClosed, c.recv())
            assert e.code == 1007, bad
            assert unmask_frames(p.out) == [(True, 8, bytes((0x03, 0xEF)))]
    assert ws.failed[1007] == before + 2 * len(NOT_UTF8)


async def test_a_character_split_over_fragments_is_received():
    data = b"\xf0\x9f\x98\x80"
    _, c = client(bytes((0x01, 2)) + data[:2] + bytes((0x80, 2)) + data[2:])
    assert await c.recv() == "\U0001F600"


async def test_close_reason_that_is_not_utf8_is_dropped():
    _, c = client(bytes((0x88, 0x04, 0x03, 0xE8, 0xED, 0xA0)))
    e = await araises(ws.ConnectionClosed, c.recv())
    assert e.code == 1000 and e.reason == ""


async def test_continuation_without_a_start_is_a_protocol_error():
    _, c = client(bytes((0x80, 2)) + b"lo")
    e = await araises(ws.ConnectionClosed, c.recv())
    assert e.code == 1002


async def test_server_close_is_echoed_and_reported():
    """RFC 6455 5.5.1: the endpoint that receives Close sends a Close frame in response."""
    p, c = client(bytes((0x88, 0x05, 0x03, 0xE8)) + b"bye")
    try:
        await c.recv()
    except ws.ConnectionClosed as e:
        assert e.code == 1000 and e.reason == "bye"
    else:
        raise AssertionError("close not reported")
    assert unmask_frames(p.out) == [(True, 8, bytes((0x03, 0xE8)))]
    await araises(ws.ConnectionClosed, c.recv())


async def test_eof_is_connection_closed_1006():
    p, c = client(bytes((0x81, 0x05)) + b"He")
    p.eof = True
    try:
        await c.recv()
    except ws.ConnectionClosed as e:
        assert e.code == 1006
    else:
        raise AssertionError("eof not reported")


async def test_send_masks_text_and_refuses_oversize():
    p, c = client(max_frame=10)
    await c.send("héllo")
    assert unmask_frames(p.out) == [(True, 1, "héllo".encode())]
    try:
        await c.send("x" * 11)
    except ws.WSError:
        pass
    else:
        raise AssertionError("oversize send accepted")


async def test_keepalive_pings_then_declares_the_link_dead():
    """No frame for ping_interval: ping; still nothing for another interval: dead (1006)."""
    p, c = client(ping_interval=0.05)
    try:
        await asyncio.wait_for_ms(c.recv(), 1000)
    except ws.ConnectionClosed as e:
        assert e.code == 1006
    else:
        raise AssertionError("dead link not detected")
    assert [f[1] for f in unmask_frames(p.out)] == [9]
    assert p.closed


async def test_keepalive_pong_keeps_the_link():
    p, c = client(ping_interval=0.2)

    async def answer():
        for _ in range(3):  # answer three pings, then send a message
            while b"\x89" not in bytes(p.out[:1]):
                await asyncio.sleep_ms(5)
            p.out[:] = b""
            p.feed(bytes((0x8A, 0)))
        p.feed(bytes((0x81, 2)) + b"ok")

    t = asyncio.create_task(answer())
    assert await asyncio.wait_for_ms(c.recv(), 5000) == "ok"
    await t
    assert not c.closed


async def test_close_handshake_waits_for_the_server_close():
    p, c = client()

    async def server():
        while not p.out:
            await asyncio.sleep_ms(1)
        p.feed(bytes((0x88, 0x02, 0x03, 0xE8)))

    t = asyncio.create_task(server())
    await c.close()
    await t
    assert unmask_frames(p.out) == [(True, 8, bytes((0x03, 0xE8)))]
    assert c.closed and p.closed
    await araises(ws.ConnectionClosed, c.send("late"))


async def test_a_ping_while_closing_does_not_break_the_close_handshake():
    """RFC 6455 5.5.1: after sending a Close frame, the endpoint MUST NOT send any more data
    frames; the close still completes when the server pings first."""
    p, c = client()

    async def server():
        while not p.out:
            await asyncio.sleep_ms(1)
        p.feed(bytes((0x89, 0x01)) + b"?" + bytes((0x88, 0x02, 0x03, 0xE8)))

    t = asyncio.create_task(server())
    await c.close()
    await t
    assert unmask_frames(p.out) == [(True, 8, bytes((0x03, 0xE8)))]
    assert c.closed and not p.buf  # the server's close was read, not cut short by the ping
