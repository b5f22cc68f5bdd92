# GetConfiguration: every key of the settings table in its order, or the ones asked for;
# AuthorizationKey never (it is write-only).
from evse.ocpp.rpc import field
from evse.ocpp.settings import names, spec


def answer(cp, p):
    keys = field(p, "key", list, req=False)
    for k in keys or ():
        field({"key": k}, "key", str, maxlen=50)
    known, unknown = listing(cp.settings, keys)
    res = {"configurationKey": known}
    if unknown:
        res["unknownKey"] = unknown
    return res


def listing(settings, keys):
    """(configurationKey list, unknownKey list) for `keys` (None: all)."""
    known, unknown = [], []
    for k in keys or names():
        sp = spec(k)
        if sp is None:
            unknown.append(k)
        else:
            known.append({"key": k, "readonly": not sp[1], "value": _text(settings[k])})
    return known, unknown


def _text(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)
