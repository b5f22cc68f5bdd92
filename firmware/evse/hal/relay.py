# Connector relay (contactor driver) with optional auxiliary-contact feedback.
import time

_RELEASE_MS = const(200)  # contacts take a few tens of ms to drop out; do not call that welding


class Relay:
    """`pin` drives the coil; `feedback` (optional) reads the auxiliary contact.

    The relay is opened at construction so a reboot never leaves a connector live."""

    def __init__(self, pin, active_high=True, feedback=None, feedback_active_high=True,
                 release_ms=_RELEASE_MS, ticks_ms=time.ticks_ms):
        self._pin = pin
        self._on = 1 if active_high else 0
        self._fb = feedback
        self._fb_on = 1 if feedback_active_high else 0
        self._release_ms = release_ms
        self._ticks = ticks_ms
        self._opened_at = 0
        self.is_closed = False
        self.open()

    def close(self):
        self._pin.value(self._on)
        self.is_closed = True

    def open(self):
        self._pin.value(1 - self._on)
        if self.is_closed or not self._opened_at:
            self._opened_at = self._ticks()
        self.is_closed = False

    def contact_closed(self):
        """What the feedback contact says (None without feedback)."""
        if self._fb is None:
            return None
        return self._fb.value() == self._fb_on

    def welded(self):
        """Feedback says closed although the coil has been off longer than the release time."""
        if self._fb is None or self.is_closed:
            return False
        if time.ticks_diff(self._ticks(), self._opened_at) < self._release_ms:
            return False
        return self._fb.value() == self._fb_on
