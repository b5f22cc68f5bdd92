"""Security events (OCPP 1.6 security whitepaper ed. 2, SecurityEventNotification): the
security log on flash and the queue of the notifications still owed to the central system.

Per use: nothing of it is resident. Each public function drops this module as it starts (the
caller's reference keeps it until the call returns), so a feature calls it where it sees an
event and the heap has it back after:

    from evse.ocpp.security_events import event
    event(cp, "InvalidFirmwareSignature", "RSA-PSS check failed")

event(cp, kind, tech_info=None, send=None) never raises: an event that cannot be written (flash
full, no heap) is lost with a console line, and whatever called it goes on. `cp` may be None
(before the charge point exists): ChargePoint() finds the queue on flash. `send` None means the
whitepaper's rule: the critical kinds (_CRITICAL) and the ones a flow sends (_SENT: TC_077,
TC_078, TC_081) are queued for SecurityEventNotification, every other kind is logged only;
True or False overrides it.

Files (helper code and GetLog read them as written here):
  data/security.jsonl    the security log, oldest line first, one event a line, each line the
                         SecurityEventNotification payload as JSON:
                             {"timestamp": "2026-12-05T01:31:22Z", "type": "...",
                              "techInfo": "..."}
                         (techInfo only when given). A line written before the clock was set
                         (see below) has the board's own time and "clockUnset": true. At
                         _ROTATE bytes the log moves to data/security.1.jsonl (the older half,
                         replaced each time) and a new one starts: at most 2 x _ROTATE bytes
                         of flash. GetLog SecurityLog uploads data/security.1.jsonl then
                         data/security.jsonl. A torn last line (power cut) is skipped by
                         readers: every whole line ends in "}\\n".
  data/secq.jsonl        the notifications not yet answered, oldest first, one a line:
                             [seq, type, timestamp or null, techInfo or null]
                         at most _QUEUE_MAX; when full, the oldest non-critical one is dropped,
                         else the oldest critical one. A delivered one is removed (the file
                         rewritten through a .tmp and a rename: a few hundred bytes, on events
                         only). Survives reboots; ChargePoint() sets cp.secq when it exists.

Time before the clock is set (the ESP32 after a power cut, until BootNotification's
currentTime): the log line has the board's time and "clockUnset": true; the queued
notification has none and is stamped when it is sent (after Accepted, so on the central
system's clock): the notification is late by the time to register, never dated 2000.

Noticed where no event can be written (evse.ocpp.noted, filled by the clock and the RPC):
a clock step over _STEP_S (SettingSystemTime), MemoryErrors answered InternalError
(MemoryExhaustion), invalid CALLs (InvalidMessages: at most one log line per _INVALID_S,
counting the ones in between, so a hostile central system cannot wear or fill the flash). The
sender (ChargePoint._send_one) hands them to flush() below, which also sends the oldest queued
notification, the critical ones first.
"""
import json
import os
import time

from evse import drop, ocpp
from evse.log import log

_NAME = const("evse.ocpp.security_events")
_LOG = const("data/security.jsonl")
_LOG_OLD = const("data/security.1.jsonl")
_QUEUE = const("data/secq.jsonl")
_ROTATE = const(8192)  # bytes of one log file
_QUEUE_MAX = const(32)
_STEP_S = const(60)  # a clock moved by more than this is SettingSystemTime
_INVALID_S = const(60)  # at most one InvalidMessages line per this many seconds
_CRITICAL = const(
    " FirmwareUpdated SettingSystemTime StartupOfTheDevice ResetOrReboot SecurityLogWasCleared"
    " MemoryExhaustion TamperDetectionActivated ")
_SENT = const(
    " InvalidChargePointCertificate InvalidCentralSystemCertificate InvalidFirmwareSignature"
    " InvalidFirmwareSigningCertificate ")


def critical(kind):
    return (" " + kind + " ") in _CRITICAL


def _mkdir():
    try:
        os.mkdir("data")
    except OSError:
        pass  # there already


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def event(cp, kind, tech_info=None, send=None):
    """Log a security event; queue its notification when critical or sent by a flow (module
    docstring). Never raises."""
    drop(_NAME)
    try:
        _event(cp, kind, tech_info, send)
    except Exception as e:  # noqa: BLE001 - flash full or no heap: the event is lost, said once
        try:
            log("security event lost", "type", kind, "error", repr(e)[:40])
        except Exception:  # noqa: BLE001 - not even a console line: nothing else to do
            pass


def _event(cp, kind, tech_info, send):
    kind = str(kind)[:50]
    if tech_info is not None:
        tech_info = str(tech_info)[:255]
    stamp = ocpp.iso(ocpp.now())
    rec = {"timestamp": stamp, "type": kind}
    if tech_info is not None:
        rec["techInfo"] = tech_info
    if not ocpp.clock_set:
        rec["clockUnset"] = True
    _mkdir()
    if _size(_LOG) >= _ROTATE:
        try:
            os.remove(_LOG_OLD)
        except OSError:
            pass
        os.rename(_LOG, _LOG_OLD)
    with open(_LOG, "a") as f:
        f.write(json.dumps(rec))
        f.write("\n")
    log("security event", "type", kind)
    if send is None:
        send = critical(kind) or (" " + kind + " ") in _SENT
    if send:
        _enqueue(kind, stamp if ocpp.clock_set else None, tech_info)
        if cp is not None:
            cp.secq = 1
            cp.wake.set()


