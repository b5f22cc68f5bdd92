# OCPP 1.6J: the charge point (chargepoint.py) and its features, the operations (operations/),
# the WebSocket client (ws), the RPC (rpc) and the transaction journal (journal).
#
# Here, in the package every part of it imports anyway: the clock. OCPP times are unix seconds
# on the central system's clock, set from its currentTime (BootNotification, Heartbeat) as an
# offset to the board's own.
import time

# Unix port counts from 1970, the ESP32 from 2000: all OCPP times are unix seconds.
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
# Whether that clock can be trusted this boot. The ESP32's restarts at 2000-01-01 after a power
# cut and the offset lives in RAM: until a currentTime (set_time) no OCPP time is known, and what
# depends on one fails safe (the charging limits' most restrictive period, GetCompositeSchedule
# apply; an idTag with an expiryDate taken for Expired, localauth). The unix port (the virtual
# board) runs on the host's clock, which is.
clock_set = _EPOCH == 0
# The module's state, one list (each object costs heap on a board): [0] the central system's time
# minus ours, seconds (one clock per board); then the security events noticed where none can be
# written (here, rpc.py), which the sender raises (operations/SecurityEventNotification.py):
# [1] 1 while notifications may be queued on flash (security_events.py), else 0; [2] the clock's step, seconds (SettingSystemTime); [3]
# MemoryErrors answered InternalError; [4] invalid CALLs since the last InvalidMessages event,
# [5] the last one's error code, [6] the ticks_ms before which no InvalidMessages is written.
state = [0, 0, 0, 0, 0, "", time.ticks_ms()]


def iso(t):
    y, mo, d, h, mi, s = time.gmtime(int(t) - _EPOCH)[:6]
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)


def parse_iso(s):
    """'2026-11-26T00:33:07.123Z' (or +hh:mm) -> unix seconds, None when unreadable."""
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        h, mi, sec = int(s[11:13]), int(s[14:16]), int(s[17:19])
    except (ValueError, TypeError, IndexError):
        return None
    tz = 0
    i = max(s.rfind("+"), s.rfind("-"))
    if i > 18:
        try:
            tz = (int(s[i + 1:i + 3]) * 60 + int(s[i + 4:i + 6])) * 60
        except ValueError:
            return None
        if s[i] == "+":
            tz = -tz
    y -= mo <= 2  # days from civil (Howard Hinnant), proleptic Gregorian
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + h * 3600 + mi * 60 + sec + tz


def now():
    return int(time.time()) + _EPOCH + state[0]


def set_time(text):
    # An unreadable currentTime leaves the clock as it was.
    global clock_set
    t = parse_iso(text) if type(text) is str else None
    if t is not None:
        off = t - int(time.time()) - _EPOCH
        if clock_set:  # a correction (SettingSystemTime); the first setting after a power cut
            state[2] += off - state[0]  # belongs to the start-up, reported as that
        state[0] = off
        clock_set = True
