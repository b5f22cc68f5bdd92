"""Security events (OCPP 1.6 security whitepaper ed. 2): the security log on flash and the
queue of the SecurityEventNotifications still owed to the central system.

Per use, nothing of it resident: event() drops this module as it starts (the caller's reference
keeps it until the call returns). A feature calls it where it sees an event:

    from evse.ocpp.security_events import event
    event(cp, "InvalidFirmwareSignature", "RSA-PSS check failed")

event(cp, kind, tech_info=None, send=None) never raises: an event that cannot be written (flash
full, no heap) is lost with a console line, and the caller goes on. `cp` may be None (before
the charge point exists: the sender finds the queue on flash at the first connection). `send`
None is the whitepaper's rule: the critical kinds (_CRITICAL) and the ones a flow sends (_SENT:
TC_077, TC_078, TC_081) are queued for SecurityEventNotification, any other is logged only;
True or False overrides it. booted() raises the start-up's event (boot.py, before the first
connection). operations/SecurityEventNotification.py sends the queues, critical first, and
raises what the clock and the RPC noted (SettingSystemTime, MemoryExhaustion,
InvalidMessages): per use too, and without this module unless something was noted, so a
sender's turn holds one module at a time.

Files (GetLog SecurityLog uploads the log as written here):
  data/security.jsonl    the security log, oldest line first, one event a line: the
                         SecurityEventNotification payload as a JSON object (keys in no set
                         order), {"timestamp": "2026-12-05T01:31:22Z", "type": "...",
                         "techInfo": "..."}, techInfo only when given; a line written before the
                         clock was set (below) has the board's own time and "clockUnset": true.
                         Past _ROTATE bytes the log becomes data/security.1.jsonl (replacing the
                         previous one) and a new one starts: at most ~2 x _ROTATE bytes of
                         flash. Upload data/security.1.jsonl, then data/security.jsonl. A line
                         torn by a power cut is the last and lacks its closing "}\\n": skip it.
  data/secq.jsonl        the critical notifications not yet answered, oldest first, one a
                         line: ["type", "timestamp" or null, "techInfo" or null];
  data/secq2.jsonl       the others a flow sends, the same way; sent when the first is empty.
                         Each bounded at _QUEUE_BYTES: an event that finds its queue full is
                         logged, not queued. Both survive reboots.

Time before the clock is set (the ESP32 after a power cut, until BootNotification's
currentTime): the log line has the board's time and "clockUnset": true; the queued notification
has no time and is stamped when it is sent (after Accepted, so on the central system's clock):
late by the time it took to register, never dated 2000.
"""
import json
import os

from evse import drop, ocpp
from evse.files import replace
from evse.log import log

_ROTATE = const(8192)  # bytes of one log file
_QUEUE_BYTES = const(4096)  # ~40 events
_CRITICAL = const(" FirmwareUpdated SettingSystemTime StartupOfTheDevice ResetOrReboot"
            " SecurityLogWasCleared MemoryExhaustion TamperDetectionActivated ")
_SENT = const(" InvalidChargePointCertificate InvalidCentralSystemCertificate"
              " InvalidFirmwareSignature InvalidFirmwareSigningCertificate ")
LOG = "data/security.jsonl"
_QUEUES = const(("data/secq.jsonl", "data/secq2.jsonl"))  # critical, other: as the sender's


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def _append(path, line):
    """Append one line; a last line torn by a power cut is ended first, so it stays one bad
    line instead of swallowing this one."""
    n = size(path)
    end = b"\n"
    if n > 0:
        with open(path, "rb") as f:
            f.seek(n - 1)
            end = f.read(1)
    with open(path, "a") as f:
        if end != b"\n":
            f.write("\n")
        f.write(line)
        f.write("\n")


def event(cp, kind, tech_info=None, send=None):
    """Log a security event; queue its notification when critical or sent by a flow (module
    docstring). Never raises."""
    drop("evse.ocpp.security_events")
    try:
        kind = str(kind)[:50]
        rec = {"timestamp": ocpp.iso(ocpp.now()), "type": kind}
        if tech_info is not None:
            tech_info = rec["techInfo"] = str(tech_info)[:255]
        if not ocpp.clock_set:
            rec["clockUnset"] = True
        try:
            os.mkdir("data")
        except OSError:
            pass  # there already
        if size(LOG) >= _ROTATE:
            replace(LOG, "data/security.1.jsonl")  # over the older half
        _append(LOG, json.dumps(rec))
        log("security event", "type", kind)
        k = " " + kind + " "
        if (k in _CRITICAL or k in _SENT) if send is None else send:
            queue = _QUEUES[0 if k in _CRITICAL else 1]
            if size(queue) >= _QUEUE_BYTES:
                log("security queue full", "type", kind)
                return
            _append(queue, json.dumps([kind, rec["timestamp"] if ocpp.clock_set else None,
                                       tech_info]))
            ocpp.state[1] = 1
            if cp is not None:
                cp.wake.set()
    except Exception as e:  # noqa: BLE001 - flash full or no heap: the event is lost, said once
        try:
            log("security event lost", "type", kind, "error", repr(e)[:40])
        except Exception:  # noqa: BLE001 - not even a console line: nothing else to do
            pass


def booted():
    """Start-up (boot.py): StartupOfTheDevice. When the last event logged is the ResetOrReboot
    that Reset.py queued before this boot's reboot, that one is this start's notification:
    StartupOfTheDevice is logged only (and the next power-up, finding it last, sends its
    own). Then the sender is told of whatever a previous boot left queued."""
    drop("evse.ocpp.security_events")
    last = None
    try:
        with open(LOG, "rb") as f:
            f.seek(max(0, size(LOG) - 400))  # the longest line is ~380 bytes
            for line in f:
                if line.endswith(b"}\n"):
                    last = line
        last = json.loads(last.decode())["type"] if last else None
    except (OSError, ValueError, TypeError, KeyError, UnicodeError):
        last = None  # no log yet, or one unreadable: a start-up
    reset = last == "ResetOrReboot"
    event(None, "StartupOfTheDevice", "after a reset" if reset else "power-up", not reset)
    for q in _QUEUES:
        if size(q) > 0:
            ocpp.state[1] = 1
