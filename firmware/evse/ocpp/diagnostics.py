# The diagnostics upload (GetDiagnostics, GetLog): one job at a time, an asyncio task that holds
# this module's code, evse.http's and a 1 KiB block only while it runs; nothing of it is
# resident. start() drops the module as it starts the task, whose functions keep it until the
# task ends.
#
# What is uploaded, in one HTTP PUT to location + "/" + fileName (OCPP gives a directory as the
# location and leaves the transfer to the charge point; a PUT of the named file into that
# directory is what an HTTP file server, a WebDAV share or a presigned bucket URL takes):
#   diagnostics  a summary (firmware, uptime, heap, journal depth, connectors, the configuration
#                WITHOUT secrets: no AuthorizationKey, no authorization_key, no Wi-Fi password,
#                no certificate or key, only whether they are set), then the lines of the log on
#                flash (evse/log.py: data/log.1, data/log.txt) within startTime..stopTime
#   security     the lines of the security log (evse/ocpp/security_events.py:
#                data/security.1.jsonl, data/security.jsonl) within the window, as written
# The window: a line carries its OCPP time; a line written while the clock was not set (an
# ESP32 after a power cut, before its first currentTime) takes the time of the line before it,
# and one with none before it is kept unless the window has a start. The text is first copied
# to data/upload.txt, a line at a time (never whole in RAM): the logs go on growing and rotating
# while the upload runs and its retries wait, and an HTTP PUT needs the length first. The copy
# is removed when the job ends (a power cut leaves it until the next upload replaces it).
#
# Status notifications through cp.notify, in order: Uploading, then Uploaded or the failure
# (DiagnosticsStatusNotification: UploadFailed; LogStatusNotification: UploadFailure, with the
# requestId). A new request cancels the job under way (GetLog answers AcceptedCanceled): the
# cancelled one sends nothing more. A reboot ends a job; nothing resumes it (status Idle).
import asyncio
import gc
import os
import time

from evse import drop, ocpp
from evse.files import load_json, remove
from evse.log import log

_NAME = const("evse.ocpp.diagnostics")
_COPY = const("data/upload.txt")
_RETRIES = const(2)  # when the central system leaves them to us: 3 tries in all
_INTERVAL_S = const(30)  # s between tries when not given
# At most: 10 retries a day apart keep a job within days, and the ticks arithmetic of a sleep
# within its 2**29 ms
_MAX_RETRIES = const(10)
_MAX_INTERVAL_S = const(86400)
_FIRST = const(946684800)  # 2000-01-01: a window's bounds are held within 2000..2038, where
_LAST = const(2147483647)  # the 32-bit ports' gmtime works and every line of ours is
_DIAG_LOGS = ("data/log.1", "data/log.txt")
_SECURITY_LOGS = ("data/security.1.jsonl", "data/security.jsonl")
# config.json's keys shown as they are; any other is named only (a new secret never leaks)
_SHOWN = ("charge_point_id", "public_code", "public_url", "connectors", "max_current_a", "phases",
          "sim")


def file_name(cp_id, kind):
    # "CP-1-diag-20261205T013121Z.txt": the id, the kind and the time, nothing to escape in a URL
    t = ocpp.iso(ocpp.now()).replace("-", "").replace(":", "")
    safe = "".join(c if c.isalpha() or c.isdigit() or c in "-_." else "_" for c in cp_id)
    return "%s-%s-%s.%s" % (safe, kind, t, "jsonl" if kind == "security" else "txt")


def start(cp, action, url, cadata, p, window, security=False, request_id=None):
    """Start the upload of one file to `url` (http:// or https://, checked by the caller), the
    previous job cancelled. `p`: the CALL's retries and retryInterval; `window`: its (start,
    stop) times or None. -> True when a job under way was cancelled."""
    drop(_NAME)
    old = getattr(cp, "upload", None)
    if old is not None:
        old[0].cancel()
    job = [None, action, request_id]
    retries = p.get("retries")
    interval = p.get("retryInterval")
    job[0] = asyncio.create_task(_run(
        cp, job, old, url, cadata, security, _bound(window[0]), _bound(window[1]),
        _RETRIES if retries is None else min(retries, _MAX_RETRIES),
        _INTERVAL_S if interval is None else min(interval, _MAX_INTERVAL_S)))
    cp.upload = job
    return old is not None


