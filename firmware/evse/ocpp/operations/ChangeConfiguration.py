# ChangeConfiguration: a writable key takes a value of its kind (settings.parse) and keeps it
# across reboots and takes effect at once; read-only keys and bad values are Rejected, unknown
# keys NotSupported.
from evse.ocpp.rpc import field
from evse.ocpp.settings import AUTH_KEY, parse, spec


def answer(cp, p):
    key = field(p, "key", str, maxlen=50)
    value = field(p, "value", str, maxlen=500)
    status = change(cp.settings, key, value)
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
    if key == "WebSocketPingInterval" and cp.rpc:
        cp.rpc.conn.ping_interval = s[key]
    cp.wake.set()


def change(settings, key, text):
    """ChangeConfiguration status: Accepted, Rejected or NotSupported."""
    if key == AUTH_KEY:
        if not 16 <= len(text) <= 40:
            return "Rejected"
        value = text
    else:
        sp = spec(key)
        if sp is None:
            return "NotSupported"
        if not sp[1]:
            return "Rejected"
        value = parse(sp[0], text)
        if value is None:
            return "Rejected"
    settings.store(key, value)
    return "Accepted"
