# The rules a configuration value must keep, by its key's kind and range in settings.py's
# table: for ChangeConfiguration and for config.json's "ocpp" dict and data/ocpp.json at boot.
# Loaded for those uses only and dropped after (the resident part is settings.py).
from binascii import hexlify

from evse.files import save_json
from evse.log import log

_AUTH_KEY = const("AuthorizationKey")  # settings.AUTH_KEY: write-only, checked here by its own rule
# data/ocpp.json's format marker for the AuthorizationKey: present (set by ChangeConfiguration
# with every key it stores), the key is hex (its bytes are the password); absent, it is a key
# an older firmware stored, 16..40 printable characters that are the password's text. Such a
# key stays in the file as it is (a rollback still finds it) and is hexlified in RAM only, so
# the password's bytes are the same. config.json's ocpp.AuthorizationKey is text too, like its
# authorization_key. A stored key is never removed at boot: one that neither rule takes is
# logged and left unused.
HEX = const("AuthorizationKeyHex")
_MEASURANDS = const(("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage",
                     "Current.Offered", "Power.Offered"))
_ROTATIONS = const(("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"))
_DIGITS = const(9)  # integer text: 9 digits stay a small int on a 32-bit port (< 2**30)


def value(settings, key, sp, v):
    """A value for `key` as it is kept, or None when the key has no such value. `sp` is the
    key's settings.spec(), None for the AuthorizationKey; `v` the central system's text or a
    JSON value of config.json / data/ocpp.json."""
    if sp is None:
        return _auth_key(v)
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


def boot(settings, spec, initial, changed, path):
    """At boot: config.json's values (`initial`), then the central system's (`changed`, read
    from data/ocpp.json at `path`), each checked like a change. A refused one leaves the key as
    it was (config.json's value or the default) with one log line naming the key; a refused
    persisted one is removed from the file too, so a value an older firmware took, or one a
    stricter rule now refuses, cannot come back. -> (values to keep, persisted values kept)."""
    keep = {}
    for k in initial:
        v = _take(settings, spec, k, initial[k], False, False)
        if v is None:
            log("setting refused", "key", _shown(k), "from", "config.json")
        else:
            keep[k] = v
    bad = type(changed) is not dict
    if bad:
        log("setting refused", "key", "*", "from", path)
        changed = {}
    for k in list(changed):
        if k == HEX:
            continue
        v = _take(settings, spec, k, changed[k], True, changed.get(HEX) is True)
        if v is None:
            log("setting refused", "key", _shown(k), "from", path)
            if k == _AUTH_KEY:
                continue  # never removed: see HEX
            del changed[k]
            bad = True
        else:
            keep[k] = v
    if bad:
        save_json(path, changed)
    return keep, changed


def _take(settings, spec, key, v, persisted, hexed):
    # data/ocpp.json holds only what the central system may write; the board, not a file, says
    # how many connectors there are.
    if key == _AUTH_KEY and not hexed:  # password text (see HEX), hex in RAM like a set one
        v = _text_key(v)
        return v and hexlify(v.encode()).decode()
    sp = spec(key)
    if key == "NumberOfConnectors" or (sp is None and key != _AUTH_KEY):
        return None
    if persisted and sp is not None and not sp[1]:
        return None
    return value(settings, key, sp, v)


def _auth_key(v):
    # OCPP-J 1.6 and the security whitepaper: the key is hexadecimal, at most 40 digits (20
    # bytes), and its decoded bytes (16 at least: the whitepaper's minimal length) are the Basic
    # auth password (security.password). Kept as the hex text; only hex digits ever reach the
    # header, so no line break can inject one of its own.
    if type(v) is not str or not 32 <= len(v) <= 40 or len(v) & 1:
        return None
    for c in v:
        if c not in "0123456789abcdefABCDEF":
            return None
    return v


def _text_key(v):
    # The rule older firmware kept a key by: 16..40 printable ASCII characters, no space.
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
