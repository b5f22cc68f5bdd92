"""The reference charge point: a minimal OCPP 1.6J charge point on the `ocpp` package (CPython).

The latency benchmark runs it next to the firmware, against the same backend and with the
same driver calls. It closes its "relay" the moment it accepts RemoteStartTransaction (then
sends StartTransaction) and opens it the moment it accepts RemoteStopTransaction (then sends
StopTransaction): nothing between the message and the relay, which is what a reference should
be. The relay is observed the way the virtual board's is, through the same line-JSON control
protocol (`{"cmd": "state"}`, `{"cmd": "plug", ...}`) on 127.0.0.1.

    python -m bench.refcp --url ws://127.0.0.1:P/ocpp --identity CP-REF --control-port N
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

POWER_W = 7400.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ReferenceChargePoint(ChargePoint):
    def __init__(self, identity: str, connection, sample_interval: float = 1.0):
        super().__init__(identity, connection, response_timeout=10)
        self.plugged = True
        self.relay_closed = False
        self.energy_wh = 0.0
        self._since = time.monotonic()
        self.transaction_id: int | None = None
        self.id_tag: str | None = None
        self.stopping = False
        self.sample_interval = sample_interval
        self.heartbeat_interval = 300

    # the simulated meter: integrates power while the relay is closed and the EV plugged
    def _meter(self) -> float:
        now = time.monotonic()
        if self.relay_closed and self.plugged:
            self.energy_wh += POWER_W * (now - self._since) / 3600
        self._since = now
        return self.energy_wh

    def state(self) -> dict:
        return {"id": 1, "plugged": self.plugged, "relay_closed": self.relay_closed,
                "power_w": POWER_W if self.relay_closed and self.plugged else 0,
                "energy_wh": self._meter(), "fault": None}

    async def status(self, connector: int, status: str) -> None:
        await self.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                status=status, timestamp=now_iso()))

    async def boot(self) -> None:
        res = await self.call(call.BootNotification(charge_point_model="reference",
                                                    charge_point_vendor="bench"))
        self.heartbeat_interval = res.interval or 300
        await self.status(0, "Available")
        await self.status(1, "Preparing" if self.plugged else "Available")

    async def heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            await self.call(call.Heartbeat())

    async def samples(self) -> None:
        while True:
            await asyncio.sleep(self.sample_interval)
            if self.transaction_id is not None:
                await self.call(call.MeterValues(
                    connector_id=1, transaction_id=self.transaction_id,
                    meter_value=[{"timestamp": now_iso(), "sampled_value": [
                        {"value": str(int(self._meter())), "measurand":
                         "Energy.Active.Import.Register", "unit": "Wh"}]}]))

    async def set_plugged(self, plugged: bool) -> None:
        self._meter()
        self.plugged = plugged
        if self.transaction_id is None and not self.stopping:
            await self.status(1, "Preparing" if plugged else "Available")

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, connector_id=None, **kw):
        if self.transaction_id is not None or self.relay_closed or not self.plugged:
            return call_result.RemoteStartTransaction(status="Rejected")
        self._meter()
        self.relay_closed = True
        self.id_tag = id_tag
        return call_result.RemoteStartTransaction(status="Accepted")

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag, connector_id=None, **kw):
        if not self.relay_closed or self.id_tag != id_tag or self.transaction_id is not None:
            return
        res = await self.call(call.StartTransaction(connector_id=1, id_tag=id_tag,
                                                    meter_start=int(self._meter()),
                                                    timestamp=now_iso()))
        self.transaction_id = res.transaction_id
        await self.status(1, "Charging")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id):
        if transaction_id != self.transaction_id:
            return call_result.RemoteStopTransaction(status="Rejected")
        self._meter()
        self.relay_closed = False
        self.stopping = True
        return call_result.RemoteStopTransaction(status="Accepted")

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id):
        if transaction_id != self.transaction_id or self.relay_closed:
            return
        self.transaction_id = None
        try:
            await self.call(call.StopTransaction(meter_stop=int(self._meter()),
                                                 timestamp=now_iso(),
                                                 transaction_id=transaction_id, reason="Remote",
                                                 id_tag=self.id_tag))
            self.id_tag = None
        finally:
            self.stopping = False
        await self.status(1, "Finishing" if self.plugged else "Available")

    @on(Action.trigger_message)
    def on_trigger(self, requested_message, connector_id=None):
        if requested_message == "BootNotification":
            asyncio.get_running_loop().create_task(self.boot())
            return call_result.TriggerMessage(status="Accepted")
        return call_result.TriggerMessage(status="NotImplemented")


async def control_server(cp: ReferenceChargePoint, port: int) -> asyncio.Server:
    """The virtual board's sim control protocol: state and plug are all the bench needs."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                    if msg.get("cmd") == "state":
                        reply = {"ok": True, "connectors": [cp.state()]}
                    elif msg.get("cmd") == "plug" and msg.get("connector") == 1:
                        await cp.set_plugged(bool(msg.get("plugged")))
                        reply = {"ok": True}
                    else:
                        reply = {"ok": False, "error": "the reference knows state and plug"}
                except ValueError:
                    reply = {"ok": False, "error": "not JSON"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(client, "127.0.0.1", port)


async def main(url: str, identity: str, control_port: int) -> None:
    async with websockets.connect(f"{url.rstrip('/')}/{identity}",
                                  subprotocols=["ocpp1.6"]) as ws:
        cp = ReferenceChargePoint(identity, ws)
        server = await control_server(cp, control_port)
        runner = asyncio.create_task(cp.start())
        await cp.boot()
        print("reference charge point ready", flush=True)
        tasks = [runner, asyncio.create_task(cp.heartbeats()), asyncio.create_task(cp.samples())]
        try:
            await asyncio.gather(*tasks)
        finally:
            server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="csms_url, e.g. ws://127.0.0.1:8180/ocpp")
    ap.add_argument("--identity", required=True)
    ap.add_argument("--control-port", type=int, required=True)
    args = ap.parse_args()
    try:
        asyncio.run(main(args.url, args.identity, args.control_port))
    except KeyboardInterrupt:
        pass
