# SetChargingProfile: a charging profile installed on a connector (OCPP 1.6 5.16, 3.13), stored
# in data/profiles.jsonl in the form GetCompositeSchedule.py describes (and computes with), then
# in force from the next poll (cp.smart). Also here: a RemoteStartTransaction's TxProfile
# (pend), checked by the same rules and held for the transaction its idTag starts. Loaded per use.
import json

from evse.files import remove, replace
from evse.log import log
from evse import ocpp
from evse.ocpp.rpc import PROPERTY, CallError

_FILE = const("data/profiles.jsonl")  # as GetCompositeSchedule.py reads it
_PURPOSES = const(("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"))
_KINDS = const(("Absolute", "Recurring", "Relative"))
_TX = const(2)
_MAX_TENTHS = const(10000000)  # 1 MW or 1 MA: x 100 stays a small int on 32 bits (< 2**30)
_MAX_S = const(315360000)  # a startPeriod or duration: 10 years, a small int on 32 bits


def answer(cp, p):
    cid = p["connectorId"]
    # 1.6 gives no status for a connector the charge point does not have here; the
    # profile's checklist (../shared/reference: SetChargingProfile with bad connectorId)
    # answers it PropertyConstraintViolation, the value breaking what the field may hold.
    if not 0 <= cid <= len(cp.ports):
        raise CallError(PROPERTY, "connectorId")
    prof = p["csChargingProfiles"]
    tx = None
    why = None
    if prof["chargingProfilePurpose"] == "TxProfile" and cid:
        port = cp.port(cid)
        if port.tx is None or not port.machine.tx:
            why = "TxProfile without a transaction"
        else:
            tx = port.tx["r"]
            tid = prof.get("transactionId")
            if tid is not None and tid != cp.transactions.tx_id(port):
                why = "transactionId not the connector's"
    return _install(cp, cid, prof, tx, why)


def pend(cp, cid, prof, tag):
    """RemoteStartTransaction's chargingProfile for connector cid: checked and stored, held
    for the transaction `tag` starts there (GetCompositeSchedule.apply binds it). True when
    stored; False (with a log line saying why) when refused."""
    return _install(cp, cid, prof, tag, None)["status"] == "Accepted"


def _install(cp, cid, prof, tx, why):
    rec = why or _record(cp, cid, prof, tx)
    if type(rec) is str:
        log("charging profile refused", "id", prof["chargingProfileId"], "connector", cid, "why", rec)
        return {"status": "Rejected"}
    # The file again, one stored profile at a time, without the ones this replaces: the one of
    # the same id, and the one of the same stackLevel and purpose on the same connector (1.6
    # 3.13.2, 5.16); then this one, and the new file takes the old one's place. An OSError
    # leaves the old file: not stored, so not Accepted (InternalError).
    tmp = _FILE + ".tmp"
    n = 0
    with open(tmp, "w") as out:
        try:
            f = open(_FILE)
        except OSError:  # the first profile
            f = None
        if f is not None:
            with f:
                for line in f:
                    try:
                        q = json.loads(line)
                        if q[0] == rec[0] or (q[1] == cid and q[2] == rec[2] and q[3] == rec[3]):
                            continue
                    except (ValueError, TypeError, IndexError, KeyError):
                        continue  # damaged: dropped (GetCompositeSchedule.profiles)
                    n += 1
                    out.write(line if line[-1:] == "\n" else line + "\n")
        full = n >= cp.settings["MaxChargingProfilesInstalled"]
        if not full:
            out.write(json.dumps(rec))
            out.write("\n")
    if full:
        remove(tmp)
        log("charging profile refused", "id", rec[0], "connector", cid,
            "why", "MaxChargingProfilesInstalled reached")
        return {"status": "Rejected"}
    replace(tmp, _FILE)
    cp.smart = 1  # in force from the next poll
    log("charging profile", "id", rec[0], "connector", cid, "purpose", prof["chargingProfilePurpose"],
        "stack", rec[2], "periods", len(rec[11]) // 3)
    return {"status": "Accepted"}


def _time(text):
    # A date-time the schema checked, as unix seconds; False when unreadable (None: absent).
    if text is None:
        return None
    t = ocpp.parse_iso(text)
    return False if t is None else t


def _record(cp, cid, prof, tx):
    # The stored form of `prof` (GetCompositeSchedule.py), or why it is Rejected.
    s = cp.settings
    purpose = _PURPOSES.index(prof["chargingProfilePurpose"])
    kind = _KINDS.index(prof["chargingProfileKind"])
    stack = prof["stackLevel"]
    sch = prof["chargingSchedule"]
    if purpose == 0 and cid:
        return "ChargePointMaxProfile on a connector"
    if purpose == _TX and not cid:
        return "TxProfile on connector 0"
    if purpose != _TX and prof.get("transactionId") is not None:
        return "transactionId outside a TxProfile"
    if not 0 <= stack <= s["ChargeProfileMaxStackLevel"]:
        return "stackLevel beyond 0..ChargeProfileMaxStackLevel"
    rec = 0
    if kind == 1:
        rec = prof.get("recurrencyKind")
        if rec is None:
            return "Recurring without recurrencyKind"
        rec = 86400 if rec == "Daily" else 604800
    now = ocpp.now()
    vf = _time(prof.get("validFrom"))
    vt = _time(prof.get("validTo"))
    start = _time(sch.get("startSchedule"))
    if vf is False or vt is False or start is False:
        return "date-time out of range"
    if vt is not None and (vt <= now or (vf is not None and vt <= vf)):
        return "validTo not after now and validFrom"
    if kind == 2:
        start = None  # counts from the transaction's start
    elif start is None:
        if kind == 1:
            return "Recurring without startSchedule"
        start = now  # an Absolute one without it: from its receipt
    dur = sch.get("duration")
    if dur is not None and not 0 <= dur <= _MAX_S:
        return "duration not 0..10 years"
    periods = sch["chargingSchedulePeriod"]
    if not periods:
        return "no chargingSchedulePeriod"
    if len(periods) > s["ChargingScheduleMaxPeriods"]:
        return "more than ChargingScheduleMaxPeriods periods"
    flat = []
    last = -1
    for q in periods:
        sp = q["startPeriod"]
        lim = q["limit"]
        ph = q.get("numberPhases")
        if (last < 0 and sp != 0) or sp <= last or sp > _MAX_S:
            return "startPeriod not 0 first, then increasing (within 10 years)"
        if not 0 <= lim * 10 <= _MAX_TENTHS:
            return "limit out of range"
        if ph is not None and not 1 <= ph <= 3:
            return "numberPhases not 1..3"
        last = sp
        flat += (sp, int(lim * 10 + 0.5), ph or 0)  # the schema made it a multiple of 0.1
    return [prof["chargingProfileId"], cid, stack, purpose, kind, rec, vf, vt, start, dur,
            int(sch["chargingRateUnit"] == "W"), flat, tx]
