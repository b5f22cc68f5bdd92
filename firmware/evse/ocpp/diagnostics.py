# The file a diagnostics upload sends (evse/ocpp/upload.py loads this for writing it, then drops
# it): copied to flash a line at a time, never whole in RAM, because the logs go on growing and
# rotating while the upload and its retries run, and an HTTP PUT needs the length first.
#   diagnostics  a summary (firmware, uptime, heap, journal depth, connectors, the configuration
#                WITHOUT secrets: no AuthorizationKey, no authorization_key, no Wi-Fi password,
#                no certificate or key, only whether they are set), then the lines of the log on
#                flash (evse/log.py: data/log.1, data/log.txt) within the window
#   security     the lines of the security log (evse/ocpp/security_events.py:
#                data/security.1.jsonl, data/security.jsonl) within the window, as written
# The window (lo..hi, ISO times as the lines write them, each None when open): a line carries
# its OCPP time; a line written while the clock was not set (an ESP32 after a power cut, before
# its first currentTime) takes the time of the line before it, and one with none before it is
# kept unless the window has a start. A line a power cut tore (no line break) is left out.
import gc
import os
import time

from evse import ocpp
from evse.files import load_json

_DIAG_LOGS = const(("data/log.1", "data/log.txt"))
_SECURITY_LOGS = const(("data/security.1.jsonl", "data/security.jsonl"))
# config.json's keys shown as they are; any other is named only (a new secret never leaks)
_SHOWN = const(("charge_point_id", "public_code", "public_url", "connectors", "max_current_a",
                "phases", "sim"))


def write(cp, path, security, lo, hi):
    """`path` written: the summary (diagnostics) and the lines in lo..hi. -> its size."""
    with open(path, "w") as out:
        if not security:
            _summary(cp, out, lo, hi)
        last = None
        for name in _SECURITY_LOGS if security else _DIAG_LOGS:
            try:
                f = open(name)
            except OSError:  # none yet
                continue
            with f:
                for line in f:
                    if not line.endswith("\n"):
                        continue
                    t = _time(line, security) or last
                    last = t
                    if (t is None and lo is None) or (
                            t is not None and (lo is None or t >= lo) and (hi is None or t <= hi)):
                        out.write(line)
    return os.stat(path)[6]


def _time(line, security):
    # The OCPP time a line carries, as text; None if it has none.
    if security:
        i = line.find('"timestamp": "')
        if i < 0 or "clockUnset" in line:
            return None
        return line[i + 14:i + 34]
    return None if line[0] == "-" else line[:20]


def _w(out, *parts):
    out.write(" ".join(str(x) for x in parts))
    out.write("\n")


def _secret(name):
    # AuthorizationKey, and whatever key a later feature names like a secret
    return "Key" in name or "Password" in name or "Secret" in name or "Cert" in name


def _summary(cp, out, lo, hi):
    gc.collect()
    _w(out, "# diagnostics", ocpp.iso(ocpp.now()) if ocpp.clock_set else "clock-not-set")
    for k, v in sorted(cp.boot_fields.items()):  # firmwareVersion, model, vendor, serials
        _w(out, "boot", k, v)
    _w(out, "uptime_s", time.ticks_ms() // 1000, "(ticks: wraps after 12.4 days)")
    _w(out, "heap alloc", gc.mem_alloc(), "free", gc.mem_free())
    _w(out, "journal", len(cp.journal), "registration", cp.reg)
    for p in cp.ports:
        _w(out, "connector", p.id, "status", cp.availability.state(p.id), "error", p.machine.error,
           "transaction", int(bool(p.tx)))
    # The OCPP keys the central system changed (settings.py's data/ocpp.json); config.json's
    # "ocpp" ones below: the rest are at their defaults, as GetConfiguration lists them. Not the
    # table's every key: its lines split at once take ~3 KB of heap, and the settings object
    # keeps what it reads. AuthorizationKey, and any key named like a secret, left out.
    changed = load_json("data/ocpp.json", {})
    for k in sorted(changed):
        if not _secret(k):
            _w(out, "key", k, changed[k])
    del changed
    cfg = load_json("config.json", {})
    for k in sorted(cfg):
        x = cfg[k]
        if k in _SHOWN:
            _w(out, "config", k, x)
        elif k == "csms_url":  # without user info, were there any
            h = x.split("//", 1)
            _w(out, "config", k, h[0] + "//" + h[-1].split("@")[-1])
        elif k == "wifi" and type(x) is dict:
            _w(out, "config wifi ssid", x.get("ssid"), "password", "set" if x.get("password") else "unset")
        elif k == "ocpp" and type(x) is dict:
            for n in sorted(x):
                if not _secret(n):
                    _w(out, "config ocpp", n, x[n])
        else:  # secrets (authorization_key, certificates and keys) and keys added later
            _w(out, "config", k, "set" if x else "unset")
    del cfg
    _w(out, "# log", lo or "start", hi or "now")
