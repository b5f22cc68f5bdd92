# Relay: drive level per board, opened at construction, welding detection from the feedback.
from evse.hal.relay import Relay
from mptest import FakeClock


class Pin:
    def __init__(self, level=0):
        self.level = level
        self.writes = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.writes.append(v)


def test_active_high_relay_opens_at_construction_and_switches():
    pin = Pin(1)  # whatever the pin held before (a crash, a reset): the relay opens it
    r = Relay(pin, active_high=True)
    assert pin.level == 0 and r.is_closed is False
    r.close()
    assert pin.level == 1 and r.is_closed is True
    r.open()
    assert pin.level == 0 and r.is_closed is False


def test_active_low_relay_levels_are_inverted():
    pin = Pin(0)
    r = Relay(pin, active_high=False)
    assert pin.writes[0] == 1, "an active-low relay is opened by driving the pin high"
    r.close()
    assert pin.level == 0
    r.open()
    assert pin.level == 1


def test_no_feedback_never_reports_welded():
    r = Relay(Pin())
    assert r.contact_closed() is None
    assert r.welded() is False


def test_welded_when_feedback_closed_while_commanded_open_after_release_time():
    clock = FakeClock()
    coil = Pin()
    fb = Pin(0)
    r = Relay(coil, True, fb, feedback_active_high=True, release_ms=200, ticks_ms=clock.ticks_ms)
    r.close()
    fb.level = 1
    assert r.welded() is False, "closed and commanded closed is normal"
    clock.advance(s=10)
    r.open()
    # Contacts still closed right after opening: mechanical release time, not welding yet.
    clock.advance(ms=50)
    assert r.welded() is False
    clock.advance(ms=200)
    assert r.welded() is True
    fb.level = 0
    assert r.welded() is False


def test_feedback_active_low():
    clock = FakeClock()
    fb = Pin(1)  # aux contact to GND with pull-up: open reads 1
    r = Relay(Pin(), True, fb, feedback_active_high=False, ticks_ms=clock.ticks_ms)
    clock.advance(s=1)
    assert r.contact_closed() is False and r.welded() is False
    fb.level = 0
    assert r.contact_closed() is True and r.welded() is True
