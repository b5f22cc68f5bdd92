# Hardware abstraction: relays, meters, plug sense, display, watchdog. Each driver takes its
# pin, UART or I2C as an argument; only board.py (and the ESP32 factories it imports lazily)
# build `machine` objects. Nothing is imported here so `import evse.hal` stays cheap; the parts
# every board is built from are here, so board.py, sim.py and esp32.py share them without an
# import circle.


class MeterError(Exception):
    """The meter did not answer (timeout, bad CRC, Modbus exception, simulated loss).

    Callers must treat this as "no reading" (PowerMeterFailure), never as zero energy."""


def reset():
    """Hard reset of the board (ESP32); main.py's crash guard calls it after opening relays."""
    import machine

    machine.reset()


class Outlet:
    __slots__ = ("relay", "meter", "plug", "reader", "max_a", "phases", "pilot")

    def __init__(self, relay, meter, plug, reader=None, max_a=16, phases=1, pilot=None):
        self.relay = relay
        self.meter = meter
        self.plug = plug
        self.reader = reader  # optional idTag (card) reader: .read() -> str or None
        self.max_a = max_a  # A per phase the hardware may offer (board file, config.json)
        self.phases = phases  # phases it supplies: Power.Offered = A x 230 V x phases
        self.pilot = pilot  # tells the EV the current offered (.offer(amps)); None: nothing can


class NoDisplay:
    """For boards without a screen."""

    def prime(self, url):
        pass

    def show(self, public_code, url, states, banner=None):
        return False


class Board:
    def __init__(self, outlets, display, watchdog, tasks=()):
        self.outlets = outlets
        self.display = display
        self.watchdog = watchdog
        self._tasks = tasks

    def tasks(self):
        """Coroutines the app must run for the board (e.g. the sim control server)."""
        return [t() for t in self._tasks]

    def open_all(self):
        # Called from main.py's crash guard: must never raise.
        for o in self.outlets:
            try:
                o.relay.open()
            except Exception:  # noqa: B902 - keep opening the others whatever one relay does
                pass


def connector_count(board, config):
    n = len(board["connectors"])
    return min(n, config.get("connectors", n) or n)
