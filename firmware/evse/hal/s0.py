# S0 pulse meter: an energy meter's open-collector output gives `impulses_per_kwh` pulses per
# kWh. The counter (machine.Counter on ESP32, or PinCounter below) is passed in; the energy
# register is persisted so it never goes backwards across reboots, although the hardware
# counter restarts at zero.
import json
import os
import time

_MIN_POWER_WINDOW_MS = const(1000)


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

    Energy = persisted register + pulses since it was written. Power is the pulse rate over
    the time since the previous read (S0 meters carry no power register)."""

    def __init__(self, counter, impulses_per_kwh, path, ticks_ms=time.ticks_ms):
        self._counter = counter
        self._wh_per_pulse = 1000 / impulses_per_kwh
        self.path = path
        self._ticks = ticks_ms
        self._base_wh = self._load()
        self._base_count = counter.value()
        self._last_count = self._base_count
        self._last_ms = ticks_ms()
        self._power = 0.0

    def _load(self):
        try:
            with open(self.path) as f:
                return float(json.load(f)["energy_wh"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def _save(self, wh):
        try:
            os.mkdir(self.path.rsplit("/", 1)[0])
        except OSError:
            pass
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"energy_wh": wh}, f)
        try:
            os.rename(tmp, self.path)
        except OSError:
            os.remove(self.path)
            os.rename(tmp, self.path)

    def energy_wh(self):
        return self._base_wh + (self._counter.value() - self._base_count) * self._wh_per_pulse

    async def read(self):
        count = self._counter.value()
        now = self._ticks()
        wh = self._base_wh + (count - self._base_count) * self._wh_per_pulse
        if count != self._base_count:
            self._save(wh)
            self._base_wh, self._base_count = wh, count
        dt = time.ticks_diff(now, self._last_ms)
        if dt >= _MIN_POWER_WINDOW_MS:
            self._power = (count - self._last_count) * self._wh_per_pulse * 3600000 / dt
            self._last_count, self._last_ms = count, now
        return wh, self._power, None, None
