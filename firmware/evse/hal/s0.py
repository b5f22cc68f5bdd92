# S0 pulse meter: an energy meter's open-collector output gives `impulses_per_kwh` pulses per
# kWh. The counter (machine.Counter on ESP32, or PinCounter below) is passed in; the energy
# register is persisted so it never goes backwards across reboots, although the hardware
# counter restarts at zero.
import time

from evse.files import load_energy, save_json

_MIN_POWER_WINDOW_MS = const(1000)
_SAVE_MS = const(10000)


class PinCounter:
    """Counts rising edges with a pin interrupt where there is no machine.Counter."""

    def __init__(self, pin, trigger):
        self._n = 0
        pin.irq(self._edge, trigger)

    def _edge(self, _pin):
        self._n += 1

    def value(self):
        return self._n


class S0Meter:
    """`counter.value()` is a count that only grows while the board runs.

    The energy register is what is on flash: pulses are folded into it and written at most
    every `save_ms` (flash wear: a write per poll would be thousands an hour), and `read()`
    reports the register, so a value once reported is never lower after a reboot. It lags the
    pulses by at most `save_ms`. Power is the pulse rate since the previous read (S0 meters
    carry no power register)."""

    def __init__(self, counter, impulses_per_kwh, path, ticks_ms=time.ticks_ms, save_ms=_SAVE_MS):
        self._counter = counter
        self._wh_per_pulse = 1000 / impulses_per_kwh
        self.path = path
        self._ticks = ticks_ms
        self._save_ms = save_ms
        self._base_wh = self._load()
        self._base_count = counter.value()
        self._last_count = self._base_count
        self._last_ms = ticks_ms()
        self._saved_ms = time.ticks_add(self._last_ms, -save_ms)
        self._power = 0.0

    def _load(self):
        return load_energy(self.path)

    def _save(self, wh):
        save_json(self.path, {"energy_wh": wh})

    async def read(self):
        count = self._counter.value()
        now = self._ticks()
        if count != self._base_count and time.ticks_diff(now, self._saved_ms) >= self._save_ms:
            wh = self._base_wh + (count - self._base_count) * self._wh_per_pulse
            self._save(wh)
            self._base_wh, self._base_count, self._saved_ms = wh, count, now
        dt = time.ticks_diff(now, self._last_ms)
        if dt >= _MIN_POWER_WINDOW_MS:
            self._power = (count - self._last_count) * self._wh_per_pulse * 3600000 / dt
            self._last_count, self._last_ms = count, now
        return self._base_wh, self._power, None, None
