# Eastron SDM120 (single phase) and SDM630 (three phase) meters over Modbus RTU: input
# registers (function 04) holding 32-bit big-endian IEEE floats.
import time
from struct import unpack_from

_V1 = const(0x0000)      # voltage L1..L3 at +0, +2, +4; current at +6, +8, +10; power at +12..
_I1 = const(0x0006)
_P1 = const(0x000C)
_P_TOTAL = const(0x0034)
_IMPORT_KWH = const(0x0048)
_MIN_INTERVAL_MS = const(1000)


def float_at(buf, i=0):
    """Register pair starting at byte `i` -> float (big-endian word and byte order)."""
    return unpack_from(">f", buf, i)[0]


class SDM630:
    """Three phases: one 18-register read for V, I, P per phase, then total power and energy.

    `read()` -> (energy_wh, power_w, (i1, i2, i3), (v1, v2, v3)); raises MeterError (from the
    Modbus master) when the meter does not answer."""

    phases = 3

    def __init__(self, master, address=1, min_interval_ms=_MIN_INTERVAL_MS, ticks_ms=time.ticks_ms):
        self._m = master
        self.address = address
        self._min_ms = min_interval_ms
        self._ticks = ticks_ms
        self._last = None
        self._at = 0

    async def _float(self, register):
        return float_at(await self._m.read_input_registers(self.address, register, 2))

    async def read(self):
        # The app polls every few hundred ms; a full read takes several bus transactions (most
        # of a second at 2400 baud), so a reading younger than `min_interval_ms` is reused.
        now = self._ticks()
        if self._last is not None and time.ticks_diff(now, self._at) < self._min_ms:
            return self._last
        self._last = None  # a failed read must never leave an old reading to be reused
        r = await self._read()
        self._last, self._at = r, now
        return r

    async def _read(self):
        b = await self._m.read_input_registers(self.address, _V1, 18)
        volts = (float_at(b, 0), float_at(b, 4), float_at(b, 8))
        amps = (float_at(b, 12), float_at(b, 16), float_at(b, 20))
        power = await self._float(_P_TOTAL)
        energy = await self._float(_IMPORT_KWH) * 1000
        return energy, power, amps, volts


class SDM120(SDM630):
    """Single phase: V, I and P sit apart (the registers between are not defined on the SDM120),
    so four 2-register reads."""

    phases = 1

    async def _read(self):
        volts = await self._float(_V1)
        amps = await self._float(_I1)
        power = await self._float(_P1)
        energy = await self._float(_IMPORT_KWH) * 1000
        return energy, power, (amps,), (volts,)
