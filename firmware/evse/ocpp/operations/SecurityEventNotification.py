# SecurityEventNotification, sent by the charge point (security whitepaper ed. 2): the sender's
# turn while evse.ocpp.state holds something (ChargePoint._send_one). The log
# and the queue on flash are security_events.py's; here, per use:
#   - the boot's event, at the first turn after BootNotification Accepted (evse.ocpp.state[1] 2, as
#     evse.ocpp at start-up): StartupOfTheDevice, or nothing when the last event logged is the
#     ResetOrReboot that Reset.py wrote before this boot (a power cut between that reboot and
#     its Accepted costs the next power-up's StartupOfTheDevice: the log still ends with it);
#   - what the clock and the RPC noted: a clock step over _STEP_S (SettingSystemTime, with the
#     old and the new time), MemoryErrors answered InternalError (MemoryExhaustion), invalid
#     CALLs (InvalidMessages: one line per _INVALID_S at most, with the count and the last
#     error code: a hostile central system neither wears nor fills the flash with them);
#   - the oldest queued notification, the critical ones before the others, removed once
#     answered. A CALLERROR answers it too: the central system will not take that one, and it
#     must not block the queue. No answer raises on (the link is taken for dead, it stays).
import json
import os
import time

from evse import ocpp
from evse.files import replace
from evse.log import log
from evse.ocpp.rpc import CallError

_STEP_S = const(60)  # a clock moved by more than this is SettingSystemTime
_INVALID_S = const(60)  # at most one InvalidMessages line per this many seconds


def _last_logged(log_path):
    """The type of the last whole line of the security log, None when there is none."""
    last = None
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.stat(log_path)[6] - 400))  # the longest line is ~380 bytes
            for line in f:
                if line.endswith(b"}\n"):
                    last = line
        return json.loads(last.decode())["type"] if last else None
    except (OSError, ValueError, TypeError, KeyError, UnicodeError):
        return None  # no log yet, or one unreadable: a start-up


def _noted(cp, event):
    n = ocpp.state
    step = n[2]
    n[2] = 0
    if not -_STEP_S <= step <= _STEP_S:
        t = ocpp.now()
        event(cp, "SettingSystemTime", "from %s to %s" % (ocpp.iso(t - step), ocpp.iso(t)))
    if n[3]:
        event(cp, "MemoryExhaustion", "%d CALL(s) answered InternalError: no heap" % n[3])
        n[3] = 0
    if n[4] and time.ticks_diff(time.ticks_ms(), n[6]) >= 0:
        event(cp, "InvalidMessages", "%d invalid CALL(s), the last answered %s" % (n[4], n[5]))
        n[4] = 0
        n[6] = time.ticks_add(time.ticks_ms(), _INVALID_S * 1000)


def _next(path, critical):
    """(offset, record) of the notification to send: the oldest critical one, else the oldest.
    A torn or unreadable line is passed over (and dropped by the next rewrite)."""
    first = None
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        off = 0
        for line in f:
            at = off
            off += len(line)
            if not line.endswith(b"]\n"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if type(rec) is not list or len(rec) != 3 or type(rec[0]) is not str:
                continue
            if " " + rec[0] + " " in critical:
                return at, rec
            if first is None:
                first = at, rec
    return first


def _remove(path, at):
    """The queue without its line at offset `at` (and torn lines), through a .tmp and a rename.
    -> lines left."""
    tmp = path + ".tmp"
    n = off = 0
    with open(path, "rb") as f, open(tmp, "wb") as out:
        for line in f:
            if off != at and line.endswith(b"]\n"):
                out.write(line)
                n += 1
            off += len(line)
    if n:
        replace(tmp, path)
    else:
        os.remove(tmp)
        os.remove(path)
    return n


async def send(cp, rpc):
    """The sender's turn: True when a notification was sent."""
    from evse.ocpp import security_events as s
    event = s.event  # event() drops the module: held here by this reference
    n = ocpp.state
    if n[1] == 2:
        n[1] = 1  # whatever a previous boot queued is looked at below
        if _last_logged(s.LOG) != "ResetOrReboot":
            event(cp, "StartupOfTheDevice", "power-up")
    _noted(cp, event)
    found = _next(s.QUEUE, s.CRITICAL) if n[1] else None
    if found is None:
        n[1] = 0
        return False
    at, rec = found
    payload = {"type": rec[0], "timestamp": rec[1] or ocpp.iso(ocpp.now())}
    if rec[2] is not None:
        payload["techInfo"] = rec[2]
    try:
        await cp.call(rpc, "SecurityEventNotification", payload)
    except CallError as e:
        log("security event refused", "type", rec[0], "error", e.code)
    n[1] = 1 if _remove(s.QUEUE, at) else 0
    return True
