# ClearChargingProfile (OCPP 1.6 5.5): the profile of the given id, whatever else is given; else
# every profile that matches all the fields given (connectorId, chargingProfilePurpose,
# stackLevel: 0 is a value like any other), every profile when none is. Accepted when one went,
# Unknown when none matched. The limits change from the next poll (cp.smart). Loaded per use.
import json

from evse.files import remove, replace
from evse.log import log

_FILE = const("data/profiles.jsonl")  # as GetCompositeSchedule.py reads it
_PURPOSES = const(("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"))


def answer(cp, p):
    pid = p.get("id")
    cid = p.get("connectorId")
    purpose = p.get("chargingProfilePurpose")
    if purpose is not None:
        purpose = _PURPOSES.index(purpose)  # the schema checked the enum
    stack = p.get("stackLevel")
    # The file again without the ones that match, one stored profile at a time. An OSError
    # leaves the old file: nothing cleared (InternalError). An empty file goes with the next
    # poll's GetCompositeSchedule.apply.
    tmp = _FILE + ".tmp"
    gone = left = 0
    try:
        f = open(_FILE)
    except OSError:
        return {"status": "Unknown"}  # none stored
    with f, open(tmp, "w") as out:
        for line in f:
            try:
                q = json.loads(line)
                if pid is not None:
                    hit = q[0] == pid
                else:
                    hit = ((cid is None or q[1] == cid) and (purpose is None or q[3] == purpose)
                           and (stack is None or q[2] == stack))
            except (ValueError, TypeError, IndexError, KeyError):
                hit = False  # damaged: kept for GetCompositeSchedule.profiles to drop and say
            if hit:
                gone += 1
            else:
                left += 1
                out.write(line if line[-1:] == "\n" else line + "\n")
    if not gone:
        remove(tmp)
        return {"status": "Unknown"}
    replace(tmp, _FILE)
    cp.smart = 1
    log("charging profiles cleared", "count", gone, "left", left)
    return {"status": "Accepted"}
