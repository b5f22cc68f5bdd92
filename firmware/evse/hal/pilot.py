# Plug sense from the control pilot voltage (IEC 61851): the ADC reading mapped to states
# A (no EV), B (EV connected), C (charging), D (ventilation), E (short or no pilot).
_DEBOUNCE = const(3)
_SAMPLES = const(8)


def pilot_state(volts):
    """Pilot high level in volts -> 'A' (12 V, no EV), 'B' (9 V, EV connected), 'C' (6 V,
    charging), 'D' (3 V, ventilation), 'E' (0 V or below: short or no pilot)."""
    if volts >= 10.5:
        return "A"
    if volts >= 7.5:
        return "B"
    if volts >= 4.5:
        return "C"
    if volts >= 1.5:
        return "D"
    return "E"


class PilotPlug:
    """Control pilot through a divider into the ADC. `adc.read_uv()` is sampled `_SAMPLES`
    times and the highest value taken, because while charging the pilot is a 1 kHz PWM whose
    low half is -12 V. The state changes only after `debounce` equal readings in a row.
    Calibration: `mv_0v` and `mv_12v` are the ADC millivolts at 0 V and +12 V pilot."""

    def __init__(self, adc, mv_0v, mv_12v, debounce=_DEBOUNCE):
        self._adc = adc
        self._mv0 = mv_0v
        self._span = mv_12v - mv_0v
        self._debounce = debounce
        self._state = "A"
        self._candidate = "A"
        self._count = 0

    def volts(self):
        uv = 0
        for _ in range(_SAMPLES):
            v = self._adc.read_uv()
            if v > uv:
                uv = v
        return (uv / 1000 - self._mv0) * 12 / self._span

    def state(self):
        s = pilot_state(self.volts())
        if s == self._state:
            self._count = 0
        elif s == self._candidate:
            self._count += 1
            if self._count >= self._debounce:
                self._state = s
                self._count = 0
        else:
            self._candidate = s
            self._count = 1
            if self._debounce <= 1:
                self._state = s
                self._count = 0
        return self._state

    def plugged(self):
        return self.state() in ("B", "C", "D")

