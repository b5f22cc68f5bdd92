# The upload job of GetDiagnostics and GetLog: one at a time, an asyncio task that holds this
# module's code only while it runs; nothing of it is resident. start() drops the module as it
# starts the task, whose functions keep it until the task ends. The job runs in two steps, each
# with only its own code loaded: the file to upload is written (evse/ocpp/diagnostics.py, loaded
# and dropped for it), then sent (evse/http.py and its 1 KiB block), so the job's peak is the
# larger of the two, not their sum.
#
# The file goes in one HTTP PUT to location + "/" + fileName: OCPP gives a directory as the
# location and leaves the transfer to the charge point; a PUT of the named file into that
# directory is what an HTTP file server, a WebDAV share or a presigned bucket URL takes. Tries:
# the first and `retries` more (absent: _RETRIES), `retryInterval` s apart (absent:
# _INTERVAL_S); a try fails on any HTTP status but 2xx, a refused or cut connection, a timeout.
#
# Status notifications through cp.notify, in order: Uploading, then Uploaded or the failure
# (DiagnosticsStatusNotification: UploadFailed; LogStatusNotification: UploadFailure, with the
# requestId). A new request cancels the job under way (GetLog answers AcceptedCanceled): the
# cancelled one sends nothing more. A reboot ends a job; nothing resumes it (status Idle).
# cp.upload: [task, notification action, requestId or None] while a job runs, else None or unset
# (the charge point does not declare it: nothing of it is resident until the first upload).
import asyncio
import gc

from evse import drop
from evse.files import remove
from evse.log import log

_NAME = const("evse.ocpp.upload")
_COPY = const("data/upload.txt")  # the file as uploaded (diagnostics.py)
_RETRIES = const(2)  # when the central system leaves them to us: 3 tries in all
_INTERVAL_S = const(30)  # s between tries when not given
# At most: 10 retries a day apart keep a job within days, and the ticks arithmetic of a sleep
# within its 2**29 ms
_MAX_RETRIES = const(10)
_MAX_INTERVAL_S = const(86400)


def start(cp, action, url, cadata, p, lo, hi, security=False, request_id=None):
    """Start the upload of one file to `url`, the previous job cancelled. `p`: the CALL's
    retries and retryInterval; lo..hi: the window (GetDiagnostics.window), each None when open.
    -> True when a job under way was cancelled."""
    drop(_NAME)
    old = getattr(cp, "upload", None)
    if old is not None:
        old[0].cancel()
    job = [None, action, request_id]
    retries = p.get("retries")
    interval = p.get("retryInterval")
    job[0] = asyncio.create_task(_run(
        cp, job, old, url, cadata, security, lo, hi,
        _RETRIES if retries is None else min(retries, _MAX_RETRIES),
        _INTERVAL_S if interval is None else min(interval, _MAX_INTERVAL_S)))
    cp.upload = job
    return old is not None


def _status(job, what):
    if job[2] is None:
        return {"status": what}
    return {"status": "UploadFailure" if what == "UploadFailed" else what, "requestId": job[2]}


async def _run(cp, job, old, url, cadata, security, lo, hi, retries, interval):
    ok = False
    n = -1
    try:
        if old is not None:  # its end first: it may still be closing its connection
            while not old[0].done():
                await asyncio.sleep_ms(20)
        cp.notify(job[1], _status(job, "Uploading"))
        try:
            from evse.ocpp import diagnostics
            drop("evse.ocpp.diagnostics")
            n = diagnostics.write(cp, _COPY, security, lo, hi)
            del diagnostics
        except Exception as e:  # noqa: BLE001 - flash full, no heap: nothing to upload
            log("upload file", "error", repr(e)[:60])
        gc.collect()  # the file's code gone before the transfer's comes
        tries = retries + 1 if n >= 0 else 0
        for i in range(tries):
            if i:
                await asyncio.sleep(interval)
            try:
                from evse import http
                drop("evse.http")
                with open(_COPY, "rb") as f:
                    await http.put(url, f.readinto, n, cadata, "text/plain")
                ok = True
                break
            except Exception as e:  # noqa: BLE001 - HttpError, OSError, no heap: the next try
                log("upload", "try", i + 1, "of", tries, "error", repr(e)[:60])
            finally:
                http = None  # not held through the wait for the next try
        cp.notify(job[1], _status(job, "Uploaded" if ok else "UploadFailed"))
        log("upload", "ok", int(ok), "bytes", n)
    finally:
        remove(_COPY)
        if getattr(cp, "upload", None) is job:
            cp.upload = None
