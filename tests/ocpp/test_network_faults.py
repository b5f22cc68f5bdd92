"""Network faults while charging: the connection cut in the middle of a frame, a half-open socket
that never answers, the backend down for a while. In each the firmware reconnects with back-off,
charges on (OCPP 1.6: "When offline, the Charge Point MUST queue any transaction-related
messages that it would have sent to the Central System if the Charge Point had been online"),
and delivers its transaction messages "in chronological order", each once, except the
documented at-least-once case (a message whose answer the fault cut off is sent again).

The firmware reaches the real central system (conftest's `Server`, on the `ocpp` package)
through a TCP relay of the test's (`Link`) that plays the network: it passes bytes, cuts a link
half way through the server's next frame, or black-holes a link (both directions swallowed,
both sockets kept open: a half-open connection as a NAT or a dead peer leaves it).

Figures (reconnect times, messages counted) are printed; `-s` shows them. 64-bit only: what is
tested is timing and order, not integer or pointer size. The 60 s outage is marked `long`.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.ocpp.conftest import Station, free_port
from tests.ocpp.test_core_profile import start_charging
from tests.ocpp.test_offline_journal import assert_no_duplicates, energies, tx_order


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit only (see the module's docstring)."""
    return request.param


class Link:
    """A TCP relay between the charge point and the central system, with the faults."""

    def __init__(self, target_port: int):
        self.port = free_port()
        self.target = target_port
        self.accepted: list[float] = []  # loop time of each connection the charge point opened
        self._links: list[dict] = []
        self._srv = None

    async def start(self):
        self._srv = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    def close(self):
        if self._srv:
            self._srv.close()
        for link in self._links:
            for w in link["writers"]:
                w.transport.abort()

    async def _client(self, cr, cw):
        self.accepted.append(asyncio.get_running_loop().time())
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            cw.transport.abort()
            return
        link = {"mode": "pass", "writers": (cw, uw), "cut": asyncio.Event()}
        self._links.append(link)
        await asyncio.gather(self._pipe(link, cr, uw, False), self._pipe(link, ur, cw, True))

    async def _pipe(self, link, r, w, down):
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if link["mode"] == "silent":
                    continue  # into the void: acknowledged by TCP, never delivered
                if down and link["mode"] == "cut":
                    w.write(data[:max(1, len(data) // 2)])  # half of the server's next frame
                    await w.drain()
                    link["cut"].set()
                    break
                w.write(data)
                await w.drain()
        except OSError:
            pass
        if link["mode"] == "silent":
            return  # a half-open link: the other side is never told
        for x in link["writers"]:
            x.transport.abort()

    def cut(self):
        """Cut the current link half way through the server's next frame."""
        self._links[-1]["mode"] = "cut"
        return self._links[-1]["cut"]

    def silence(self):
        """Black-hole the current link: nothing passes, nothing closes."""
        self._links[-1]["mode"] = "silent"


class LinkStation(Station):
    def __init__(self, tmp, lib, micropython):
        super().__init__(tmp, lib, micropython)
        self.link = Link(self.server.port)

    def write_config(self, connectors=1, ocpp_keys=None, sim=None):
        super().write_config(connectors, ocpp_keys, sim)
        cfg = json.loads((self.tmp / "config.json").read_text())
        cfg["csms_url"] = f"ws://127.0.0.1:{self.link.port}/ocpp"
        (self.tmp / "config.json").write_text(json.dumps(cfg))

    async def start(self, **kw):
        await self.link.start()
        await super().start(**kw)

    async def close(self):
        await super().close()
        self.link.close()

    async def relay_closed(self):
        return (await self.sim(cmd="state"))["connectors"][0]["relay_closed"]


@pytest.fixture
async def lstation(tmp_path, firmware_lib, micropython):
    st = LinkStation(tmp_path, firmware_lib, micropython)
    yield st
    await st.close()
    crashed = [line for line in st.fw.lines if "crash" in line or "Traceback" in line]
    assert not crashed, "firmware crashed:\n" + "\n".join(st.fw.lines[-60:])


async def relay_watch(st, until: asyncio.Event, seen: list):
    """The relay's state every 0.2 s until `until` is set (charging goes on through a fault)."""
    while not until.is_set():
        seen.append(await st.relay_closed())
        await asyncio.sleep(0.2)


async def finish(st, tid, n_mv_before):
    """Stop the session after the fault and check what reached the central system."""
    srv = st.server
    await srv.wait_msg("MeterValues", n=n_mv_before + 2, transaction_id=tid, timeout=15)
    assert await st.remote_stop(tid) == "Accepted"
    await srv.wait_msg("StopTransaction", transaction_id=tid)
    assert not await st.relay_closed()
    order = tx_order(srv)
    assert order[0][0] == "StartTransaction" and order[-1] == ("StopTransaction", tid)
    e = energies(srv.actions("MeterValues"))
    assert e == sorted(e), e
    await assert_no_duplicates(srv)
    return len(srv.actions("MeterValues"))


async def test_connection_cut_mid_frame(lstation):
    """The server has written half a WebSocket frame when TCP drops: the half frame is nothing
    (not run, not answered), the firmware reconnects with back-off and charges on."""
    st = lstation
    await st.start()
    await st.booted()
    srv = st.server
    tid = await start_charging(st)
    await srv.wait_msg("MeterValues")
    loop = asyncio.get_running_loop()
    cut = st.link.cut()
    await cut.wait()  # the answer to the next MeterValues, cut half way
    t_cut = loop.time()
    await st.fw.wait_log(r"ocpp disconnected")
    await srv.wait(lambda: len(srv.cps) == 2, timeout=10, what="a reconnect")
    reconnect_s = st.link.accepted[-1] - t_cut
    assert await st.relay_closed()
    n = await finish(st, tid, len(srv.actions("MeterValues")))
    print(f"\ncut mid-frame: reconnected in {reconnect_s:.2f} s; MeterValues delivered {n}")
    assert reconnect_s < 3


@pytest.mark.parametrize("keys,found_by", [
    ({"WebSocketPingInterval": 2}, r"ocpp closed error=.*no pong"),
    ({"WebSocketPingInterval": 0, "MessageTimeout": 5}, r"ocpp session error=.*MessageTimeout"),
], ids=["ping", "message-timeout"])
async def test_half_open_socket_is_found_and_replaced(lstation, keys, found_by):
    """The link goes silent and stays open (nothing answers, nothing closes): the firmware finds
    it dead by its ping (WebSocketPingInterval: a ping unanswered for another interval) or by
    MessageTimeout (a CALL of its own unanswered), reconnects, and delivers what it queued
    meanwhile, charging all along."""
    st = lstation
    await st.start(ocpp_keys=keys)
    await st.booted()
    srv = st.server
    tid = await start_charging(st)
    await srv.wait_msg("MeterValues")
    loop = asyncio.get_running_loop()
    done, seen = asyncio.Event(), []
    watch = asyncio.create_task(relay_watch(st, done, seen))
    n_before = len(srv.actions("MeterValues"))
    st.link.silence()
    t0 = loop.time()
    await srv.wait(lambda: len(srv.cps) == 2, timeout=30, what="a reconnect")
    found_s = st.link.accepted[-1] - t0
    done.set()
    await watch
    assert all(seen) and len(seen) > 5, seen  # charging went on while the link was dead
    assert st.fw.log_matches(found_by), st.fw.lines[-30:]
    n = await finish(st, tid, n_before)
    print(f"\nhalf-open ({'/'.join(f'{k}={v}' for k, v in keys.items())}): found and reconnected "
          f"in {found_s:.2f} s; MeterValues delivered {n}")


@pytest.mark.parametrize("down_s", [
    3,
    pytest.param(60, marks=pytest.mark.long),
])
async def test_backend_down_while_charging(lstation, down_s):
    """The central system is gone for `down_s` seconds (nothing listens): the firmware retries
    with back-off up to ReconnectBackoffMax, charges on, and once it is back delivers every
    sample taken meanwhile, in order, once."""
    st = lstation
    cap = 8
    await st.start(ocpp_keys={"ReconnectBackoffMax": cap})
    await st.booted()
    srv = st.server
    tid = await start_charging(st)
    await srv.wait_msg("MeterValues")
    loop = asyncio.get_running_loop()
    n_before = len(srv.actions("MeterValues"))
    done, seen = asyncio.Event(), []
    watch = asyncio.create_task(relay_watch(st, done, seen))
    n_log = len(st.fw.lines)
    await srv.stop()  # the link still accepts, the backend behind it is gone
    await st.fw.wait_log(r"ocpp disconnected")
    await asyncio.sleep(down_s)
    await srv.start()
    t_up = loop.time()
    await srv.connected.wait()
    back_s = loop.time() - t_up
    done.set()
    await watch
    assert all(seen), "the relay opened while the backend was away"
    waits = [int(line.split("in_ms=")[1]) for line in st.fw.lines[n_log:] if "ocpp reconnect in_ms=" in line]
    assert max(waits) <= cap * 1500 and (down_s < 10 or max(waits) >= cap * 1000), waits
    n = await finish(st, tid, n_before)
    offline = n - n_before  # sent after the backend went away: queued, then delivered
    print(f"\nbackend down {down_s} s: retries {len(waits)} (waits ms {waits}); back online "
          f"{back_s:.2f} s after the backend; MeterValues queued offline and delivered "
          f"{offline}, in all {n}")
    assert offline >= down_s - 1  # MeterValueSampleInterval 1 s: each offline second is there
