# The central system's rarely used CALLs and the charge point's rare chores: imported for one
# use and dropped right after (ChargePoint.dispatch, evse.drop), so their code does not sit in
# the heap for the whole session. The hot path (RemoteStart/Stop) stays in handlers.py.
from time import ticks_diff

from evse.log import log
from evse.ocpp.chargepoint import Reboot, iso
from evse.ocpp.handlers import _connector, _status
from evse.ocpp.rpc import NOT_IMPLEMENTED, NOT_SUPPORTED, CallError, field
from evse.files import load_json, remove, save_json
from evse.ocpp.settings import _FILE, AUTH_KEY, _TABLE, _parse, _spec

_FLUSH_MS = const(5000)

# Actions of the other 1.6 profiles: known, deliberately not supported.
_UNSUPPORTED = ("CancelReservation", "ReserveNow", "GetDiagnostics", "UpdateFirmware",
                "SendLocalList", "GetLocalListVersion", "SetChargingProfile",
                "ClearChargingProfile", "GetCompositeSchedule")


def handle(cp, action, p):
    # One function per action, found by its name: on_<Action>.
    fn = globals().get("on_" + action)
    if fn is None:
        raise CallError(NOT_SUPPORTED if action in _UNSUPPORTED else NOT_IMPLEMENTED, action)
    return fn(cp, p)


def on_ChangeAvailability(cp, p):
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
    save_json("data/avail.json", cp.avail)
    return _status("Scheduled" if scheduled else "Accepted")


def on_GetConfiguration(cp, p):
    keys = field(p, "key", list, req=False)
    for k in keys or ():
        field({"key": k}, "key", str, maxlen=50)
    known, unknown = cp.settings.get_configuration(keys)
    res = {"configurationKey": known}
    if unknown:
        res["unknownKey"] = unknown
    return res


def on_ChangeConfiguration(cp, p):
    key = field(p, "key", str, maxlen=50)
    value = field(p, "value", str, maxlen=500)
    return _status(cp.settings.change(key, value))


def on_Reset(cp, p):
    cp.request_reset(field(p, "type", str, choices=("Hard", "Soft")))
    return _status("Accepted")


def on_UnlockConnector(cp, p):
    cid = field(p, "connectorId", int)
    if not 1 <= cid <= len(cp.conns):
        return _status("UnlockFailed")
    # The session ends first; the socket has no lock actuator, so nothing holds the cable.
    if cp.conns[cid - 1].tx:
        cp.apply(cid - 1, "stop", "UnlockCommand")
    return _status("Unlocked")


def on_ClearCache(cp, p):
    cp.clear_cache()
    return _status("Accepted")


def on_DataTransfer(cp, p):
    field(p, "vendorId", str, maxlen=255)
    field(p, "messageId", str, req=False, maxlen=50)
    return _status("UnknownVendorId")


_TRIGGERS = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
             "Heartbeat", "MeterValues", "StatusNotification")


def on_TriggerMessage(cp, p):
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


def recover(cp):
    # At boot: a transaction still open in flash was cut by a power loss: stop it with the last
    # meter value we persisted. The meter went on counting until the power went (our copy is
    # saved once a sample interval), so the first reading after boot raises meterStop to the
    # register (ChargePoint.poll, before anything is sent).
    for i in range(len(cp.conns)):
        path = "data/tx%d.json" % (i + 1)
        tx = load_json(path, None)
        if tx:
            p = {"idTag": tx["tag"], "meterStop": int(tx["m"]), "timestamp": iso(tx["mt"]),
                 "reason": "PowerLoss", "_r": tx["r"]}
            cp.lost[i] = (cp.journal.append("StopTransaction", p), p)
            log("tx stop", "connector", i + 1, "ref", tx["r"], "reason", "PowerLoss",
                "meter_wh", int(tx["m"]))
            remove(path)


