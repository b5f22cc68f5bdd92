# GetDiagnostics: the log on flash and a summary, uploaded to `location` (a directory: the file
# goes to location/fileName by HTTP PUT) by the upload job (evse/ocpp/upload.py, per use),
# which reports DiagnosticsStatusNotification. OCPP 1.6: "fileName: This contains the name of
# the file with diagnostic information that will be uploaded. This field is not present when no
# diagnostic information is available." So fileName only when a file will go: not for a scheme
# we cannot upload over (ftp://...), nor for https:// without a CA to verify the server with.
# What the job needs only at its start (the target, the file's name, the window) is here, with
# GetLog's use of it: the job's own code stays small while it runs.
from evse import drop, ocpp
from evse.files import load_json
from evse.ocpp.rpc import PROPERTY, CallError

_FIRST = const(946684800)  # 2000-01-01: a window's bounds are held within 2000..2038, where
_LAST = const(2147483647)  # the 32-bit ports' gmtime works and every line of ours is


def answer(cp, p):
    job = prepare(p, p["location"], "diag")
    if job is None:
        return {}
    from evse.ocpp import upload
    drop("evse.ocpp.upload")
    upload.start(cp, "DiagnosticsStatusNotification", job[0], job[2], p,
                 window(p.get("startTime")), window(p.get("stopTime")))
    return {"fileName": job[1]}


def prepare(p, location, kind):
    """(url, file name, CA) of an upload of `kind` ("diag", "security") to `location`, None
    when none can go there; a CALL's retries or retryInterval below 0: PropertyConstraintViolation
    (the schema says only "integer")."""
    for k in ("retries", "retryInterval"):
        if p.get(k, 0) < 0:
            raise CallError(PROPERTY, k)
    ca = None
    if location.startswith("https://"):
        from evse.ocpp import wstls  # the CA of an https:// transfer: the store's (wstls.https_ca)
        drop("evse.ocpp.wstls")
        ca = wstls.https_ca()
        del wstls
    if not location.startswith("http://") and not ca:
        return None
    cfg = load_json("config.json", {})
    # "CP-1-diag-20261205T013121Z.txt": the id, the kind and the time, nothing to escape in a URL
    t = ocpp.iso(ocpp.now()).replace("-", "").replace(":", "")
    safe = "".join(c if c.isalpha() or c.isdigit() or c in "-_." else "_"
                   for c in cfg.get("charge_point_id") or "cp")
    name = "%s-%s-%s.%s" % (safe, kind, t, "jsonl" if kind == "security" else "txt")
    return location.rstrip("/") + "/" + name, name, ca


def window(text):
    """A bound of the window as the log lines write their time (comparable as text), None when
    not given."""
    if text is None:
        return None
    return ocpp.iso(min(max(ocpp.parse_iso(text) or 0, _FIRST), _LAST))


def status(cp):
    """The DiagnosticsStatusNotification of now (TriggerMessage): Uploading while a
    GetDiagnostics upload runs, else Idle ("the only time Idle is sent")."""
    job = getattr(cp, "upload", None)
    return {"status": "Uploading" if job and job[1] == "DiagnosticsStatusNotification" else "Idle"}
