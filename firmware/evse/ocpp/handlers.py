# What the charge point does on each CALL from the central system: one function per action,
# found by its name in HANDLERS. Each checks its payload by hand (rpc.field: missing ->
# OccurenceConstraintViolation, wrong type -> TypeConstraintViolation, bad value ->
# PropertyConstraintViolation), answers at once, and leaves follow-up messages to the charge
# point's sender (a handler never makes a CALL of its own: the answer must go first).
# Only the hot path lives here; the rarely used actions are in ops.py, loaded per CALL.
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
