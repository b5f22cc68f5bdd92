"""The firmware's HTTP client (firmware/evse/http.py) in the MicroPython unix port against a real
HTTP server on 127.0.0.1 (asyncio streams, so that it can also misbehave: cut bodies, resets,
silence), plain and TLS with a test CA made here.

Each test writes a small MicroPython script, runs it with the firmware on MICROPYPATH, and
checks what it printed (the body's sha256, its length, the largest block handed to the sink)
and what the server saw. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests import mp_script
from tests.mp_script import RUN_TIMEOUT
from tests.ocpp.conftest import free_port
from tests.test_ws_client import _ca, _server_ctx

BODY = random.Random(14).randbytes(5000)
BODY_SHA = hashlib.sha256(BODY).hexdigest()

PRELUDE = """\
import asyncio
import hashlib
from evse import http

h = hashlib.sha256()
biggest = 0


def sink(mv):
    global biggest
    h.update(mv)
    biggest = max(biggest, len(mv))


def show(n):
    print("GOT", n, biggest, "".join("%02x" % b for b in h.digest()))


async def run():
    try:
        await main()
    except http.HttpError as e:
        print("ERR", e.status, e)
    print("DONE")

"""


async def run_mp(tmp_path: Path, body: str, timeout: float = RUN_TIMEOUT) -> str:
    """Run `async def main()` (body) after this file's PRELUDE; its output."""
    return await mp_script.run_mp(tmp_path, PRELUDE, body, timeout)


def get_script(url: str, cadata: str | None = None, timeout_ms: int = 3000, limit: int = -1) -> str:
    return f"""
    async def main():
        n = await http.get({url!r}, sink, cadata={cadata!r}, timeout_ms={timeout_ms}, limit={limit})
        show(n)
    """


# -- the server ---------------------------------------------------------------------------


@dataclass
class Seen:
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Seen) -> None:
    try:
        req = (await reader.readline()).decode().split()
        hs: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            hs[k.strip().lower()] = v.strip()
        method, path = req[0], req[1]
        data = await reader.readexactly(int(hs.get("content-length", "0")))
        seen.requests.append((method, path, hs, data))
        if path == "/ok":
            writer.write(_head(200, {"Content-Length": str(len(BODY))}) + BODY)
        elif path == "/chunked":
            writer.write(_head(200, {"Transfer-Encoding": "chunked"}))
            i = 0
            for size in (1, 700, 3000, 1299):
                writer.write(b"%x;ext=1\r\n" % size + BODY[i:i + size] + b"\r\n")
                await writer.drain()
                i += size
            writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif path == "/trailers":  # trailer lines without end
            writer.write(_head(200, {"Transfer-Encoding": "chunked"}) + b"5\r\nhello\r\n0\r\n")
            for i in range(200):
                writer.write(b"X-T%d: y\r\n" % i)
                await writer.drain()
        elif path == "/close-delimited":
            writer.write(_head(200, {}) + BODY)
        elif path in ("/404", "/500"):
            writer.write(_head(int(path[1:]), {"Content-Length": "9"}) + b"not here\n")
        elif path == "/redirect":
            writer.write(_head(302, {"Location": "/ok", "Content-Length": "0"}))
        elif path == "/redirect-absolute":
            writer.write(_head(301, {"Location": f"http://127.0.0.1:{hs['host'].split(':')[1]}/redirect"}))
        elif path.startswith("/loop"):
            writer.write(_head(307, {"Location": f"/loop{len(path)}"}))
        elif path == "/truncated":
            writer.write(_head(200, {"Content-Length": str(len(BODY))}) + BODY[:3000])
        elif path == "/cut":
            writer.write(_head(200, {"Content-Length": str(len(BODY))}) + BODY[:2000])
            await writer.drain()
            writer.transport.abort()  # a reset, mid-body
            return
        elif path == "/silent":
            writer.write(_head(200, {"Content-Length": str(len(BODY))}) + BODY[:100])
            await writer.drain()
            await asyncio.sleep(5)
        elif path == "/slow":
            writer.write(_head(200, {"Content-Length": str(len(BODY))}))
            for i in range(0, len(BODY), 500):
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(BODY[i:i + 500])
        elif path == "/garbage":
            writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        elif path == "/bad-length":
            writer.write(_head(200, {"Content-Length": "-5"}) + BODY)
        elif path == "/long-header":
            writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        elif path == "/upload":
            writer.write(_head(201, {"Content-Length": "2"}) + b"ok")
        elif path == "/upload-403":
            writer.write(_head(403, {"Content-Length": "0"}))
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, IndexError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator:
    servers = []

    async def start(tls: ssl.SSLContext | None = None) -> tuple[int, Seen]:
        seen = Seen()
        srv = await asyncio.start_server(lambda r, w: handle(r, w, seen), "127.0.0.1", 0, ssl=tls)
        servers.append(srv)
        return srv.sockets[0].getsockname()[1], seen

    yield start
    for s in servers:
        s.close()
        await s.wait_closed()


@dataclass
class Pki:
    ca_pem: str
    other_ca_pem: str
    server_ctx: ssl.SSLContext


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("Test download CA")
    _, other = _ca("Some other CA")
    return Pki(ca_cert.public_bytes(serialization.Encoding.PEM).decode(),
               other.public_bytes(serialization.Encoding.PEM).decode(),
               _server_ctx(tmp, ca_key, ca_cert, "127.0.0.1", "127.0.0.1"))


