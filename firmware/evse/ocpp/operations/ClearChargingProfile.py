# ClearChargingProfile (OCPP 1.6 5.5): the profile of the given id, whatever else is given; else
# every profile that matches all the fields given (connectorId, chargingProfilePurpose,
# stackLevel: 0 is a value like any other), every profile when none is. Accepted when one went,
# Unknown when none matched. The limits change from the next poll (cp.smart). Loaded per use.
from evse.files import load_json, save_json
from evse.log import log

_FILE = const("data/profiles.json")  # as GetCompositeSchedule.py reads it
_PURPOSES = const(("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"))


def answer(cp, p):
    pid = p.get("id")
    cid = p.get("connectorId")
    purpose = p.get("chargingProfilePurpose")
    if purpose is not None:
        purpose = _PURPOSES.index(purpose)  # the schema checked the enum
    stack = p.get("stackLevel")
    ps = load_json(_FILE, None)
    if type(ps) is not list:
        ps = []
    keep = []
    for q in ps:
        if pid is not None:
            hit = q[0] == pid
        else:
            hit = ((cid is None or q[1] == cid) and (purpose is None or q[3] == purpose)
                   and (stack is None or q[2] == stack))
        if not hit:
            keep.append(q)
    if len(keep) == len(ps):
        return {"status": "Unknown"}
    # OSError: nothing cleared (InternalError). An empty list goes with the next poll's
    # GetCompositeSchedule.apply, which removes the file.
    save_json(_FILE, keep)
    cp.smart = 1
    log("charging profiles cleared", "count", len(ps) - len(keep), "left", len(keep))
    return {"status": "Accepted"}
