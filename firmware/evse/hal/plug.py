# Plug sense by a digital input: a switch in the socket or an opto on the EV side. The control
# pilot through the ADC is in pilot.py, loaded only by boards that use it.


class PlugInput:
    def __init__(self, pin, active_low=False):
        self._pin = pin
        self._on = 0 if active_low else 1

    def plugged(self):
        return self._pin.value() == self._on
