# GetLog (security whitepaper): logType DiagnosticsLog uploads what GetDiagnostics does (the
# summary and the log on flash), SecurityLog the security log (evse/ocpp/security_events.py),
# each by the upload job (evse/ocpp/upload.py: HTTP PUT to remoteLocation/filename,
# oldestTimestamp..latestTimestamp), reported by LogStatusNotification with the requestId. "If
# the Charge Point receives a GetLog.req while it is already uploading a log file, it SHALL
# cancel the ongoing upload and respond with AcceptedCanceled": the job under way stops.
from evse import drop
from evse.files import load_json


def answer(cp, p):
    cp.operation("GetDiagnostics").check(p)
    cfg = load_json("config.json", {})
    from evse.ocpp import upload
    drop("evse.ocpp.upload")
    lg = p["log"]
    url = upload.target(lg["remoteLocation"], cfg.get("ca_cert"))
    if url is None:  # a scheme we cannot upload over, https:// without a CA
        return {"status": "Rejected"}
    security = p["logType"] == "SecurityLog"
    name = upload.file_name(cfg.get("charge_point_id") or "cp", "security" if security else "diag")
    canceled = upload.start(cp, "LogStatusNotification", url + name, cfg.get("ca_cert"), p,
                            (lg.get("oldestTimestamp"), lg.get("latestTimestamp")),
                            security, p["requestId"])
    return {"status": "AcceptedCanceled" if canceled else "Accepted", "filename": name}


def status(cp):
    """The LogStatusNotification of now (ExtendedTriggerMessage): Uploading with the requestId
    while a GetLog upload runs, else Idle."""
    job = getattr(cp, "upload", None)
    if job and job[1] == "LogStatusNotification":
        return {"status": "Uploading", "requestId": job[2]}
    return {"status": "Idle"}
