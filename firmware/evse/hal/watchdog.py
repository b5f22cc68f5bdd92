# Hardware watchdog fed by the main loop. machine.WDT cannot be stopped and survives a soft
# reset, so it starts on the first feed (late, after boot work) and never in maintenance mode:
# a deploy over USB must not be cut short by a reset.
import os

MAINTENANCE_FILE = "maintenance"


def maintenance_mode(pin=None):
    """True when the file `maintenance` exists in the flash root, or `pin` (e.g. BOOT, GPIO0,
    pulled up) reads 0 at boot, i.e. the button is held while the board starts."""
    try:
        os.stat(MAINTENANCE_FILE)
        return True
    except OSError:
        pass
    return pin is not None and pin.value() == 0


class Watchdog:
    """`factory(timeout_ms)` makes the hardware watchdog (machine.WDT); None means none."""

    def __init__(self, factory=None, timeout_ms=30000):
        self._factory = factory
        self._timeout = timeout_ms
        self._wdt = None

    @property
    def running(self):
        return self._wdt is not None

    def feed(self):
        if self._wdt is None:
            if self._factory is None:
                return
            self._wdt = self._factory(self._timeout)
            self._factory = None
        self._wdt.feed()
