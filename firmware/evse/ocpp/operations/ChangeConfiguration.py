# ChangeConfiguration: a writable key takes a value of its type within its range
# (settings.py's table), keeps it across reboots and takes effect at once; read-only keys and
# bad values are Rejected, unknown keys NotSupported (exact match only); in both cases nothing
# is stored. The same rules check config.json's "ocpp" dict and data/ocpp.json at boot (boot()).
from evse.log import log
from evse.ocpp.rpc import field
from evse.ocpp.settings import AUTH_KEY, FILE, spec

_MEASURANDS = const(("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"))
_ROTATIONS = const(("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"))
_DIGITS = const(9)  # integer text: 9 digits stay a small int on a 32-bit port (< 2**30)


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
    if cp.rpc:
        if key == "WebSocketPingInterval":
            cp.rpc.conn.ping_interval = s[key]
        elif key == "MessageTimeout":
            cp.rpc.timeout_s = s[key]
    cp.wake.set()


def change(settings, key, text):
    """ChangeConfiguration status: Accepted, Rejected or NotSupported."""
    if key != AUTH_KEY:
        sp = spec(key)
        if sp is None:
            return "NotSupported"
        if not sp[1]:
            return "Rejected"
    value = check(settings, key, text)
    if value is None:
        return "Rejected"
    settings.store(key, value)
    return "Accepted"


def check(settings, key, v):
    """A value for `key` as it is kept, or None when the key has no such value. `v` is the
    central system's text or a JSON value of config.json / data/ocpp.json."""
    if key == AUTH_KEY:
        return _auth_key(v)
    sp = spec(key)
    if sp is None:
        return None
    kind = sp[0]
    if kind == "i":
        if type(v) is str:
            v = _int(v)
        elif type(v) is not int:  # bool, float, list...: the wrong type
            return None
        return v if v is not None and sp[2] <= v <= sp[3] else None
    if type(v) is bool and kind == "b":
        return v
    if type(v) is not str:
        return None
    if kind == "b":
        t = v.lower()
        return True if t == "true" else False if t == "false" else None
    if kind == "c":
        return v if v == sp[4] else None
    return _list(v, kind, settings[key + "MaxLength"], settings["NumberOfConnectors"])


def boot(settings, initial, changed):
    """At boot: config.json's values (`initial`), then the central system's (`changed`, read
    from data/ocpp.json), each checked like a change. A refused one leaves the key as it was
    (config.json's value or the default) with one log line naming the key; a refused persisted
    one is removed from the file too, so a value an older firmware took, or one a stricter rule
    now refuses, cannot come back. -> the persisted values kept."""
    for k in initial:
        if not _take(settings, k, initial[k], False):
            log("setting refused", "key", _shown(k), "from", "config.json")
    bad = type(changed) is not dict
    if bad:
        log("setting refused", "key", "*", "from", FILE)
        changed = {}
    for k in list(changed):
        if not _take(settings, k, changed[k], True):
            log("setting refused", "key", _shown(k), "from", FILE)
            del changed[k]
            bad = True
    if bad:
        from evse.files import save_json
        save_json(FILE, changed)
    return changed


def _take(settings, key, v, persisted):
    # data/ocpp.json holds only what the central system may write; the board, not a file, says
    # how many connectors there are.
    if key == "NumberOfConnectors":
        return False
    if persisted and key != AUTH_KEY:
        sp = spec(key)
        if sp is None or not sp[1]:
            return False
    v = check(settings, key, v)
    if v is None:
        return False
    settings._v[key] = v
    return True


def _auth_key(v):
    # 16..40 printable ASCII characters without spaces: it goes into the Basic auth header,
    # where a line break would inject a header of its own.
    if type(v) is not str or not 16 <= len(v) <= 40:
        return None
    for c in v:
        if not 32 < ord(c) < 127:
            return None
    return v


def _int(text):
    # Digits only: no sign, space, underscore, point or exponent ("+5", " 5", "1_000", "5.0").
    if not 0 < len(text) <= _DIGITS:
        return None
    for c in text:
        if not "0" <= c <= "9":
            return None
    return int(text)


def _list(text, kind, most, connectors):
    # A comma separated list: measurands (m) or phase rotations per connector (p), each item
    # once, at most `most` of them; spaces around an item are dropped. Kept normalised.
    items = [s.strip() for s in text.split(",")] if text.strip() else []
    if len(items) > most:
        return None
    seen = []
    for s in items:
        if kind == "m":
            if s not in _MEASURANDS:
                return None
            name = s
        else:  # "3.RST": a connector of this board (0: grid to meter) and a rotation
            n, dot, rot = s.partition(".")
            c = _int(n)
            if not dot or c is None or c > connectors or rot not in _ROTATIONS:
                return None
            name = c
        if name in seen:
            return None
        seen.append(name)
    if kind == "p" and not items:
        return None  # "0.Unknown" says that nothing is known
    return ",".join(items)


def _shown(key):
    # A refused key in a log line: at most 50 characters, printable ASCII (it may be anything).
    return "".join(c if 32 < ord(c) < 127 else "?" for c in str(key)[:50])
