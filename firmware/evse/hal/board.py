# Board assembly: board.json (pins, meter, display, connectors) + config.json -> a Board whose
# outlets the app drives. Only the parts a board names are imported: the unix-sim board pulls in
# hal.sim, an ESP32 board hal.esp32 and just the meter driver it uses.


class Outlet:
    __slots__ = ("relay", "meter", "plug", "reader")

    def __init__(self, relay, meter, plug, reader=None):
        self.relay = relay
        self.meter = meter
        self.plug = plug
        self.reader = reader  # optional idTag (card) reader: .read() -> str or None


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


def build(board, config):
    if board.get("platform") == "unix":
        from evse.hal import sim
        b = sim.build(board, config)
    else:
        from evse.hal import esp32
        b = esp32.build(board, config)
    if isinstance(config.get("public_code"), str):
        # The QR encoder needs ~14 KB for a moment: run it now, before the OCPP stack is loaded.
        from evse.hal.display import public_url
        b.display.prime(public_url(config))
        import gc
        gc.collect()
    return b
