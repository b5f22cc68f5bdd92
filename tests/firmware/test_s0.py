# S0 pulse meter: energy from pulses, persisted so it never goes backwards across reboots.
import os

from mptest import FakeClock, requires_unix

PATH = "data/s0_test.json"


class Counter:
    """machine.Counter's reading side: the count since the board started."""

    def __init__(self):
        self.n = 0

    def value(self):
        return self.n


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


async def test_energy_from_pulses_and_power_from_rate():
    requires_unix()
    from evse.hal.s0 import S0Meter

    _clean()
    clock = FakeClock()
    c = Counter()
    m = S0Meter(c, 1000, PATH, ticks_ms=clock.ticks_ms)  # 1 pulse = 1 Wh
    assert await m.read() == (0.0, 0.0, None, None)
    c.n = 100
    clock.advance(s=60)
    energy, power, amps, volts = await m.read()
    assert energy == 100.0
    assert abs(power - 6000.0) < 0.01  # 100 Wh in a minute
    assert amps is None and volts is None
    _clean()


async def test_register_survives_reboot_with_counter_restarting_at_zero():
    requires_unix()
    from evse.hal.s0 import S0Meter

    _clean()
    clock = FakeClock()
    c = Counter()
    m = S0Meter(c, 800, PATH, ticks_ms=clock.ticks_ms)
    c.n = 400  # 0.5 kWh at 800 imp/kWh
    assert (await m.read())[0] == 500.0
    # Reboot: a new hardware counter starts at 0, the register carries on from the file.
    c2 = Counter()
    m2 = S0Meter(c2, 800, PATH, ticks_ms=clock.ticks_ms)
    assert (await m2.read())[0] == 500.0
    c2.n = 8
    assert (await m2.read())[0] == 510.0
    m3 = S0Meter(Counter(), 800, PATH, ticks_ms=clock.ticks_ms)
    assert (await m3.read())[0] == 510.0
    _clean()


async def test_flash_is_written_at_most_every_save_interval_and_reports_what_is_saved():
    requires_unix()
    from evse.hal import s0

    _clean()
    writes = []
    real = s0.S0Meter._save

    def counting(self, wh):
        writes.append(wh)
        real(self, wh)

    s0.S0Meter._save = counting
    try:
        clock = FakeClock()
        c = Counter()
        m = s0.S0Meter(c, 1000, PATH, ticks_ms=clock.ticks_ms, save_ms=10000)
        reported = []
        for _ in range(40):  # 10 s of polling every 250 ms, one pulse each
            c.n += 1
            clock.advance(ms=250)
            reported.append((await m.read())[0])
        assert len(writes) <= 2, writes
        assert reported == sorted(reported)  # never backwards
        # Whatever was reported is what a reboot finds on flash.
        again = s0.S0Meter(Counter(), 1000, PATH, ticks_ms=clock.ticks_ms)
        assert (await again.read())[0] >= reported[-1]
        clock.advance(s=10)
        assert (await m.read())[0] == 40.0  # caught up once the interval passed
    finally:
        s0.S0Meter._save = real
        _clean()


async def test_pin_counter_counts_edges():
    from evse.hal.s0 import PinCounter

    class IrqPin:
        def irq(self, handler, trigger):
            self.handler = handler

    pin = IrqPin()
    c = PinCounter(pin, 2)
    for _ in range(5):
        pin.handler(pin)
    assert c.value() == 5
