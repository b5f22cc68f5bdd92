# GetDiagnostics: the log on flash and a summary, uploaded to `location` (a directory: the file
# goes to location/fileName by HTTP PUT) by the upload job (evse/ocpp/upload.py, per use),
# which reports DiagnosticsStatusNotification. OCPP 1.6: "fileName: This contains the name of
# the file with diagnostic information that will be uploaded. This field is not present when no
# diagnostic information is available." So fileName only when a file will go: not for a scheme
# we cannot upload over (ftp://...), nor for https:// without a CA to verify the server with.
from evse import drop
from evse.files import load_json
from evse.ocpp.rpc import PROPERTY, CallError


def answer(cp, p):
    check(p)
    cfg = load_json("config.json", {})
    from evse.ocpp import upload
    drop("evse.ocpp.upload")
    url = upload.target(p["location"], cfg.get("ca_cert"))
    if url is None:
        return {}
    name = upload.file_name(cfg.get("charge_point_id") or "cp", "diag")
    upload.start(cp, "DiagnosticsStatusNotification", url + name, cfg.get("ca_cert"), p,
                 (p.get("startTime"), p.get("stopTime")))
    return {"fileName": name}


def check(p):
    # A count or an interval below 0 means nothing: the schema says only "integer".
    for k in ("retries", "retryInterval"):
        if p.get(k, 0) < 0:
            raise CallError(PROPERTY, k)


def status(cp):
    """The DiagnosticsStatusNotification of now (TriggerMessage): Uploading while a
    GetDiagnostics upload runs, else Idle ("the only time Idle is sent")."""
    job = getattr(cp, "upload", None)
    return {"status": "Uploading" if job and job[1] == "DiagnosticsStatusNotification" else "Idle"}