# -- GET ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ok", "/chunked", "/close-delimited", "/redirect", "/redirect-absolute", "/slow"])
async def test_get_streams_the_body_in_blocks_of_at_most_1024(tmp_path, server, path):
    port, seen = await server()
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{port}{path}"))
    n, biggest, sha = out.split("GOT ", 1)[1].split()[:3]
    assert (int(n), sha) == (len(BODY), BODY_SHA), out
    assert 0 < int(biggest) <= 1024, out
    assert seen.requests[0][0] == "GET" and seen.requests[0][2]["host"] == f"127.0.0.1:{port}"


@pytest.mark.parametrize("path,status", [("/404", 404), ("/500", 500)])
async def test_get_non_2xx_is_an_error_with_its_status(tmp_path, server, path, status):
    port, _ = await server()
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{port}{path}"))
    assert f"ERR {status} " in out and "GOT" not in out, out


@pytest.mark.parametrize("path,why", [
    ("/truncated", "body cut at 3000 of 5000"),
    ("/cut", "body cut at 2000 of 5000"),  # a reset may also read as a failed receive
    ("/silent", "no data within 1000 ms"),
    ("/garbage", "not an HTTP/1.x response"),
    ("/bad-length", "bad Content-Length"),
    ("/long-header", "header line too long"),
    ("/loop", "more than 3 redirects"),
])
async def test_get_broken_answers_are_errors_with_status_0(tmp_path, server, path, why):
    port, seen = await server()
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{port}{path}", timeout_ms=1000))
    assert "ERR 0 " in out or (path == "/loop" and "ERR 307 " in out), out
    if path == "/cut":
        assert why in out or "receive failed" in out, out
    else:
        assert why in out, out
    if path == "/loop":
        assert len(seen.requests) == 4, seen.requests  # the first and three redirects


@pytest.mark.parametrize("path,why", [
    ("/ok", "Content-Length over 4000 bytes"),  # refused before the body
    ("/chunked", "body over the limit"),
    ("/close-delimited", "body over the limit"),
])
async def test_get_limit_ends_a_body_too_large(tmp_path, server, path, why):
    """limit: a firmware download takes no more than a bundle may hold, whatever the server
    announces or sends."""
    port, _ = await server()
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{port}{path}", limit=4000))
    assert f"ERR 0 {why}" in out and "GOT" not in out, out
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{port}{path}", limit=len(BODY)))
    assert f"GOT {len(BODY)} " in out, out  # exactly the limit is taken


async def test_get_trailer_lines_are_bounded(tmp_path, server):
    port, _ = await server()
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{port}/trailers", timeout_ms=1000))
    assert "ERR 0 too many trailer lines" in out, out


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://", "http://127.0.0.1:abc/x",
                                 "http://127.0.0.1:70000/x", "http://u:p@127.0.0.1/x", "https://127.0.0.1:1/x"])
async def test_get_bad_urls_are_refused_before_any_connection(tmp_path, url):
    out = await run_mp(tmp_path, get_script(url))
    assert "ERR 0 " in out, out
    if url.startswith("https"):
        assert "needs a CA certificate" in out, out


async def test_get_connection_refused_is_an_error(tmp_path):
    out = await run_mp(tmp_path, get_script(f"http://127.0.0.1:{free_port()}/ok"))
    assert "ERR 0 " in out and "ECONNREFUSED" in out, out


async def test_https_with_the_right_ca(tmp_path, server, pki):
    port, seen = await server(pki.server_ctx)
    out = await run_mp(tmp_path, get_script(f"https://127.0.0.1:{port}/chunked", cadata=pki.ca_pem))
    assert f"GOT {len(BODY)} " in out and BODY_SHA in out, out
    assert seen.requests[0][2]["host"] == f"127.0.0.1:{port}"


async def test_https_with_another_ca_is_refused(tmp_path, server, pki):
    port, seen = await server(pki.server_ctx)
    out = await run_mp(tmp_path, get_script(f"https://127.0.0.1:{port}/ok", cadata=pki.other_ca_pem))
    assert "ERR 0 " in out and "GOT" not in out, out
    assert not seen.requests


async def test_https_never_redirects_to_http(tmp_path, server, pki):
    port, _ = await server(pki.server_ctx)
    out = await run_mp(tmp_path, get_script(f"https://127.0.0.1:{port}/redirect-absolute", cadata=pki.ca_pem))
    assert "ERR 301 redirect from https:// to another scheme refused" in out, out


# -- PUT ----------------------------------------------------------------------------------


PUT_SCRIPT = """
data = memoryview(bytes(range(256)) * 20)  # 5120 bytes, as from a file's readinto
pos = 0


def source(buf):
    global pos
    n = min(len(buf), len(data) - pos, {step})
    buf[:n] = data[pos:pos + n]
    pos += n
    return n


async def main():
    print("STATUS", await http.put({url!r}, source, {length}, cadata={cadata!r}, content_type="text/plain"))
"""


async def test_put_streams_the_source(tmp_path, server, pki):
    port, seen = await server(pki.server_ctx)
    url = f"https://127.0.0.1:{port}/upload"
    out = await run_mp(tmp_path, PUT_SCRIPT.format(url=url, length=5120, step=700, cadata=pki.ca_pem))
    assert "STATUS 201" in out, out
    method, path, hs, data = seen.requests[0]
    assert (method, path, hs["content-type"]) == ("PUT", "/upload", "text/plain")
    assert data == bytes(range(256)) * 20


async def test_put_refused_and_short_source_are_errors(tmp_path, server):
    port, seen = await server()
    out = await run_mp(tmp_path, PUT_SCRIPT.format(url=f"http://127.0.0.1:{port}/upload-403", length=100,
                                                   step=1024, cadata=None))
    assert "ERR 403 " in out, out
    out = await run_mp(tmp_path, PUT_SCRIPT.format(url=f"http://127.0.0.1:{port}/upload", length=6000,
                                                   step=1024, cadata=None))
    assert "ERR 0 source ended 880 bytes short" in out, out
