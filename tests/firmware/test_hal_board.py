# Board assembly from the board files in boards/: the unix-sim board end to end, and the ESP32
# boards against a stand-in `machine` module (the chip's peripherals are outside the project).
import json
import sys

from mptest import requires_unix

BOARDS = "../../boards/"


def load_board(name):
    with open(BOARDS + name + ".json") as f:
        return json.load(f)


class FakePin:
    IN = 1
    OUT = 3
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1
    made = {}

    def __init__(self, n, mode=None, pull=None, value=None):
        self.n, self.mode, self.pull = n, mode, pull
        # Inputs idle high (pull-ups, on the board or in the chip); outputs start at `value`.
        self.level = 1 if (mode == 1 and value is None) else (value or 0)
        self.history = [] if value is None else [value]
        FakePin.made[n] = self

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.history.append(v)

    def irq(self, handler, trigger):
        self.handler = handler


class FakeUART:
    def __init__(self, uart_id, **kw):
        self.id, self.kw = uart_id, kw

    def any(self):
        return 0

    def read(self, n=None):
        return b""

    def write(self, b):
        return len(b)


class FakeI2C:
    def __init__(self, i2c_id, sda=None, scl=None, freq=None):
        self.sda, self.scl, self.freq = sda, scl, freq
        self.writes = []

    def writeto(self, addr, buf):
        self.writes.append((addr, bytes(buf)))

    def writevto(self, addr, bufs):
        self.writes.append((addr, b"".join(bytes(b) for b in bufs)))


class FakeADC:
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin

    def read_uv(self):
        return 3000000


class FakeWDT:
    started = []

    def __init__(self, timeout):
        FakeWDT.started.append(timeout)

    def feed(self):
        pass


class FakeCounter:
    def __init__(self, i, src, filter_ns=0):
        self.src = src

    def value(self):
        return 0


class FakePWM:
    made = []

    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin, self.freq, self.duty = pin, freq, duty_u16
        FakePWM.made.append(self)

    def duty_u16(self, v):
        self.duty = v


class FakeMachine:
    PWM = FakePWM
    Pin = FakePin
    UART = FakeUART
    I2C = FakeI2C
    ADC = FakeADC
    WDT = FakeWDT
    Counter = FakeCounter


def esp32_build(name, config=None):
    sys.modules["machine"] = FakeMachine
    FakePin.made = {}
    FakePWM.made = []
    FakeWDT.started = []
    try:
        from evse.hal.board import build

        return build(load_board(name), config or {})
    finally:
        del sys.modules["machine"]
        sys.modules.pop("evse.hal.esp32", None)


def test_unix_sim_board_builds_two_outlets_and_console_display():
    requires_unix()
    from evse.hal.board import build

    b = build(load_board("unix-sim"), {"sim": {"ev_plugged": True, "power_w": 7400}})
    assert len(b.outlets) == 2
    assert b.outlets[0].plug.plugged() is True
    assert all(not o.relay.is_closed for o in b.outlets)
    assert b.display.show("ABC", "", [(1, "Available")]) is True
    assert b.tasks() == []  # no control port configured and none in the environment
    b.watchdog.feed()  # no watchdog on the unix port: a no-op
    b.outlets[0].relay.close()
    b.open_all()
    assert not b.outlets[0].relay.is_closed


def test_sim_and_qr_stay_out_of_the_esp32_import_path():
    for name in ("evse.hal.sim", "evse.hal.qr", "evse.hal.s0"):
        sys.modules.pop(name, None)
    esp32_build("olimex-esp32-evb")
    assert "evse.hal.sim" not in sys.modules
    assert "evse.hal.qr" not in sys.modules
    assert "evse.hal.s0" not in sys.modules  # this board has Modbus meters only
    assert "evse.hal.sdm" in sys.modules


def test_olimex_evb_relays_meters_plug_display():
    b = esp32_build("olimex-esp32-evb")
    assert len(b.outlets) == 2
    made = FakePin.made
    assert made[32].mode == FakePin.OUT and set(made[32].history) == {0}
    assert set(made[33].history) == {0}  # never driven high: never closed
    assert made[17].history[0] == 0  # RS485 DE low: listening
    assert type(b.outlets[0].meter).__name__ == "SDM120" and b.outlets[1].meter.address == 2
    made[14].level = 0
    assert b.outlets[0].plug.plugged() is True
    assert type(b.display).__name__ == "OledScreen"
    assert b.display.oled.i2c.sda.n == 13 and b.display.oled.i2c.scl.n == 16
    # Watchdog starts late: on the first feed, not at build.
    assert FakeWDT.started == []


def test_active_low_relay_pin_is_created_at_the_open_level():
    esp32_build("esp32-devkitc")
    # A Pin(OUT) defaulting to 0 would close an active-low relay module for a moment.
    assert FakePin.made[26].history[0] == 1
    assert 0 not in FakePin.made[26].history


def test_devkitc_mixed_meters_and_pilot():
    b = esp32_build("esp32-devkitc")
    assert [type(o.meter).__name__ for o in b.outlets] == ["SDM630", "SDM120"]
    assert b.outlets[0].meter._m is b.outlets[1].meter._m  # one RS485 bus
    assert type(b.outlets[0].plug).__name__ == "PilotPlug"


