# SendLocalList: the local authorization list replaced (Full) or changed (Differential) with its
# listVersion, in flash (localauth.py's data/list.jsonl). Only this edits the list. Accepted only
# once the whole new list is written; for anything else the list and its version stay as they
# were (the new one is written beside it and replaces it in one rename):
#   NotSupported     LocalAuthListEnabled is false
#   VersionMismatch  a Differential whose listVersion is not above the list's (OCPP 1.6 5.15)
#   Failed           more entries than SendLocalListMaxLength in the message, or than
#                    LocalAuthListMaxLength in the list that would result; an entry of a Full
#                    update without idTagInfo ("Required when UpdateType is Full"); a negative
#                    listVersion (-1 is GetLocalListVersion's "no list support"); flash failing
# A Full update with listVersion 0 is taken: OCTT sends one, though the errata bar 0.
# The old list is read and the new one written a line at a time: the heap holds the message
# and one key per idTag in it, never the whole list.
from evse.files import remove, replace
from evse.log import log
from evse.ocpp.authorization import local


def answer(cp, p):
    la = local()
    s = cp.settings
    v = p["listVersion"]
    full = p["updateType"] == "Full"
    items = p.get("localAuthorizationList") or ()
    if not s["LocalAuthListEnabled"]:
        status = "NotSupported"
    elif not full and v <= la.version(cp):
        status = "VersionMismatch"
    elif v < 0 or len(items) > s["SendLocalListMaxLength"] or (full and _bare(items)):
        status = "Failed"
    else:
        status = _write(la, v, full, items, s["LocalAuthListMaxLength"])
    log("local list", "version", v, "type", p["updateType"], "entries", len(items), "status", status)
    return {"status": status}


def _bare(items):
    for x in items:
        if "idTagInfo" not in x:
            return True
    return False


def _write(la, v, full, items, most):
    # The message's entries by key, the last of an idTag winning (idTags compare
    # case-insensitively, so "abc" and "ABC" are one entry).
    new = {}
    for i in range(len(items)):
        new[la.key(items[i]["idTag"])] = i
    path = la.LIST
    tmp = path + ".tmp"
    n = 0
    try:
        la.write(tmp, ("%d\n" % v,))  # the folder too
        with open(tmp, "a") as out:
            if not full:  # the entries the message does not name stay
                try:
                    old = open(path)
                except OSError:
                    old = None
                if old is not None:
                    with old:
                        old.readline()  # the version
                        for x in old:
                            e = la.entry(x)
                            if e is not None and la.key(e[0]) not in new:
                                out.write(x)
                                n += 1
            for i in new.values():
                info = items[i].get("idTagInfo")
                if info is not None:  # without: a Differential's delete
                    out.write(la.line(items[i]["idTag"], info))
                    n += 1
        if n > most:
            remove(tmp)
            return "Failed"
        replace(tmp, path)
    except OSError as e:
        remove(tmp)
        log("local list not written", "error", repr(e)[:40])
        return "Failed"
    return "Accepted"
