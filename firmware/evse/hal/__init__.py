# Hardware abstraction: relays, meters, plug sense, display, watchdog. Each driver takes its
# pin, UART or I2C as an argument; only board.py (and the ESP32 factories it imports lazily)
# build `machine` objects. Nothing else is imported here so `import evse.hal` stays cheap.


class MeterError(Exception):
    """The meter did not answer (timeout, bad CRC, Modbus exception, simulated loss).

    Callers must treat this as "no reading" (PowerMeterFailure), never as zero energy."""


def reset():
    """Hard reset of the board (ESP32); main.py's crash guard calls it after opening relays."""
    import machine

    machine.reset()
