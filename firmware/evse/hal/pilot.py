# The control pilot (IEC 61851): plug sense from its voltage (the ADC reading mapped to states
# A (no EV), B (EV connected), C (charging), D (ventilation), E (short or no pilot)), and the
# PWM whose duty cycle offers the EV a current (a steady +12 V offers none).
_DEBOUNCE = const(3)
_SAMPLES = const(8)
_MIN_A = const(6)  # below this the pilot cannot offer current: no PWM at all
_STEADY = const(65535)  # 100 %: steady +12 V, no offer


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


def duty_u16(amps):
    """IEC 61851-1 PWM duty for the current offered: amps / 0.6 % from 6 to 51 A,
    amps / 2.5 + 64 % from 51 to 80 A; None or less than 6 A -> steady +12 V (no offer)."""
    if amps is None or amps < _MIN_A:
        return _STEADY
    pct = amps / 0.6 if amps <= 51 else amps / 2.5 + 64
    return int(min(pct, 96) * 65535 / 100)


class PilotRelay:
    """The relay as the app sees it, with the pilot PWM tied to it: the EVSE offers `amps`
    while the relay is closed and a steady +12 V (no current) while it is open, so an EV only
    draws current through a closed contactor. `pwm` is machine.PWM(pin, freq=1000)."""

    def __init__(self, relay, pwm, amps):
        self._relay = relay
        self._pwm = pwm
        self.amps = amps
        pwm.duty_u16(_STEADY)

    @property
    def is_closed(self):
        return self._relay.is_closed

    def offer(self, amps):
        """Smart charging's current, A per phase (capped by the outlet): a closed relay's
        duty changes at once, so the EV follows the limit without a pause; below 6 A the duty
        goes steady before the state machine opens the contactor (the EV stops first)."""
        self.amps = amps
        if self._relay.is_closed:
            self._pwm.duty_u16(duty_u16(amps))

    def close(self):
        self._relay.close()
        self._pwm.duty_u16(duty_u16(self.amps))

    def open(self):
        self._pwm.duty_u16(_STEADY)
        self._relay.open()

    def welded(self):
        return self._relay.welded()

    def contact_closed(self):
        return self._relay.contact_closed()
