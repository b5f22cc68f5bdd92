# ChangeConfiguration: a writable key takes a value of its kind (settings.parse) and keeps it
# across reboots; read-only keys and bad values are Rejected, unknown keys NotSupported.
from evse.ocpp.rpc import field
from evse.ocpp.settings import AUTH_KEY, parse, spec


def answer(cp, p):
    key = field(p, "key", str, maxlen=50)
    value = field(p, "value", str, maxlen=500)
    return {"status": change(cp.settings, key, value)}


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
