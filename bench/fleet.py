"""Many lightweight simulated chargers in one process (asyncio, the `ocpp` package).

    python -m bench.fleet --url ws://127.0.0.1:P/ocpp --prefix S --count 1000

Each charger connects, boots, reports connector 1 Preparing (an EV is plugged in), sends
heartbeats at the interval the central system gives it (first one at a random phase), and
answers RemoteStart/RemoteStopTransaction like the reference charge point (bench/refcp.py),
sending MeterValues every second while charging. Outgoing calls skip the package's schema
check (the backend checks what it receives): the load belongs on the backend.

Every CALL's round trip (send -> CALLRESULT) is recorded by action. Protocol on stdin/stdout,
one JSON object per line: the fleet prints {"event": "ready", ...} once every charger has
booted; "mark" clears the samples, "report" prints {"event": "report", "rtt_ms": {action:
[...]}, ...}, "quit" (or end of input) ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

import websockets
from ocpp.routing import after
from ocpp.v16 import call
from ocpp.v16.enums import Action

from bench.refcp import ReferenceChargePoint


class Fleet:
    def __init__(self) -> None:
        self.rtt: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.connected = 0
        self.dropped = 0

    def record(self, action: str, seconds: float) -> None:
        self.rtt.setdefault(action, []).append(round(seconds * 1000, 3))

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class FleetChargePoint(ReferenceChargePoint):
    fleet: Fleet

    async def call(self, payload, suppress=True, unique_id=None, skip_schema_validation=True):
        t = time.perf_counter()
        try:
            result = await super().call(payload, suppress, unique_id,
                                        skip_schema_validation=True)
        except TimeoutError:
            self.fleet.error(f"timeout {type(payload).__name__}")
            raise
        self.fleet.record(type(payload).__name__, time.perf_counter() - t)
        return result

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id):
        await super().after_remote_stop(transaction_id)
        # the EV drives off and the next one plugs in: the connector is startable again
        await asyncio.sleep(0.5)
        await self.set_plugged(False)
        await self.set_plugged(True)

    async def heartbeats(self) -> None:
        await asyncio.sleep(random.uniform(0, self.heartbeat_interval))
        while True:
            await self.call(call.Heartbeat())
            await asyncio.sleep(self.heartbeat_interval)


async def one_charger(url: str, identity: str, fleet: Fleet, booted: asyncio.Event,
                      gate: asyncio.Semaphore, counter: list[int], total: int) -> None:
    try:
        async with gate:
            ws = await websockets.connect(f"{url}/{identity}", subprotocols=["ocpp1.6"],
                                          open_timeout=30, ping_interval=None)
            cp = FleetChargePoint(identity, ws)
            cp.fleet = fleet
            runner = asyncio.create_task(cp.start())
            await cp.boot()
        fleet.connected += 1
    except Exception as e:  # counted and reported; the fleet goes on
        fleet.error(f"connect {type(e).__name__}")
        return
    finally:
        counter[0] += 1
        if counter[0] == total:
            booted.set()
    try:
        await asyncio.gather(runner, cp.heartbeats(), cp.samples())
    except Exception:
        fleet.dropped += 1


async def main(url: str, prefix: str, count: int, concurrency: int) -> None:
    fleet = Fleet()
    booted = asyncio.Event()
    gate = asyncio.Semaphore(concurrency)
    counter = [0]
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one_charger(url.rstrip("/"), f"{prefix}{i:04d}", fleet, booted,
                                             gate, counter, count)) for i in range(1, count + 1)]
    await booted.wait()
    emit({"event": "ready", "connected": fleet.connected, "errors": fleet.errors,
          "seconds": round(time.perf_counter() - t0, 2)})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = line.decode().strip()
        if cmd == "mark":
            fleet.rtt = {}
            fleet.errors = {}
            emit({"event": "marked"})
        elif cmd == "report":
            emit({"event": "report", "rtt_ms": fleet.rtt, "errors": fleet.errors,
                  "connected": fleet.connected, "dropped": fleet.dropped})
        elif cmd == "quit":
            break
    for t in tasks:
        t.cancel()


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--prefix", default="S")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50, help="connections opened at once")
    args = ap.parse_args()
    from bench.common import raise_fd_limit

    raise_fd_limit()
    try:
        asyncio.run(main(args.url, args.prefix, args.count, args.concurrency))
    except KeyboardInterrupt:
        pass
