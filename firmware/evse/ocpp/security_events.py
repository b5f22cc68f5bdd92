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
True or False overrides it. operations/SecurityEventNotification.py sends the queue (critical
ones first) and raises what start-up, the clock and the RPC noted (StartupOfTheDevice,
ResetOrReboot, SettingSystemTime, MemoryExhaustion, InvalidMessages).

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
  data/secq.jsonl        the notifications not yet answered, oldest first, one a line:
                         ["type", "timestamp" or null, "techInfo" or null]. Bounded at
                         _QUEUE_BYTES: an event that finds it full is logged, not queued.
                         Survives reboots.

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
CRITICAL = (" FirmwareUpdated SettingSystemTime StartupOfTheDevice ResetOrReboot"
            " SecurityLogWasCleared MemoryExhaustion TamperDetectionActivated ")
_SENT = const(" InvalidChargePointCertificate InvalidCentralSystemCertificate"
              " InvalidFirmwareSignature InvalidFirmwareSigningCertificate ")
LOG = "data/security.jsonl"
QUEUE = "data/secq.jsonl"


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


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
        with open(LOG, "a") as f:
            f.write(json.dumps(rec))
            f.write("\n")
        log("security event", "type", kind)
        k = " " + kind + " "
        if (k in CRITICAL or k in _SENT) if send is None else send:
            if size(QUEUE) >= _QUEUE_BYTES:
                log("security queue full", "type", kind)
                return
            with open(QUEUE, "a") as f:
                f.write(json.dumps([kind, rec["timestamp"] if ocpp.clock_set else None, tech_info]))
                f.write("\n")
            if not ocpp.state[1]:
                ocpp.state[1] = 1
            if cp is not None:
                cp.wake.set()
    except Exception as e:  # noqa: BLE001 - flash full or no heap: the event is lost, said once
        try:
            log("security event lost", "type", kind, "error", repr(e)[:40])
        except Exception:  # noqa: BLE001 - not even a console line: nothing else to do
            pass
