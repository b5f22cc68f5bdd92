# Simulated hardware for the unix port (the virtual board): relay coil and feedback, an EV that
# plugs in and draws power, an energy meter that integrates that power, a console display, and
# a line-JSON control server on 127.0.0.1 through which tests and host tools play the EV.
# The real Relay, PlugInput and Screen classes run on top of simulated pins; the EV is told the
# current offered (what a pilot's duty tells a real one) and draws no more than that.
import asyncio
import json
import os
import time

from evse import drop
from evse.files import load_energy, save_json
from evse.hal import Board, MeterError, NoDisplay, Outlet, connector_count
from evse.hal.display import ConsoleScreen
from evse.hal.plug import PlugInput
from evse.hal.relay import Relay
from evse.hal.watchdog import Watchdog
from evse.log import log

_VOLTS = 230.0
_MAX_A = const(32)  # the virtual board's rating: 32 A single phase, a 7.4 kW wallbox


class SimPin:
    """A pin: output with an optional hook run before its level changes, or an input whose
    level comes from `read()`."""

    def __init__(self, level=0, read=None, before_change=None):
        self.level = level
        self._read = read
        self._before = before_change

    def value(self, v=None):
        if v is None:
            return self._read() if self._read else self.level
        v = 1 if v else 0
        if v != self.level and self._before:
            self._before()
        self.level = v




class SimConnector:
    """One simulated socket with its EV and meter. Energy is integrated only while the relay is
    closed, the EV plugged and no fault is set; the register is persisted on every read. The EV
    draws its power_w, at most what is offered (A x 230 V x phases): it is the outlet's pilot."""

    def __init__(self, cid, plugged=False, power_w=7400, fault=None, ticks_ms=time.ticks_ms,
                 path=None, phases=1):
        self.id = cid
        self.plugged = plugged
        self.ev_power_w = power_w
        self.fault = fault
        self.phases = phases
        self.offered_a = _MAX_A  # what the pilot offers the EV: set by the outlet (offer)
        self._ticks = ticks_ms
        self.path = path or "data/simmeter_%d.json" % cid
        self.coil = SimPin(0, before_change=self.update)
        self.feedback = SimPin(read=self._contact)
        self.plug_pin = SimPin(read=lambda: 1 if self.plugged else 0)
        self.presented = None  # idTag shown to the simulated card reader
        self.energy_wh = load_energy(self.path)
        self._saved = self.energy_wh
        self._last = ticks_ms()

    def _contact(self):
        return 1 if (self.coil.level or self.fault == "welded") else 0

    def relay_closed(self):
        return bool(self._contact())

    def power_w(self):
        if self.coil.level and self.plugged and self.fault is None:
            cap = int(self.offered_a * _VOLTS * self.phases)
            return self.ev_power_w if self.ev_power_w <= cap else cap
        return 0

    def offer(self, amps):
        # As a pilot's duty: nothing below 6 A (the relay opens then too, connector.py).
        self.update()  # energy up to now at the old offer
        self.offered_a = amps if amps >= 6 else 0

    def update(self):
        now = self._ticks()
        dt = time.ticks_diff(now, self._last)
        self._last = now
        p = self.power_w()
        if p and dt > 0:
            self.energy_wh += p * dt / 3600000

    def set(self, attr, value):
        self.update()  # account energy up to now under the old conditions
        setattr(self, attr, value)

    def save(self):
        if self.energy_wh == self._saved:
            return
        save_json(self.path, {"energy_wh": self.energy_wh})
        self._saved = self.energy_wh

    def status(self):
        self.update()
        return {"id": self.id, "plugged": self.plugged, "relay_closed": self.relay_closed(),
                "power_w": self.power_w(), "ev_power_w": self.ev_power_w,
                "offered_a": self.offered_a,
                "energy_wh": self.energy_wh, "fault": self.fault}


class SimMeter:
    def __init__(self, conn):
        self._c = conn

    async def read(self):
        c = self._c
        if c.fault == "meter_lost":
            raise MeterError("meter %d: no answer (simulated)" % c.id)
        c.update()
        c.save()
        p = c.power_w()
        n = c.phases
        return c.energy_wh, p, (p / _VOLTS / n,) * n, (_VOLTS,) * n


class SimReader:
    """A card reader: the idTag last presented through the control server, read once."""

    def __init__(self, conn):
        self._c = conn

    def read(self):
        tag = self._c.presented
        self._c.presented = None
        return tag


class ControlServer:
    """One JSON object per line in, one JSON line out (protocol in contracts.md)."""

    def __init__(self, conns, display, port, host="127.0.0.1"):
        self.conns = conns
        self.display = display
        self.port = port
        self.host = host

    async def serve(self):
        srv = await asyncio.start_server(self._client, self.host, self.port)
        log("sim", "control", "%s:%d" % (self.host, self.port))
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            srv.close()

    async def _client(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    reply = self.handle(line)
                except Exception as e:  # noqa: BLE001 - a failed command is answered, the server goes on
                    reply = {"ok": False, "error": repr(e)[:60]}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except OSError:
            pass  # client went away; nothing to clean up beyond the socket
        finally:
            writer.close()

    def handle(self, line):
        try:
            msg = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "not JSON"}
        if type(msg) is dict and msg.get("cmd") == "state":  # polled often: kept resident
            return {"ok": True, "connectors": [c.status() for c in self.conns]}
        from evse.hal import simctl  # every other command is rare: loaded per use, then dropped
        drop("evse.hal.simctl")
        return simctl.handle(self, msg)


def build(board, config):
    sim = config.get("sim") or {}
    n = connector_count(board, config)
    phases = config.get("phases") or 1
    amps = min(config.get("max_current_a") or _MAX_A, _MAX_A)  # the installation's, if lower
    conns = [SimConnector(i + 1, bool(sim.get("ev_plugged", False)), sim.get("power_w", 7400),
                          sim.get("fault"), phases=phases) for i in range(n)]
    outlets = []
    for c in conns:
        c.offered_a = amps
        relay = Relay(c.coil, True, c.feedback)
        outlets.append(Outlet(relay, SimMeter(c), PlugInput(c.plug_pin), SimReader(c), amps,
                              phases, c))
    d = board.get("display") or {}
    if d.get("type") == "console":
        display = ConsoleScreen(d.get("width", 128), d.get("height", 64))
    else:
        display = NoDisplay()
    port = sim.get("control_port") or os.getenv("EVSE_SIM_PORT")
    tasks = (ControlServer(conns, display, int(port)).serve,) if port else ()
    b = Board(outlets, display, Watchdog(), tasks)
    b.sim = conns
    return b
