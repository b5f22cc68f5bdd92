# Board assembly on real hardware: the only module that builds `machine` objects. Imported by
# board.build() for every board file whose platform is not "unix"; meter drivers are imported
# only for the meter types the board uses.
import machine
from machine import Pin

from evse.hal import Board, NoDisplay, Outlet, connector_count
from evse.hal.plug import PlugInput
from evse.hal.relay import Relay
from evse.hal.watchdog import Watchdog, maintenance_mode
from evse.log import log

_PULL = {"up": Pin.PULL_UP, "down": Pin.PULL_DOWN}


def _input(spec):
    # pull=None (no pull resistor) is valid MicroPython; the ESP32 stub types `pull` as int only
    return Pin(spec["pin"], Pin.IN, _PULL.get(spec.get("pull")))  # pyright: ignore[reportArgumentType]


def relay(spec):
    high = spec.get("active_high", True)
    # Create the pin already at the "open" level: a default 0 would close an active-low relay.
    pin = Pin(spec["pin"], Pin.OUT, value=0 if high else 1)
    fb = spec.get("feedback")
    if fb:
        return Relay(pin, high, _input(fb), fb.get("active_high", True))
    return Relay(pin, high)


def plug(spec):
    if spec["type"] == "pilot":
        from evse.hal.pilot import PilotPlug
        adc = machine.ADC(Pin(spec["pin"]), atten=machine.ADC.ATTN_11DB)
        return PilotPlug(adc, spec["mv_0v"], spec["mv_12v"], spec.get("debounce", 3))
    return PlugInput(_input(spec), spec.get("active_low", False))


def modbus(spec):
    from evse.hal.modbus import ModbusMaster
    baud = spec.get("baud", 9600)
    uart = machine.UART(spec["uart"], baudrate=baud, bits=8, parity=None, stop=1,
                        tx=spec["tx"], rx=spec["rx"])
    de = spec.get("de")
    de = Pin(de, Pin.OUT, value=0) if de is not None else None
    return ModbusMaster(uart, baud, de, spec.get("timeout_ms", 300), spec.get("retries", 2))


def meter(spec, index, bus):
    kind = spec["type"]
    if kind in ("sdm120", "sdm630"):
        from evse.hal import sdm
        cls = sdm.SDM120 if kind == "sdm120" else sdm.SDM630
        return cls(bus, spec.get("address", 1))
    if kind == "s0":
        from evse.hal.s0 import PinCounter, S0Meter
        # pull=None is valid MicroPython; the stub types `pull` as int only (as in _input)
        src = Pin(spec["pin"], Pin.IN, _PULL.get(spec.get("pull", "up")))  # pyright: ignore[reportArgumentType]
        counter_cls = getattr(machine, "Counter", None)
        if counter_cls is not None:
            counter = counter_cls(index, src, filter_ns=spec.get("filter_ns", 10000))
        else:
            counter = PinCounter(src, Pin.IRQ_FALLING)
        return S0Meter(counter, spec["impulses_per_kwh"], "data/s0_%d.json" % (index + 1))
    raise ValueError("meter type %r needs the unix-sim board" % kind)


def max_current(plug_spec, config):
    """A per phase an outlet may offer: the board file's rating of its pilot (default 16 A),
    lowered by config.json's max_current_a (the installation: cable, fuse)."""
    a = plug_spec.get("max_current_a", 16)
    c = config.get("max_current_a")
    return a if c is None or c > a else c


def display(board):
    spec = board.get("display")
    if not spec or spec.get("type") != "ssd1306":
        return NoDisplay()
    i2c_spec = board["i2c"]
    try:
        from evse.hal.ssd1306 import SSD1306, OledScreen
        i2c = machine.I2C(i2c_spec.get("id", 0), sda=Pin(i2c_spec["sda"]), scl=Pin(i2c_spec["scl"]),
                          freq=i2c_spec.get("freq", 400000))
        return OledScreen(SSD1306(i2c, spec.get("address", 0x3C), spec.get("width", 128),
                                  spec.get("height", 64)))
    except OSError as e:
        # No ACK from the display: charge without a screen rather than not at all.
        log("display", "error", e)
        return NoDisplay()


def build(board, config):
    n = connector_count(board, config)
    specs = board["connectors"][:n]
    relays = [relay(c["relay"]) for c in specs]  # first: every relay open before anything else
    bus = None
    if any(c["meter"]["type"] in ("sdm120", "sdm630") for c in specs):
        bus = modbus(board["modbus"])
    amps = [max_current(c["plug"], config) for c in specs]
    pilots = [None] * n
    for i, c in enumerate(specs):
        p = c["plug"]
        if p.get("pwm_pin") is not None:
            from evse.hal.pilot import PilotRelay
            pwm = machine.PWM(Pin(p["pwm_pin"], Pin.OUT, value=1), freq=1000, duty_u16=65535)
            relays[i] = pilots[i] = PilotRelay(relays[i], pwm, amps[i])
    outlets = []
    for i, c in enumerate(specs):
        m = meter(c["meter"], i, bus)
        # the phases it supplies: config.json's, else what the meter measures (SDM630: 3)
        ph = config.get("phases") or getattr(m, "phases", 1)
        outlets.append(Outlet(relays[i], m, plug(c["plug"]), None, amps[i], ph, pilots[i]))
    m = board.get("maintenance")
    maint = maintenance_mode(_input(m) if m else None)
    wd = board.get("watchdog") or {}
    timeout = wd.get("timeout_ms", 30000)
    if maint:
        log("watchdog", "maintenance", 1)
        watchdog = Watchdog()
    else:
        watchdog = Watchdog(lambda ms: machine.WDT(timeout=ms), timeout)
    return Board(outlets, display(board), watchdog)