def test_pilot_pwm_follows_the_relay():
    b = esp32_build("esp32-devkitc")
    pwm = FakePWM.made[0]
    assert pwm.pin.n == 25 and pwm.freq == 1000
    assert pwm.duty == 65535  # steady +12 V: nothing offered while open
    relay = b.outlets[0].relay
    relay.close()
    assert relay.is_closed and FakePin.made[26].level == 0  # active-low module: closed
    assert pwm.duty == 17476  # 16 A -> 26.7 %
    relay.open()
    assert not relay.is_closed and pwm.duty == 65535
    b.outlets[1].relay.close()
    b.open_all()
    assert FakePWM.made[1].duty == 65535


def test_outlet_rating_from_board_and_config_caps_every_offer():
    """The hardware's maximum, which caps every limit (transactions.Port.offer): the board
    file's max_current_a (16 A on the devkitc), lowered by config.json's max_current_a; the
    phases from the meter (SDM630: 3, SDM120: 1) unless config.json says. The pilot's duty
    follows an offer while the relay is closed."""
    b = esp32_build("esp32-devkitc")
    o = b.outlets[0]
    assert (o.max_a, o.phases, b.outlets[1].phases) == (16, 3, 1)
    assert o.pilot is o.relay and type(o.pilot).__name__ == "PilotRelay"
    pwm = FakePWM.made[0]
    o.relay.close()
    o.pilot.offer(10)
    assert pwm.duty == int(10 / 0.6 * 65535 / 100)
    o.pilot.offer(0)
    assert pwm.duty == 65535  # nothing offered: steady +12 V
    b = esp32_build("esp32-devkitc", {"max_current_a": 10, "phases": 1})
    assert [(o.max_a, o.phases) for o in b.outlets] == [(10, 1), (10, 1)]
    b.outlets[1].relay.close()
    assert FakePWM.made[1].duty == int(10 / 0.6 * 65535 / 100)  # the rating, lowered
    b = esp32_build("esp32-devkitc", {"max_current_a": 32})  # above the board's: the board's
    assert b.outlets[0].max_a == 16


def test_outlet_without_pilot_offers_through_its_relay_only():
    b = esp32_build("olimex-esp32-evb", {"max_current_a": 13})
    o = b.outlets[0]
    assert type(o.relay).__name__ == "Relay" and (o.max_a, o.phases, o.pilot) == (13, 1, None)


def test_s3_s0_meter_and_connector_count_from_config():
    b = esp32_build("esp32-s3-devkitc-1", {"connectors": 1})
    assert len(b.outlets) == 1
    assert type(b.outlets[0].meter).__name__ == "S0Meter"


def test_config_connectors_limits_outlets():
    b = esp32_build("olimex-esp32-evb", {"connectors": 1})
    assert len(b.outlets) == 1


def test_watchdog_starts_on_first_feed_unless_maintenance():
    from evse.hal.watchdog import Watchdog

    started = []

    class W:
        def __init__(self, ms):
            started.append(ms)
            self.fed = 0

        def feed(self):
            self.fed += 1

    wd = Watchdog(W, 5000)
    assert started == [] and not wd.running
    wd.feed()
    wd.feed()
    assert started == [5000] and wd.running
    Watchdog().feed()  # maintenance / no hardware: nothing happens


def test_maintenance_mode_by_file_or_pin():
    requires_unix()
    from evse.hal import watchdog

    class P:
        def __init__(self, v):
            self.v = v

        def value(self):
            return self.v

    assert watchdog.maintenance_mode(None) is False
    assert watchdog.maintenance_mode(P(0)) is True
    assert watchdog.maintenance_mode(P(1)) is False
    with open(watchdog.MAINTENANCE_FILE, "w") as f:
        f.write("1")
    try:
        assert watchdog.maintenance_mode(P(1)) is True
    finally:
        import os

        os.remove(watchdog.MAINTENANCE_FILE)


def test_maintenance_pin_held_keeps_watchdog_off():
    orig = FakePin.__init__

    def held(self, n, mode=None, pull=None, value=None):
        orig(self, n, mode, pull, value)
        if n == 0:
            self.level = 0  # BOOT held

    FakePin.__init__ = held
    try:
        b = esp32_build("esp32-devkitc")
    finally:
        FakePin.__init__ = orig
    b.watchdog.feed()
    assert FakeWDT.started == []
    b2 = esp32_build("esp32-devkitc")
    b2.watchdog.feed()
    assert FakeWDT.started == [30000]


def test_open_all_survives_a_failing_relay():
    from evse.hal.board import Board, Outlet

    class Broken:
        def open(self):
            raise OSError("gpio")

    class Ok:
        opened = False

        def open(self):
            self.opened = True

    ok = Ok()
    Board([Outlet(Broken(), None, None), Outlet(ok, None, None)], None, None).open_all()
    assert ok.opened


def test_build_primes_the_qr_code_at_boot_and_drops_the_encoder():
    requires_unix()
    import evse.hal
    from evse.hal.board import build

    b = build(load_board("unix-sim"), {"public_code": "abc123"})
    assert b.display._qr_url == "https://app.plugchoice.com/p/ABC123"
    assert "evse.hal.qr" not in sys.modules and not hasattr(evse.hal, "qr")
    b2 = build(load_board("unix-sim"), {"public_code": "Q1", "public_url": "http://h/{public_code}"})
    assert b2.display._qr_url == "http://h/Q1"
