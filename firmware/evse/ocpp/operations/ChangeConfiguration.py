# ChangeConfiguration: a writable key takes a value of its type within its range
# (settings.py's table), keeps it across reboots and takes effect at once; read-only keys and
# bad values are Rejected, unknown keys NotSupported (exact match only); in both cases nothing
# is stored. The rules are setting_rules.py's, the ones config.json and data/ocpp.json keep.
from evse import drop
from evse.ocpp.settings import AUTH_KEY, spec


def answer(cp, p):
    # both strings within their lengths: the schema's (operations.answer checked it)
    key = p["key"]
    status = change(cp.settings, key, p["value"])
    if status == "Accepted":
        _apply(cp, key)
    return {"status": status}


def _apply(cp, key):
    # What a changed key means for the running charge point, before the answer goes out.
    s = cp.settings
    for port in cp.ports:
        port.machine.timeout_s = s["ConnectionTimeOut"]
        port.machine.stop_on_unplug = s["StopTransactionOnEVSideDisconnect"]
    if key == "ClockAlignedDataInterval":
        cp.transactions.next_aligned = 0
    if cp.rpc:
        if key == "WebSocketPingInterval":
            cp.rpc.conn.ping_interval = s[key]
        elif key == "MessageTimeout":
            cp.rpc.timeout_s = s[key]
    cp.wake.set()


def change(settings, key, text):
    """ChangeConfiguration status: Accepted, Rejected or NotSupported."""
    sp = None
    if key != AUTH_KEY:
        sp = spec(key)
        if sp is None:
            return "NotSupported"
        if not sp[1]:
            return "Rejected"
    from evse.ocpp import setting_rules
    drop("evse.ocpp.setting_rules")  # for this change only
    value = setting_rules.value(settings, key, sp, text)
    if value is None:
        return "Rejected"
    settings.store(key, value)
    return "Accepted"