# -- the queue ------------------------------------------------------------------------------


def _records():
    """Each whole queued record, oldest first (a torn or corrupt line is skipped)."""
    try:
        f = open(_QUEUE)
    except OSError:
        return
    with f:
        for line in f:
            if not line.endswith("]\n"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if type(rec) is list and len(rec) == 4 and type(rec[0]) is int:
                yield rec


def _rewrite(skip, extra=None):
    """The queue without the record numbered `skip` (and with `extra` appended), through a .tmp
    and a rename; no file when nothing is left."""
    tmp = _QUEUE + ".tmp"
    n = 0
    with open(tmp, "w") as out:
        for rec in _records():
            if rec[0] != skip:
                out.write(json.dumps(rec))
                out.write("\n")
                n += 1
        if extra is not None:
            out.write(json.dumps(extra))
            out.write("\n")
            n += 1
    if n:
        from evse.files import replace
        replace(tmp, _QUEUE)
    else:
        os.remove(tmp)
        try:
            os.remove(_QUEUE)
        except OSError:
            pass
    return n


def _enqueue(kind, stamp, tech_info):
    count = 0
    last = 0
    victim = None  # the oldest non-critical record, else the oldest critical one
    first_critical = None
    for rec in _records():
        count += 1
        last = max(last, rec[0])
        if critical(rec[1]):
            if first_critical is None:
                first_critical = rec[0]
        elif victim is None:
            victim = rec[0]
    rec = [last + 1, kind, stamp, tech_info]
    if count >= _QUEUE_MAX:
        _rewrite(victim if victim is not None else first_critical, rec)
        return
    with open(_QUEUE, "a") as f:
        f.write(json.dumps(rec))
        f.write("\n")


def queued():
    """The queued notifications as (type, timestamp or None, techInfo or None), in the order
    they will be sent: critical first, then the others, each oldest first."""
    drop(_NAME)
    recs = list(_records())
    return [tuple(r[1:]) for r in recs if critical(r[1])] + \
        [tuple(r[1:]) for r in recs if not critical(r[1])]


def _next():
    first = None
    for rec in _records():
        if critical(rec[1]):
            return rec
        if first is None:
            first = rec
    return first


# -- what the sender hands over -------------------------------------------------------------


def _noted(cp):
    """Turn what the clock and the RPC noted (evse.ocpp.noted) into events."""
    n = ocpp.noted
    step = n[0]
    if step:
        n[0] = 0
        if not -_STEP_S <= step <= _STEP_S:
            t = ocpp.now()
            event(cp, "SettingSystemTime", "from %s to %s" % (ocpp.iso(t - step), ocpp.iso(t)))
    if n[1]:
        count = n[1]
        n[1] = 0
        event(cp, "MemoryExhaustion", "%d CALL(s) answered InternalError for want of heap" % count)
    if n[2] and (n[4] is None or time.ticks_diff(time.ticks_ms(), n[4]) >= 0):
        count = n[2]
        n[2] = 0
        n[4] = time.ticks_add(time.ticks_ms(), _INVALID_S * 1000)
        event(cp, "InvalidMessages", "%d invalid CALL(s), the last answered %s" % (count, n[3]))


async def flush(cp, rpc):
    """The sender's turn (ChargePoint._send_one): what was noted becomes events, then the next
    queued notification is sent, critical first, and removed once answered. True when one was
    sent. A CALLERROR answers it too (the central system will not take it: it is dropped, so
    one refused event never blocks the queue); no answer raises on (the connection is taken for
    dead, the notification stays queued)."""
    drop(_NAME)
    _noted(cp)
    rec = _next()
    if rec is None:
        cp.secq = 0
        return False
    payload = {"type": rec[1], "timestamp": rec[2] or ocpp.iso(ocpp.now())}
    if rec[3] is not None:
        payload["techInfo"] = rec[3]
    from evse.ocpp.rpc import CallError
    try:
        await cp.call(rpc, "SecurityEventNotification", payload)
    except CallError as e:
        log("security event refused", "type", rec[1], "error", e.code)
    cp.secq = 1 if _rewrite(rec[0]) else 0
    return True


def booted(cp):
    """The first BootNotification Accepted of a power-up: StartupOfTheDevice, unless the last
    event logged is the ResetOrReboot of the Reset this boot comes from (Reset.py logs it
    before the reboot). A power cut between that reboot and its Accepted costs the next
    power-up's StartupOfTheDevice: the log then still ends in the ResetOrReboot."""
    drop(_NAME)
    last = None
    try:
        with open(_LOG, "rb") as f:
            f.seek(max(0, _size(_LOG) - 400))  # the last line: the longest is ~380 bytes
            for line in f:
                if line.endswith(b"}\n"):
                    last = line
        last = json.loads(last.decode())["type"] if last else None
    except (OSError, ValueError, TypeError, KeyError, UnicodeError):
        pass  # no log yet, or one unreadable: a startup
    if last == "ResetOrReboot":
        return
    event(cp, "StartupOfTheDevice", "booted")
