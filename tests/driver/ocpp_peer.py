"""A charge point built on the `ocpp` package: the real protocol peer for the driver's tests.

It lets the driver tests put a charger online in the real local backend in milliseconds and
choose its connector statuses (a busy or faulted connector), independent of the firmware. The
firmware itself is exercised by the virtual-board tests (test_commission.py, test_virtual.py).

    with OcppPeer(backend.ws_url, "CP-1", connectors=2, statuses={2: "Charging"}) as cp:
        ...   # the charger is online; RemoteStart/RemoteStop behave like a healthy charger
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime

import websockets
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, RegistrationStatus, RemoteStartStopStatus


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _CP(ChargePoint):
    def __init__(self, identity, ws, peer: OcppPeer):
        super().__init__(identity, ws)
        self.peer = peer
        self.tx: dict[int, int] = {}  # connector -> transaction id
        self.energy_wh: dict[int, float] = {}
        self._meters: dict[int, asyncio.Task] = {}

    async def status(self, connector: int, status: str) -> None:
        await self.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                status=status, timestamp=_now()))

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag, connector_id=None, **_):
        connector = connector_id or 1
        if self.peer.refuse_start or connector in self.tx:
            return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.rejected)
        asyncio.get_running_loop().create_task(self._start(connector, id_tag))
        return call_result.RemoteStartTransaction(status=RemoteStartStopStatus.accepted)

    async def _start(self, connector: int, id_tag: str) -> None:
        await asyncio.sleep(0.05)
        await self.status(connector, "Preparing")
        meter = self.energy_wh.setdefault(connector, 1000)
        res = await self.call(call.StartTransaction(connector_id=connector, id_tag=id_tag,
                                                    meter_start=round(meter), timestamp=_now()))
        self.tx[connector] = res.transaction_id
        await self.status(connector, "Charging")
        self._meters[connector] = asyncio.get_running_loop().create_task(self._meter(connector))

    async def _meter(self, connector: int) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while connector in self.tx:
            await asyncio.sleep(self.peer.sample_s)
            now = loop.time()
            if self.peer.power_w is None:
                self.energy_wh[connector] += self.peer.wh_per_sample
            else:  # the energy the EV drew since the last sample, as a meter counts it
                self.energy_wh[connector] += self.peer.power_w * (now - last) / 3600
            last = now
            values = [{"value": f"{self.energy_wh[connector]:.3f}",
                       "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
            if self.peer.power_w is not None and self.peer.send_power:
                values.append({"value": str(self.peer.power_w), "measurand": "Power.Active.Import",
                               "unit": "W"})
            sample = {"timestamp": _now(), "sampled_value": values}
            with contextlib.suppress(Exception):
                await self.call(call.MeterValues(connector_id=connector,
                                                 transaction_id=self.tx.get(connector),
                                                 meter_value=[sample]))

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id, **_):
        connector = next((c for c, t in self.tx.items() if t == transaction_id), None)
        if connector is None or self.peer.refuse_stop:
            return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.rejected)
        asyncio.get_running_loop().create_task(self._stop(connector))
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)

    # The operator's calls (chargerctl charger): each answers peer.answers[action] (default
    # Accepted), "error" is a CALLERROR NotSupported and "hang" no answer at all.
    async def _operator(self, action: str, payload: dict, result_type):
        self.peer.calls.append((action, payload))
        answer = self.peer.answers.get(action, "Accepted")
        if answer == "error":
            raise NotSupportedError(description=f"{action} is not supported by this peer")
        if answer == "hang":  # the charge point answers nothing else meanwhile
            await asyncio.sleep(self.peer.hang_s)
        return result_type(status=answer)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, **kw):
        return await self._operator("SetChargingProfile", kw, call_result.SetChargingProfile)

    @on(Action.reserve_now)
    async def on_reserve_now(self, **kw):
        return await self._operator("ReserveNow", kw, call_result.ReserveNow)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, **kw):
        return await self._operator("CancelReservation", kw, call_result.CancelReservation)

    async def _stop(self, connector: int) -> None:
        await asyncio.sleep(0.05)
        tx = self.tx.pop(connector)
        task = self._meters.pop(connector, None)
        if task:
            task.cancel()
        await self.status(connector, "Finishing")
        await self.call(call.StopTransaction(meter_stop=round(self.energy_wh[connector]),
                                             timestamp=_now(), transaction_id=tx,
                                             reason="Remote"))
        await self.status(connector, "Available")


class OcppPeer:
    """Runs one `ocpp` charge point in a background thread with its own event loop."""

    def __init__(self, csms_url: str, identity: str, *, connectors: int = 1,
                 statuses: dict[int, str] | None = None, sample_s: float = 0.3,
                 wh_per_sample: int = 50, password: str | None = None,
                 power_w: int | None = None, send_power: bool = False):
        self.url = f"{csms_url.rstrip('/')}/{identity}"
        self.identity = identity
        self.connectors = connectors
        self.statuses = statuses or {}
        self.sample_s = sample_s
        self.wh_per_sample = wh_per_sample
        self.power_w = power_w  # the EV's draw: energy follows it (instead of wh_per_sample)
        self.send_power = send_power  # also report Power.Active.Import, as the firmware does
        self.password = password
        self.refuse_start = False
        self.refuse_stop = False
        self.answers: dict[str, str] = {}  # operator calls: action -> status, "error", "hang"
        self.calls: list[tuple[str, dict]] = []  # the operator calls received
        self.tx: dict[int, int] = {}
        self.hang_s = 5.0  # how long a "hang" answer keeps the charge point silent
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=f"ocpp-{identity}", daemon=True)

    def __enter__(self) -> OcppPeer:
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            raise RuntimeError(f"charge point {self.identity} did not connect: {self._error}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 - reported to the test thread
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        headers = {}
        if self.password:
            import base64
            token = base64.b64encode(f"{self.identity}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        async with websockets.connect(self.url, subprotocols=["ocpp1.6"],
                                      additional_headers=headers) as ws:
            cp = _CP(self.identity, ws, self)
            self.tx = cp.tx  # connector -> transaction id, for tests
            runner = asyncio.create_task(cp.start())
            boot = await cp.call(call.BootNotification(charge_point_model="ocpp-peer",
                                                       charge_point_vendor="tests"))
            if boot.status != RegistrationStatus.accepted:
                raise RuntimeError(f"BootNotification {boot.status}")
            for n in range(1, self.connectors + 1):
                await cp.status(n, self.statuses.get(n, "Available"))
            self._ready.set()
            await self._stop.wait()
            runner.cancel()
