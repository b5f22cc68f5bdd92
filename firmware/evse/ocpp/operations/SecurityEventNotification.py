# SecurityEventNotification, sent by the charge point (security whitepaper ed. 2): the sender's
# turn while evse.ocpp.state says there is something (ChargePoint._send_one). The log and the
# queues on flash are security_events.py's (the files and their format: its docstring); here,
# per use:
#   - what the clock and the RPC noted: a clock step over _STEP_S (SettingSystemTime, with the
#     old and the new time), MemoryErrors answered InternalError (MemoryExhaustion), invalid
#     CALLs (InvalidMessages: one line per _INVALID_S at most, with the count and the last
#     error code: a hostile central system neither wears nor fills the flash with them), each
#     written by security_events.event(), loaded only then;
#   - the oldest queued notification, the critical queue's before the other's, removed once
#     answered. A CALLERROR answers it too: the central system will not take that one, and it
#     must not block the queue. No answer raises on (the link is taken for dead, it stays).
# Nothing of this module is held during the CALL (pending(), the CALL, sent(): loaded twice a
# notification): a turn after the boot comes when the heap is at its fullest.
import json
import os
import time

from evse import ocpp
from evse.files import replace
from evse.log import log

_STEP_S = const(60)  # a clock moved by more than this is SettingSystemTime
_INVALID_S = const(60)  # at most one InvalidMessages line per this many seconds
_QUEUES = const(("data/secq.jsonl", "data/secq2.jsonl"))  # critical, other: security_events.py


def _noted(n):
    from evse.ocpp.security_events import event
    step = n[2]
    n[2] = 0
    if not -_STEP_S <= step <= _STEP_S:
        t = ocpp.now()
        event(None, "SettingSystemTime", "from %s to %s" % (ocpp.iso(t - step), ocpp.iso(t)))
    if n[3]:
        event(None, "MemoryExhaustion", "%d CALL(s) answered InternalError: no heap" % n[3])
        n[3] = 0
    if n[4] and time.ticks_diff(time.ticks_ms(), n[6]) >= 0:
        event(None, "InvalidMessages", "%d invalid CALL(s), the last answered %s" % (n[4], n[5]))
        n[4] = 0
        n[6] = time.ticks_add(time.ticks_ms(), _INVALID_S * 1000)


def first(path):
    """(offset, record) of the oldest whole record in queue `path`, None when there is none. A
    torn or unreadable line is passed over (and dropped by the next rewrite)."""
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
            if type(rec) is list and len(rec) == 3 and type(rec[0]) is str:
                return at, rec
    return None


def remove(path, at):
    """Queue `path` without its line at offset `at` (nor torn lines), through a .tmp and a
    rename; the file goes when nothing is left. -> lines left."""
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


def pending():
    """The sender's turn: (queue, offset, payload) of the notification to send, None when
    there is none. The CALL itself is the sender's (ChargePoint._send_one), with this module
    freed meanwhile: a boot's StartupOfTheDevice is in flight when the central system's first
    CALLs come, and their code and schemas need the ~1.3 KB this module held (an UpdateFirmware
    then broke the 80k unix32 session)."""
    n = ocpp.state
    if n[2] or n[3] or n[4] and time.ticks_diff(time.ticks_ms(), n[6]) >= 0:
        _noted(n)
    for path in _QUEUES:
        found = first(path) if n[1] else None
        if found is not None:
            break
    else:
        n[1] = 0
        return None
    at, rec = found
    payload = {"type": rec[0], "timestamp": rec[1] or ocpp.iso(ocpp.now())}
    if rec[2] is not None:
        payload["techInfo"] = rec[2]
    return path, at, payload


def sent(item, error):
    """After the CALL of pending()'s `item`: answered, or refused with CALLERROR `error` (the
    central system will not take that one; it must not block the queue): removed."""
    if error:
        log("security event refused", "type", item[2]["type"], "error", error)
    remove(item[0], item[1])  # n[1] stays: the next turn looks again, and clears it if nothing is left
