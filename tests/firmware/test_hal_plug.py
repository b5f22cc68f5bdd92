# Plug sense: digital input, and the control pilot through the ADC with IEC 61851 bands.
from evse.hal.pilot import PilotPlug, PilotRelay, duty_u16, pilot_state
from evse.hal.plug import PlugInput


class Pin:
    def __init__(self, level):
        self.level = level

    def value(self):
        return self.level


class Adc:
    """Microvolts as the ESP32 ADC's read_uv() gives them; a list cycles (a PWM pilot)."""

    def __init__(self, uv):
        self.set(uv)

    def set(self, uv):
        self.seq = uv if isinstance(uv, list) else [uv]
        self.i = 0

    def read_uv(self):
        v = self.seq[self.i % len(self.seq)]
        self.i += 1
        return v


def uv_for(volts, mv0=1650, mv12=3000):
    return int((mv0 + volts * (mv12 - mv0) / 12) * 1000)


def test_digital_input_active_low_and_high():
    pin = Pin(1)
    p = PlugInput(pin, active_low=True)
    assert p.plugged() is False
    pin.level = 0
    assert p.plugged() is True
    q = PlugInput(pin)
    assert q.plugged() is False


def test_pilot_bands():
    assert pilot_state(12.0) == "A"
    assert pilot_state(10.6) == "A"
    assert pilot_state(9.0) == "B"
    assert pilot_state(7.6) == "B"
    assert pilot_state(6.0) == "C"
    assert pilot_state(3.0) == "D"
    assert pilot_state(0.0) == "E"
    assert pilot_state(-12.0) == "E"


def test_pilot_adc_mapping_and_debounce():
    adc = Adc(uv_for(12))
    p = PilotPlug(adc, 1650, 3000, debounce=3)
    assert abs(p.volts() - 12) < 0.01
    assert p.state() == "A" and not p.plugged()
    adc.set(uv_for(9))
    assert p.state() == "A"  # 1st reading of B
    assert p.state() == "A"  # 2nd
    assert p.state() == "B"  # 3rd in a row: accepted
    assert p.plugged()
    # One noisy sample does not flip the state back.
    adc.set(uv_for(12))
    assert p.state() == "B"
    adc.set(uv_for(9))
    assert p.state() == "B"
    adc.set(uv_for(6))
    for _ in range(2):
        p.state()
    assert p.state() == "C" and p.plugged()


def test_pilot_pwm_uses_the_high_level():
    # While charging the pilot is a 1 kHz square wave between +6 V and -12 V.
    adc = Adc([uv_for(6), uv_for(-12), uv_for(-12), uv_for(6)])
    p = PilotPlug(adc, 1650, 3000, debounce=1)
    assert p.state() == "C"


def test_pilot_short_reads_not_plugged():
    adc = Adc(uv_for(0))
    p = PilotPlug(adc, 1650, 3000, debounce=1)
    assert p.state() == "E" and p.plugged() is False


def test_pwm_duty_per_iec_61851():
    assert duty_u16(None) == 65535 and duty_u16(5) == 65535  # below 6 A: no offer
    assert duty_u16(6) == int(10 * 65535 / 100)
    assert duty_u16(16) == int(16 / 0.6 * 65535 / 100)
    assert duty_u16(32) == int(32 / 0.6 * 65535 / 100)
    assert duty_u16(80) == int(96 * 65535 / 100)


def test_pilot_relay_offers_current_only_while_closed():
    events = []

    class Relay:
        is_closed = False

        def close(self):
            self.is_closed = True
            events.append("close")

        def open(self):
            self.is_closed = False
            events.append("open")

        def welded(self):
            return False

    class Pwm:
        def duty_u16(self, v):
            events.append(v)

    r = PilotRelay(Relay(), Pwm(), 32)
    assert events == [65535]
    r.close()
    r.open()
    # The contactor closes before the EV is offered current, and the offer ends before it opens.
    assert events == [65535, "close", duty_u16(32), 65535, "open"]
    assert r.is_closed is False and r.welded() is False


def test_pilot_relay_follows_a_new_offer_while_closed_only():
    duties = []

    class Relay:
        is_closed = False

        def close(self):
            self.is_closed = True

        def open(self):
            self.is_closed = False

    class Pwm:
        def duty_u16(self, v):
            duties.append(v)

    r = PilotRelay(Relay(), Pwm(), 32)
    r.offer(10)  # open: still steady +12 V, the next close offers 10 A
    assert duties == [65535] and r.amps == 10
    r.close()
    assert duties[-1] == duty_u16(10)
    r.offer(6)  # closed: the EV is told at once
    assert duties[-1] == duty_u16(6)
    r.offer(0)  # below 6 A: steady before the contactor opens
    assert duties[-1] == 65535 and r.is_closed
    r.open()
    r.offer(16)
    assert duties[-1] == 65535
