# GetConfiguration: every key of the settings table in its order, or the ones asked for, each
# once; AuthorizationKey never (it is write-only). At most GetConfigurationMaxKeys keys may be
# asked for: that bound keeps the answer within one WebSocket frame (settings.py).
from evse.ocpp.rpc import OCCURENCE, CallError
from evse.ocpp.settings import names, spec

_PROFILE = const("SecurityProfile")


def answer(cp, p):
    keys = p.get("key")  # its form is the schema's (operations.answer checked it)
    if keys and len(keys) > cp.settings["GetConfigurationMaxKeys"]:
        # OCPP-J 1.6 OccurenceConstraintViolation: "Payload for Action is syntactically correct
        # but at least one of the fields violates occurence constraints": the array has more
        # items than this charge point allows, while the frame is well-formed (not
        # FormationViolation) and each key a valid string (not PropertyConstraintViolation).
        raise CallError(OCCURENCE, "more than GetConfigurationMaxKeys keys")
    known, unknown = listing(cp.settings, keys)
    res = {"configurationKey": known}
    if unknown:
        res["unknownKey"] = unknown
    return res


def listing(settings, keys):
    """(configurationKey list, unknownKey list) for `keys` (None: all); a key asked for twice
    is answered once."""
    known, unknown = [], []
    seen = [] if keys else None
    for k in keys or names():
        if seen is not None:
            if k in seen:
                continue
            seen.append(k)
        sp = spec(k)
        if sp is None:
            unknown.append(k)
        else:
            v = _profile(settings) if k == _PROFILE else settings[k]
            known.append({"key": k, "readonly": not sp[1], "value": _text(v)})
    return known, unknown


def _profile(settings):
    # The profile in force follows from config.json too, not only from the value a central
    # system raised it to (security.py)
    from evse import drop
    from evse.files import load_json
    from evse.ocpp import security
    drop("evse.ocpp.security")
    try:
        return security.in_force(load_json("config.json"), settings)
    except (MemoryError, TypeError, KeyError):  # no heap for the file now: the raised value
        return settings[_PROFILE]


def _text(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)
