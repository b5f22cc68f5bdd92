"""A real backend under uvicorn on 127.0.0.1, a settable clock, and a real OCPP charge point."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from host_tools.backend import create_app
from host_tools.backend.config import parse_chargers

API = "/api/v3/public-charging"
T0 = 1_768_007_672.0  # 2026-01-10T01:14:32Z

CHARGERS = {"chargers": [
    {"identity": "CP-1", "name": "Bench charger", "public_code": "ABC123", "public_charging": True,
     "connectors": 2, "pricing": {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50},
     "preauth_amount": 5000, "max_sessions_per_hour": 10, "authorization_key": None},
    {"identity": "CP-KEY", "name": "Locked charger", "public_code": "KEY1", "connectors": 1,
     "pricing": {"currency": "EUR", "price_per_kwh": 30, "start_fee": 0}, "preauth_amount": 1000,
     "max_sessions_per_hour": 2, "authorization_key": "0123456789abcdef0123"},
    {"identity": "CP-PRIV", "name": "Private charger", "public_code": "PRIV1",
     "public_charging": False, "connectors": 1},
]}


class FakeClock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    db: str
    clock: FakeClock
    port: int = field(default_factory=free_port)
    options: dict = field(default_factory=dict)
    app: object = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ocpp_url(self, identity: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{identity}"

    @property
    def backend(self):
        return self.app.state.backend

    async def start(self) -> None:
        opts = {"call_timeout": 2.0, "tick": 0.05, **self.options}
        self.app = create_app(parse_chargers(CHARGERS), self.db, clock=self.clock, **opts)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(200):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        raise RuntimeError("uvicorn did not start")

    async def stop(self) -> None:
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 5)
        self.backend.store.close()


OPERATOR_TOKEN = "op-token-0123456789abcdef"
OPERATOR_AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def operator_server(folder: Path, call_timeout: float) -> Server:
    """A backend (not started) with the operator actions on (OPERATOR_TOKEN), a CALL to a
    charger given up after `call_timeout` s, and no rate limit a module of tests would meet."""
    return Server(str(folder / "backend.db"), FakeClock(),
                  options={"operator_token": OPERATOR_TOKEN, "call_timeout": call_timeout,
                           "rate_limits": {"actions": 100_000}})


@pytest.fixture
async def server(tmp_path):
    srv = Server(str(tmp_path / "backend.db"), FakeClock())
    await srv.start()
    yield srv
    if not srv._task.done():
        await srv.stop()


@pytest.fixture
async def http(server):
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        yield client


class TestChargePoint(ChargePoint):
    """The charge point side, built on the `ocpp` package; answers are settable per test."""

    __test__ = False

    def __init__(self, identity, ws):
        super().__init__(identity, ws, response_timeout=5)
        self.remote_start_answer = "Accepted"
        self.remote_stop_answer = "Accepted"
        self.remote_starts: asyncio.Queue = asyncio.Queue()
        self.remote_stops: asyncio.Queue = asyncio.Queue()

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=None, **kw):
        self.remote_starts.put_nowait((id_tag, connector_id))
        return call_result.RemoteStartTransaction(status=self.remote_start_answer)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id):
        self.remote_stops.put_nowait(transaction_id)
        return call_result.RemoteStopTransaction(status=self.remote_stop_answer)

    async def status(self, connector_id: int, status: str, error_code: str = "NoError"):
        return await self.call(call.StatusNotification(connector_id=connector_id,
                                                       error_code=error_code, status=status))

    async def boot(self):
        return await self.call(call.BootNotification(charge_point_model="Virtual",
                                                     charge_point_vendor="Test"))


class Link:
    """An open charge point connection and its serving task."""

    def __init__(self, cp: TestChargePoint, ws, task):
        self.cp, self.ws, self.task = cp, ws, task

    async def close(self):
        await self.ws.close()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def connect(server: Server, identity: str = "CP-1", boot: bool = True, statuses=("Available", "Available"),
                  charge_point: type[TestChargePoint] | None = None, **kwargs) -> Link:
    """A charger connected (and booted, its connectors' statuses sent); `charge_point` is a
    TestChargePoint subclass that answers the CALLs a test sends it."""
    ws = await websockets.connect(server.ocpp_url(identity), subprotocols=["ocpp1.6"],
                                  open_timeout=5, **kwargs)
    cp = (charge_point or TestChargePoint)(identity, ws)
    task = asyncio.create_task(cp.start())
    if boot:
        await cp.boot()
        for n, st in enumerate(statuses, start=1):
            await cp.status(n, st)
    return Link(cp, ws, task)


@pytest.fixture
async def charger(server):
    link = await connect(server)
    yield link
    await link.close()


async def assert_loopback_only(server: Server, http, url: str) -> None:
    """An operator endpoint (`url` with `{}` for the identity; host_tools/backend/operator.py's
    loopback_refusal): 404 naming an unknown charger, 403 to a caller from another machine."""
    r = await http.get(url.format("CP-NOPE"))
    assert r.status_code == 404 and "CP-NOPE" in r.json()["message"]
    transport = httpx.ASGITransport(app=server.app, client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://backend") as lan:
        r = await lan.get(url.format("CP-1"))
    assert r.status_code == 403 and "loopback" in r.json()["message"]


async def start_session(http, code="ABC123", connector_id=1, **extra) -> tuple[str, dict]:
    r = await http.post(API + "/sessions", json={"code": code, "connector_id": connector_id, **extra})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["session_token"], body


async def pay(http, body: dict, payment_method: str = "pm_card_visa") -> httpx.Response:
    secret = body["payment"]["client_secret"]
    intent = secret.partition("_secret_")[0]
    return await http.post(f"/api/v3/_local/payments/{intent}/confirm",
                           json={"client_secret": secret, "payment_method": payment_method})


async def session(http, token: str) -> dict:
    r = await http.get(f"{API}/sessions/{token}")
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def until(predicate, timeout: float = 3.0):
    """Polls an async predicate until it returns something truthy (bounded)."""
    for _ in range(int(timeout / 0.02)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def make_bundle(version: str = "0.2.0", files: dict[str, bytes] | None = None) -> bytes:
    """A small real "evse-bundle 1" (host_tools.bundle.encode, as `chargerctl bundle` writes
    it): main.py and one lib/ file unless `files` (board path -> bytes) says otherwise."""
    from host_tools.bundle import encode

    return encode(version, {"main.py": b"import evse.app\n",
                            "lib/evse/app.mpy": bytes(range(256)) * 3} if files is None else files)
