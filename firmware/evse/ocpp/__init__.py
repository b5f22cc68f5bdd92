# OCPP 1.6J: the charge point (chargepoint.py) and its features, the operations (operations/),
# the WebSocket client (ws), the RPC (rpc) and the transaction journal (journal).
#
# Here, in the package every part of it imports anyway: the clock. OCPP times are unix seconds
# on the central system's clock, set from its currentTime (BootNotification, Heartbeat) as an
# offset to the board's own.
import time

from evse import drop

# Unix port counts from 1970, the ESP32 from 2000: all OCPP times are unix seconds.
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
# The central system's time minus ours, seconds: one clock per board, so module state.
_offset = [0]


def iso(t):
    y, mo, d, h, mi, s = time.gmtime(int(t) - _EPOCH)[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)


def parse_iso(s):
    """'2026-11-26T00:33:07.123Z' (or +hh:mm) -> unix seconds, None when unreadable. Read when
    a currentTime or an expiry comes (boot, heartbeat, rare CALLs): the reading is in
    rfc3339.py, loaded for it and dropped after, like the schema's date-time check."""
    from evse.ocpp import rfc3339
    drop("evse.ocpp.rfc3339")
    return rfc3339.seconds(s)


def now():
    return int(time.time()) + _EPOCH + _offset[0]


def set_time(text):
    # An unreadable currentTime leaves the clock as it was; so does one that finds no heap to
    # load its reading (the next Heartbeat's sets it).
    try:
        t = parse_iso(text) if type(text) is str else None
    except MemoryError:
        t = None
    if t is not None:
        _offset[0] = t - int(time.time()) - _EPOCH
