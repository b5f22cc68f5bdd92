# ExtendedTriggerMessage (security whitepaper ed. 2): TriggerMessage's rules, with
# DiagnosticsStatusNotification swapped for LogStatusNotification, FirmwareStatusNotification
# answered by SignedFirmwareStatusNotification, and SignChargePointCertificate (which asks for a
# SignCertificate.req: not built here, so NotImplemented, "the requested notification cannot be
# sent because it is either not implemented or unknown"). The four messages both know go
# through TriggerMessage.py's answer(); the two of ours are queued the same way, and its send()
# sends them with status() below, the status at the time they go (.conf first, then the
# message).
from evse.files import load_json

# SignedFirmwareStatusNotification's statuses; a firmware job's last one outside them (an
# unreadable data/fw.json) is reported as Idle rather than break the schema
_SIGNED = const(" Downloaded DownloadFailed Downloading DownloadScheduled DownloadPaused"
                " InstallationFailed Installing InstallRebooting InstallScheduled"
                " InstallVerificationFailed InvalidSignature SignatureVerified ")


def answer(cp, p):
    what = p["requestedMessage"]  # one of the seven the schema lists
    if what in ("BootNotification", "Heartbeat", "MeterValues", "StatusNotification"):
        return cp.operation("TriggerMessage").answer(cp, p)
    cid = p.get("connectorId")
    if cid is not None and not 0 <= cid <= len(cp.ports):  # as TriggerMessage: TC_055
        return {"status": "Rejected"}
    if what == "SignChargePointCertificate":
        return {"status": "NotImplemented"}
    # connectorId means nothing to these two: ignored, the message still sent
    cp.triggers.append(("LogStatusNotification" if what == "LogStatusNotification"
                        else "SignedFirmwareStatusNotification", None))
    cp.wake.set()
    return {"status": "Accepted"}


def status(cp, what):
    """The payload of a triggered LogStatusNotification or SignedFirmwareStatusNotification."""
    if what == "LogStatusNotification":
        # GetLog's upload, when there is one (its module says): else Idle
        try:
            return cp.operation("GetLog").status(cp)
        except (ImportError, AttributeError):  # GetLog not built on this firmware
            return {"status": "Idle"}
    # "Idle after Installed, else the last status": the firmware job's, kept in data/fw.json
    # (evse/ocpp/firmware.py) while an update runs and until it has ended; a requestId when it
    # has one (SignedUpdateFirmware's), absent for Idle
    st = load_json("data/fw.json")
    last = st.get("st") if type(st) is dict else None
    if type(last) is not str or (" " + last + " ") not in _SIGNED:
        return {"status": "Idle"}
    out = {"status": last}
    rid = st.get("requestId")
    if type(rid) is int:
        out["requestId"] = rid
    return out
