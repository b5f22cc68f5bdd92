# Eastron SDM drivers: register decoding from known byte strings, and whole reads through the
# real Modbus master against a simulated meter on the bus.
from evse.hal import MeterError
from evse.hal.sdm import SDM120, SDM630, float_at
from test_modbus import SerialPeer, master_for


def test_float_decoding_from_known_bytes():
    # IEEE 754 single, big-endian word and byte order, as the SDM meters send them.
    assert float_at(bytes.fromhex("43660000")) == 230.0
    assert float_at(bytes.fromhex("40F00000")) == 7.5
    assert float_at(bytes.fromhex("449A5000")) == 1234.5
    assert float_at(bytes.fromhex("0000000044D7A000"), 4) == 1725.0
    assert float_at(bytes.fromhex("BF800000")) == -1.0


async def test_sdm630_reads_three_phases_power_and_import_energy():
    regs = {0x0000: 231.0, 0x0002: 229.5, 0x0004: 230.25,
            0x0006: 16.0, 0x0008: 15.5, 0x000A: 0.0,
            0x000C: 3696.0, 0x000E: 3557.25, 0x0010: 0.0,
            0x0034: 7253.25, 0x0048: 1234.5, 0x0156: 1240.0}
    peer = SerialPeer(7, regs)
    m, _ = master_for(peer)
    energy, power, amps, volts = await SDM630(m, 7).read()
    assert energy == 1234500.0  # kWh register -> Wh (import, not import+export)
    assert power == 7253.25
    assert amps == (16.0, 15.5, 0.0)
    assert volts == (231.0, 229.5, 230.25)
    # One block read of V/I/P (18 registers), then total power, then import energy.
    assert [r[2:6] for r in peer.requests] == [bytes.fromhex("00000012"), bytes.fromhex("00340002"),
                                               bytes.fromhex("00480002")]


async def test_sdm120_reads_single_phase_registers_separately():
    regs = {0x0000: 229.0, 0x0006: 10.0, 0x000C: 2290.0, 0x0048: 0.5}
    peer = SerialPeer(2, regs)
    m, _ = master_for(peer)
    energy, power, amps, volts = await SDM120(m, 2).read()
    assert (energy, power, amps, volts) == (500.0, 2290.0, (10.0,), (229.0,))
    assert all(r[4:6] == b"\x00\x02" for r in peer.requests)


async def test_meter_that_stops_answering_raises_meter_error_not_zero():
    peer = SerialPeer(1, {0x0048: 10.0})
    m, _ = master_for(peer, timeout_ms=5, retries=1)
    meter = SDM120(m, 1, min_interval_ms=0)
    assert (await meter.read())[0] == 10000.0
    peer.behaviour = ["silent"] * 10
    try:
        r = await meter.read()
        raise AssertionError(f"lost meter read as {r!r}")
    except MeterError:
        pass


async def test_two_meters_share_one_bus():
    import asyncio

    peer = SerialPeer(1, {0x0048: 1.0})
    m, _ = master_for(peer)
    a = SDM120(m, 1, min_interval_ms=0)
    b = SDM120(m, 1, min_interval_ms=0)
    ra, rb = await asyncio.gather(a.read(), b.read())
    assert ra == rb
    # The lock keeps request/answer pairs whole: eight requests, none interleaved mid-answer.
    assert len(peer.requests) == 8


async def test_readings_younger_than_the_interval_are_reused_and_a_failure_clears_them():
    from mptest import FakeClock

    clock = FakeClock()
    peer = SerialPeer(1, {0x0048: 2.0})
    m, _ = master_for(peer, timeout_ms=5, retries=0)
    meter = SDM120(m, 1, min_interval_ms=1000, ticks_ms=clock.ticks_ms)
    first = await meter.read()
    clock.advance(ms=300)
    assert await meter.read() is first
    assert len(peer.requests) == 4  # no bus traffic for the reuse
    clock.advance(ms=800)
    peer.behaviour = ["silent"] * 4
    try:
        await meter.read()
        raise AssertionError("a silent meter must raise")
    except MeterError:
        pass
    try:
        await meter.read()  # straight after the failure: no cached value to fall back on
        raise AssertionError("a failed meter must not be served from the cache")
    except MeterError:
        pass
