# GetLog (security whitepaper): logType DiagnosticsLog uploads what GetDiagnostics does (the
# summary and the log on flash), SecurityLog the security log (evse/ocpp/security_events.py),
# each by the upload job (evse/ocpp/upload.py: HTTP PUT to remoteLocation/filename,
# oldestTimestamp..latestTimestamp), reported by LogStatusNotification with the requestId. "If
# the Charge Point receives a GetLog.req while it is already uploading a log file, it SHALL
# cancel the ongoing upload and respond with AcceptedCanceled": the job under way stops.
from evse import drop


def answer(cp, p):
    op = cp.operation("GetDiagnostics")
    security = p["logType"] == "SecurityLog"
    lg = p["log"]
    job = op.prepare(p, lg["remoteLocation"], "security" if security else "diag")
    if job is None:  # a scheme we cannot upload over, https:// without a CA
        return {"status": "Rejected"}
    from evse.ocpp import upload
    drop("evse.ocpp.upload")
    canceled = upload.start(cp, "LogStatusNotification", job[0], job[2], p,
                            op.window(lg.get("oldestTimestamp")), op.window(lg.get("latestTimestamp")),
                            security, p["requestId"])
    return {"status": "AcceptedCanceled" if canceled else "Accepted", "filename": job[1]}


def status(cp):
    """The LogStatusNotification of now (ExtendedTriggerMessage): Uploading with the requestId
    while a GetLog upload runs, else Idle."""
    job = getattr(cp, "upload", None)
    if job and job[1] == "LogStatusNotification":
        return {"status": "Uploading", "requestId": job[2]}
    return {"status": "Idle"}