def _bound(text):
    if text is None:
        return None
    return ocpp.iso(min(max(ocpp.parse_iso(text) or 0, _FIRST), _LAST))


def _status(job, what):
    if job[2] is None:
        return {"status": what}
    return {"status": "UploadFailure" if what == "UploadFailed" else what, "requestId": job[2]}


async def _run(cp, job, old, url, cadata, security, lo, hi, retries, interval):
    ok = False
    try:
        if old is not None:  # its end first: it may still be closing its connection
            while not old[0].done():
                await asyncio.sleep_ms(20)
        cp.notify(job[1], _status(job, "Uploading"))
        from evse import http
        drop("evse.http")
        try:
            n = _copy(cp, security, lo, hi)
        except Exception as e:  # noqa: BLE001 - flash full, no heap: nothing to upload
            log("upload", "copy", "error", repr(e)[:60])
            n = -1
        tries = retries + 1 if n >= 0 else 0
        for i in range(tries):
            if i:
                await asyncio.sleep(interval)
            try:
                with open(_COPY, "rb") as f:
                    await http.put(url, f.readinto, n, cadata, "text/plain")
                ok = True
                break
            except Exception as e:  # noqa: BLE001 - HttpError, OSError, no heap: the next try
                log("upload", "try", i + 1, "of", tries, "error", repr(e)[:60])
        log("upload", "ok", int(ok), "bytes", n)
        cp.notify(job[1], _status(job, "Uploaded" if ok else "UploadFailed"))
    finally:
        remove(_COPY)
        if getattr(cp, "upload", None) is job:
            cp.upload = None


def _time(line, security):
    # The OCPP time a line carries as text (comparable as text), None if it has none.
    if security:
        i = line.find('"timestamp": "')
        if i < 0 or "clockUnset" in line:
            return None
        return line[i + 14:i + 34]
    return None if line[0] == "-" else line[:20]


def _copy(cp, security, lo, hi):
    """data/upload.txt written: the summary and the lines in lo..hi. -> its size in bytes."""
    with open(_COPY, "w") as out:
        if not security:
            _summary(cp, out, lo, hi)
        last = None
        for path in _SECURITY_LOGS if security else _DIAG_LOGS:
            try:
                f = open(path)
            except OSError:  # none yet
                continue
            with f:
                for line in f:
                    if not line.endswith("\n"):  # torn by a power cut
                        continue
                    t = _time(line, security) or last
                    last = t
                    if (t is None and lo is None) or (
                            t is not None and (lo is None or t >= lo) and (hi is None or t <= hi)):
                        out.write(line)
    return os.stat(_COPY)[6]


def _w(out, *parts):
    out.write(" ".join(str(x) for x in parts))
    out.write("\n")


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
    # The OCPP keys as GetConfiguration lists them: AuthorizationKey is not in the table; any
    # key named like a secret is left out all the same. Values read without settings[k], which
    # would keep every default in the settings' dict after.
    from evse.ocpp.settings import names, spec
    v = cp.settings._v  # noqa: SLF001 - read only
    for k in names():
        if "Key" in k or "Password" in k or "Secret" in k:
            continue
        x = v.get(k)
        _w(out, "key", k, spec(k)[4] if x is None else x)
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
            _w(out, "config ocpp", ",".join(sorted(
                n for n in x if "Key" not in n and "Password" not in n and "Secret" not in n)))
        else:  # secrets (authorization_key, certificates and keys) and keys added later
            _w(out, "config", k, "set" if x else "unset")
    del cfg
    _w(out, "# log", lo or "start", hi or "now")
