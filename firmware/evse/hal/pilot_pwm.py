# The control pilot's PWM (IEC 61851-1): how the EVSE tells the EV the current it may draw. The
# duty cycle is the offer; a steady +12 V offers nothing. The sense side (the pilot voltage read
# through the ADC) is in pilot.py. Loaded by the boards that drive a pilot: the ESP32 boards with
# a pwm_pin, and the virtual board, whose simulated EV reads its duty as a real one would.
_MIN_A = const(6)  # below this the pilot cannot offer current: no PWM at all
_STEADY = const(65535)  # 100 %: steady +12 V, no offer


def duty_u16(amps):
    """IEC 61851-1 PWM duty for the current offered: amps / 0.6 % from 6 to 51 A,
    amps / 2.5 + 64 % from 51 to 80 A; None or less than 6 A -> steady +12 V (no offer)."""
    if amps is None or amps < _MIN_A:
        return _STEADY
    pct = amps / 0.6 if amps <= 51 else amps / 2.5 + 64
    return int(min(pct, 96) * 65535 / 100)


def amps_of_duty(duty):
    """The EV's side of the same table: the current a duty cycle allows, to 0.1 A; 0 for a
    steady level or a duty outside 8..97 % (no charging allowed, or digital communication)."""
    pct = duty * 100 / 65535
    if pct < 8 or pct > 97:
        return 0
    a = pct * 0.6 if pct <= 85 else (pct - 64) * 2.5
    return round(min(max(a, _MIN_A), 80), 1)


class PilotRelay:
    """The relay as the app sees it, with the pilot PWM tied to it: the EVSE offers `amps`
    while the relay is closed and a steady +12 V (no current) while it is open, so an EV only
    draws current through a closed contactor. `pwm` is machine.PWM(pin, freq=1000) on a board,
    anything with duty_u16(v) in a test or the simulated EV."""

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
