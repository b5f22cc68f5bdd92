# What the charge point does on each CALL from the central system: one function per action,
# found by its name in HANDLERS. Each checks its payload by hand (rpc.field: missing ->
# OccurenceConstraintViolation, wrong type -> TypeConstraintViolation, bad value ->
# PropertyConstraintViolation), answers at once, and leaves follow-up messages to the charge
# point's sender (a handler never makes a CALL of its own: the answer must go first).
from evse.ocpp.rpc import field

HANDLERS = {}


def handles(action):
    def register(fn):
        HANDLERS[action] = fn
        return fn
    return register


def _connector(cp, p, zero_ok):
    cid = field(p, "connectorId", int, req=False)
    if cid is not None and not (0 if zero_ok else 1) <= cid <= len(cp.conns):
        return -1
    return cid


def _status(s):
    return {"status": s}


@handles("RemoteStartTransaction")
def remote_start(cp, p):
    tag = field(p, "idTag", str, maxlen=20)
    prof = field(p, "chargingProfile", dict, req=False)
    cid = _connector(cp, p, False)
    if cp.reg != "Accepted" or cid == -1:
        return _status("Rejected")
    if prof is not None and prof.get("chargingProfilePurpose") != "TxProfile":
        return _status("Rejected")
    if cid is None:  # any free connector, the first one with a cable in preference
        i = None
        for k in range(len(cp.conns)):
            c = cp.conns[k]
            if c.state in ("Available", "Preparing") and c.id_tag is None:
                if i is None or (c.plugged and not cp.conns[i].plugged):
                    i = k
        if i is None:
            return _status("Rejected")
    else:
        i = cid - 1
    if cp.settings["AuthorizeRemoteTxRequests"]:
        c = cp.conns[i]
        if c.tx or c.id_tag is not None or c.state in ("Unavailable", "Faulted"):
            return _status("Rejected")
        cp.auth_q.append((i, tag))
        cp.wake.set()
        return _status("Accepted")
    return _status("Accepted" if cp.apply(i, "authorize", tag) else "Rejected")


@handles("RemoteStopTransaction")
def remote_stop(cp, p):
    tid = field(p, "transactionId", int)
    i = cp.find_tx(tid) if cp.reg == "Accepted" else None
    if i is None:
        return _status("Rejected")
    return _status("Accepted" if cp.apply(i, "stop", "Remote") else "Rejected")


@handles("ChangeAvailability")
def change_availability(cp, p):
    cid = field(p, "connectorId", int)
    kind = field(p, "type", str, choices=("Inoperative", "Operative"))
    if not 0 <= cid <= len(cp.conns):
        return _status("Rejected")
    operative = kind == "Operative"
    scheduled = False
    for i in range(len(cp.conns)) if cid == 0 else (cid - 1,):
        cp.avail[i + 1] = operative
        cp.apply(i, "availability", operative)
        scheduled = scheduled or cp.conns[i].scheduled is not None
    if cid == 0:
        cp.avail[0] = operative
        cp._status(0, "Available" if operative else "Unavailable")
    from evse.ocpp.settings import save_json
    save_json("data/avail.json", cp.avail)
    return _status("Scheduled" if scheduled else "Accepted")


@handles("GetConfiguration")
def get_configuration(cp, p):
    keys = field(p, "key", list, req=False)
    for k in keys or ():
        field({"key": k}, "key", str, maxlen=50)
    known, unknown = cp.settings.get_configuration(keys)
    res = {"configurationKey": known}
    if unknown:
        res["unknownKey"] = unknown
    return res


@handles("ChangeConfiguration")
def change_configuration(cp, p):
    key = field(p, "key", str, maxlen=50)
    value = field(p, "value", str, maxlen=500)
    return _status(cp.settings.change(key, value))


@handles("Reset")
def reset(cp, p):
    cp.request_reset(field(p, "type", str, choices=("Hard", "Soft")))
    return _status("Accepted")


@handles("UnlockConnector")
def unlock_connector(cp, p):
    cid = field(p, "connectorId", int)
    if not 1 <= cid <= len(cp.conns):
        return _status("UnlockFailed")
    # The session ends first; the socket has no lock actuator, so nothing holds the cable.
    if cp.conns[cid - 1].tx:
        cp.apply(cid - 1, "stop", "UnlockCommand")
    return _status("Unlocked")


@handles("ClearCache")
def clear_cache(cp, p):
    cp.clear_cache()
    return _status("Accepted")


@handles("DataTransfer")
def data_transfer(cp, p):
    field(p, "vendorId", str, maxlen=255)
    field(p, "messageId", str, req=False, maxlen=50)
    return _status("UnknownVendorId")


_TRIGGERS = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
             "Heartbeat", "MeterValues", "StatusNotification")


@handles("TriggerMessage")
def trigger_message(cp, p):
    what = field(p, "requestedMessage", str, choices=_TRIGGERS)
    cid = _connector(cp, p, True)
    if cid == -1:
        return _status("Rejected")
    if what == "StatusNotification":
        for c in range(len(cp.conns) + 1) if cid is None else (cid,):
            cp.triggers.append(("S", c))
    elif what == "MeterValues":
        for i in range(len(cp.conns)) if not cid else (cid - 1,):
            cp.triggers.append(("M", i))
    elif what in ("BootNotification", "Heartbeat"):
        cp.triggers.append(what)
    else:
        return _status("NotImplemented")
    cp.wake.set()
    return _status("Accepted")
