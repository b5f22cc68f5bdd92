# The simulated hardware of the virtual board: the EV draws power only through a closed relay
# and no more than the pilot offers, the meter integrates it and persists its register, faults
# show up where the app looks.
import json
import os

from evse.hal import MeterError
from evse.hal.relay import Relay
from evse.hal.sim import ControlServer, SimConnector, SimMeter
from mptest import FakeClock, requires_unix

PATH = "data/simmeter_test.json"


def _clean():
    for p in (PATH, PATH + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    try:
        os.rmdir("data")  # only when empty: leave the tree as it was
    except OSError:
        pass


def conn(clock, **kw):
    return SimConnector(1, ticks_ms=clock.ticks_ms, path=PATH, **kw)


async def test_energy_integrates_only_while_closed_and_plugged():
    requires_unix()
    _clean()
    clock = FakeClock()
    c = conn(clock, plugged=True, power_w=3600)
    relay = Relay(c.coil, True, c.feedback, ticks_ms=clock.ticks_ms)
    meter = SimMeter(c)
    clock.advance(s=10)
    assert (await meter.read())[:2] == (0.0, 0)  # relay open: nothing flows
    relay.close()
    clock.advance(s=60)
    energy, power, amps, volts = await meter.read()
    assert abs(energy - 60.0) < 1e-6 and power == 3600  # 3.6 kW for a minute = 60 Wh
    assert abs(amps[0] - 3600 / 230) < 1e-6 and volts == (230.0,)
    c.set("plugged", False)  # EV leaves: no more power though the relay is closed
    clock.advance(s=60)
    assert abs((await meter.read())[0] - 60.0) < 1e-6
    relay.open()
    _clean()


async def test_register_is_persisted_and_never_goes_backwards():
    requires_unix()
    _clean()
    clock = FakeClock()
    c = conn(clock, plugged=True, power_w=7200)
    c.coil.value(1)
    clock.advance(s=30)
    first = (await SimMeter(c).read())[0]
    assert abs(first - 60.0) < 1e-6
    with open(PATH) as f:
        assert abs(json.load(f)["energy_wh"] - 60.0) < 1e-6
    # Reboot: a new simulated meter carries on from the stored register.
    c2 = conn(FakeClock(), plugged=True, power_w=7200)
    assert (await SimMeter(c2).read())[0] >= first
    _clean()


async def test_meter_lost_fault_raises_meter_error():
    requires_unix()
    _clean()
    clock = FakeClock()
    c = conn(clock, plugged=True)
    c.set("fault", "meter_lost")
    try:
        r = await SimMeter(c).read()
        raise AssertionError(f"a lost meter read as {r!r}")
    except MeterError:
        pass
    c.set("fault", None)
    await SimMeter(c).read()
    _clean()


async def test_ev_draws_no_more_than_it_is_offered():
    """The virtual board's EV is told the current offered, as a pilot's duty tells a real one:
    power = min(its own, A offered x 230 V x phases); below 6 A nothing (no duty) though the
    relay is closed; the energy integrated before a change is counted at the old offer."""
    requires_unix()
    _clean()
    clock = FakeClock()
    c = conn(clock, plugged=True, power_w=7400)
    relay = Relay(c.coil, True, c.feedback, ticks_ms=clock.ticks_ms)
    meter = SimMeter(c)
    relay.close()
    assert (await meter.read())[1] == 7360  # 32 A x 230 V: the rating caps the 7.4 kW EV
    clock.advance(s=36)
    c.offer(6)
    assert c.status()["offered_a"] == 6
    energy, power, amps, volts = await meter.read()
    assert abs(energy - 73.6) < 1e-6 and power == 1380 and abs(amps[0] - 6) < 1e-6
    clock.advance(s=36)
    c.offer(5.9)
    assert relay.is_closed and c.status()["offered_a"] == 0
    energy, power, _, _ = await meter.read()
    assert abs(energy - 87.4) < 1e-6 and power == 0  # 1380 W for 36 s, then nothing
    c.offer(16)
    assert (await meter.read())[1] == 3680
    relay.open()
    _clean()
    # three phases: each carries a third of the power, and the cap is three times as high
    c = conn(clock, plugged=True, power_w=22000, phases=3)
    c.offer(16)
    relay = Relay(c.coil, True, c.feedback, ticks_ms=clock.ticks_ms)
    relay.close()
    energy, power, amps, volts = await SimMeter(c).read()
    assert power == 16 * 230 * 3 and len(amps) == 3 and abs(amps[2] - 16) < 1e-6 and len(volts) == 3
    relay.open()
    _clean()


def test_welded_fault_shows_on_relay_feedback():
    clock = FakeClock()
    c = conn(clock, plugged=True)
    relay = Relay(c.coil, True, c.feedback, ticks_ms=clock.ticks_ms)
    clock.advance(s=1)
    assert relay.welded() is False
    c.set("fault", "welded")
    assert relay.welded() is True
    assert c.status()["relay_closed"] is True
    assert c.power_w() == 0, "a fault stops the simulated flow (contract)"


def test_control_protocol_handles_commands_and_bad_input():
    clock = FakeClock()
    conns = [SimConnector(i + 1, ticks_ms=clock.ticks_ms, path=f"data/simmeter_t{i}.json")
             for i in range(2)]
    srv = ControlServer(conns, None, 0)
    st = srv.handle(b'{"cmd":"state"}')
    assert st["ok"] and [c["id"] for c in st["connectors"]] == [1, 2]
    assert st["connectors"][0] == {"id": 1, "plugged": False, "relay_closed": False, "power_w": 0,
                                   "ev_power_w": 7400, "offered_a": 32, "energy_wh": 0.0, "fault": None}
    assert srv.handle(b'{"cmd":"plug","connector":2,"plugged":true}') == {"ok": True}
    assert conns[1].plugged is True
    assert srv.handle(b'{"cmd":"power","connector":1,"power_w":3700}') == {"ok": True}
    assert conns[0].ev_power_w == 3700
    assert srv.handle(b'{"cmd":"fault","connector":1,"fault":"welded"}') == {"ok": True}
    assert srv.handle(b'{"cmd":"fault","connector":1,"fault":null}') == {"ok": True}
    assert conns[0].fault is None
    for line in (b"nonsense", b"[1]", b'{"cmd":"dance"}', b'{"cmd":"plug","connector":3,"plugged":true}',
                 b'{"cmd":"plug","connector":1,"plugged":"yes"}', b'{"cmd":"power","connector":1,"power_w":-5}',
                 b'{"cmd":"fault","connector":1,"fault":"fire"}', b'{"cmd":"fault","connector":1}',
                 b'{"cmd":"plug","plugged":true}', b'{"cmd":"display"}'):
        r = srv.handle(line)
        assert r["ok"] is False and r["error"], line


def test_idtag_command_feeds_the_simulated_card_reader_once():
    from evse.hal.sim import SimReader

    clock = FakeClock()
    conns = [SimConnector(1, ticks_ms=clock.ticks_ms, path="data/simmeter_t9.json")]
    srv = ControlServer(conns, None, 0)
    reader = SimReader(conns[0])
    assert reader.read() is None
    assert srv.handle(b'{"cmd":"idtag","connector":1,"id_tag":"CARD-42"}') == {"ok": True}
    assert reader.read() == "CARD-42"
    assert reader.read() is None  # a card is read once
    for bad in (b'{"cmd":"idtag","connector":1,"id_tag":""}', b'{"cmd":"idtag","connector":1,"id_tag":"x"' + b'x' * 20 + b'"}',
                b'{"cmd":"idtag","connector":1,"id_tag":7}'):
        assert srv.handle(bad)["ok"] is False