async def send_trigger(cp, rpc):
    # The oldest message a TriggerMessage asked for.
    t = cp.triggers.pop(0)
    if t == "BootNotification":
        res = await cp._call(rpc, "BootNotification", cp.boot_fields)
        cp.set_clock(res.get("currentTime"))
        if res.get("status") == "Accepted":
            cp.reg = "Accepted"
            cp.booted = cp.boot_fields
    elif t == "Heartbeat":
        await cp._heartbeat(rpc)
    elif t[0] == "S":  # ("S", cid): StatusNotification, sent even when unchanged
        cid = t[1]
        cp.reported.pop(cid, None)
        if cid not in cp.pending:
            c = cp.conns[cid - 1] if cid else None
            cp.pending[cid] = [c.state if c else ("Available" if cp.avail[0] else "Unavailable"),
                               c.error if c else "NoError", c.info if c else None, cp.now(), 0]
        await cp._send_status(rpc, cid, True)
    else:  # ("M", index): MeterValues now
        i = t[1]
        mv = {"connectorId": i + 1, "meterValue": [cp._meter_value(
            i, cp.settings.measurands("MeterValuesSampledData"), "Trigger")]}
        if cp.txs[i]:
            mv["transactionId"] = cp.tx_id(i) or -1
        cp.extra.append(mv)


def _text(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def get_configuration(s, keys):
    # Every key of the table in its order, or the ones asked for; AuthorizationKey never.
    known, unknown = [], []
    for k in keys or [x[:x.find(" ")] for x in _TABLE.split("\n") if x]:
        spec = _spec(k)
        if spec is None:
            unknown.append(k)
        else:
            known.append({"key": k, "readonly": not spec[1], "value": _text(s[k])})
    return known, unknown


def change(s, key, text):
    if key == AUTH_KEY:
        if not 16 <= len(text) <= 40:
            return "Rejected"
        value = text
    else:
        spec = _spec(key)
        if spec is None:
            return "NotSupported"
        if not spec[1]:
            return "Rejected"
        value = _parse(spec[0], text)
        if value is None:
            return "Rejected"
    s._v[key] = value
    s._changed[key] = value
    save_json(_FILE, s._changed)
    for fn in s.listeners:
        fn(key)
    return "Accepted"


def card(cp, i, id_tag):
    # The idTag that started the transaction stops it; any other starts one.
    tx = cp.txs[i]
    if tx and tx["tag"] == id_tag:
        cp.apply(i, "stop", "Local")
    elif not tx:
        present(cp, i, id_tag)


def present(cp, i, id_tag):
    """A local idTag (card) at connector index i: Authorize online, cache rules offline."""
    s = cp.settings
    cached = cp.cache.get(id_tag) if s["AuthorizationCacheEnabled"] else None
    online = cp.rpc is not None and cp.reg == "Accepted"
    if online:
        if cached == "Accepted" and s["LocalPreAuthorize"]:
            return cp.apply(i, "authorize", id_tag)
        cp.auth_q.append((i, id_tag))
        cp.wake.set()
        return True
    if cached == "Accepted" and s["LocalAuthorizeOffline"]:
        return cp.apply(i, "authorize", id_tag)
    if cached is None and s["AllowOfflineTxForUnknownId"]:
        return cp.apply(i, "authorize", id_tag)
    log("authorize", "connector", i + 1, "result", "refused offline")
    return False


def do_reset(cp, now):
    # Stop every transaction, give the journal up to _FLUSH_MS to deliver, then restart.
    reason = "HardReset" if cp.reset == "Hard" else "SoftReset"
    for i in range(len(cp.conns)):
        if cp.conns[i].tx:
            cp.apply(i, "stop", reason)
    # Give the journal a moment to deliver the stops; a hard reset does not wait long.
    if len(cp.journal) and cp.rpc and ticks_diff(now, cp.reset_at) < _FLUSH_MS:
        return
    log("reset", "type", cp.reset)
    raise Reboot(cp.reset)
