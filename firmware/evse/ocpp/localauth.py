# What the charge point knows of an idTag without asking: the local authorization list (only
# SendLocalList.py edits it) and the authorization cache (the idTagInfo of the central system's
# Authorize, StartTransaction and StopTransaction answers). Both live in flash, one entry a line,
# and are read there per use, one line at a time: a full list never sits in the heap, and this
# module is loaded for one use and dropped after (authorization.local()).
#   data/list.jsonl   the listVersion on the first line, then the entries
#   data/cache.jsonl  the entries, oldest first (at most _CACHE_MAX)
# An entry is a JSON array on one line (json.dumps escapes every line break inside a string):
#   [idTag in lower case, status, expiryDate as unix s (central system's clock) or null,
#    parentIdTag or null]
# idTags are CiString20: compared case-insensitively (ASCII, as str.lower() does on the board),
# so the key is the lower-case idTag and a line is found by its prefix without parsing the rest.
import json
import os
import time

from evse import ocpp
from evse.files import remove, replace

LIST = "data/list.jsonl"
CACHE = "data/cache.jsonl"
_CACHE_MAX = const(32)  # entries; ~3 KB of flash, and read whole (~3 KB of heap) only to update it


def key(tag):
    """The start of tag's line in either file."""
    return "[" + json.dumps(tag.lower()) + ","


def entry(line):
    """A line as [tag, status, expiry, parent], None when it is not one (damaged, version line)."""
    try:
        e = json.loads(line)
    except ValueError:
        return None
    if (type(e) is list and len(e) == 4 and type(e[0]) is str and type(e[1]) is str
            and (e[2] is None or type(e[2]) is int) and (e[3] is None or type(e[3]) is str)):
        return e
    return None


def line(tag, info):
    """The line of an idTagInfo (already checked against its schema) for tag."""
    t = info.get("expiryDate")
    t = ocpp.parse_iso(t) if type(t) is str else None
    parent = info.get("parentIdTag")
    if type(parent) is not str:
        parent = None
    return json.dumps([tag.lower(), info["status"], t, parent]) + "\n"


def find(path, tag):
    """tag's entry in the file at path, None if it has none."""
    k = key(tag)
    try:
        f = open(path)
    except OSError:
        return None
    with f:
        for x in f:
            if x.startswith(k):
                return entry(x)
    return None


def lookup(cp, tag):
    """What is known here of tag: [listed, status, expiry, parent] from the list (when enabled)
    or else the cache (when enabled); None if neither knows it. An Accepted entry whose
    expiryDate has passed is Expired."""
    s = cp.settings
    e = find(LIST, tag) if s["LocalAuthListEnabled"] else None
    listed = e is not None
    if e is None and s["AuthorizationCacheEnabled"]:
        e = find(CACHE, tag)
    if e is None:
        return None
    e[1] = _status(e)
    e[0] = listed
    return e


def _status(e):
    # An Accepted entry whose expiryDate has passed is Expired; one with an expiryDate while the
    # clock is not set this boot too (it cannot tell: fail safe).
    if e[1] == "Accepted" and e[2] is not None and (not ocpp.clock_set or e[2] <= ocpp.now()):
        return "Expired"
    return e[1]


def version(cp):
    """GetLocalListVersion's listVersion: -1 when the list is disabled, 0 when there is none."""
    if not cp.settings["LocalAuthListEnabled"]:
        return -1
    try:
        with open(LIST) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return 0


def write(path, lines):
    """The file at path replaced, atomically, by lines (a power cut leaves the old or the new)."""
    folder = path.rpartition("/")[0]
    try:
        os.mkdir(folder)
    except OSError:
        pass  # already there
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            for x in lines:
                f.write(x)
        replace(tmp, path)
    except OSError:
        remove(tmp)
        raise


def lines(path):
    try:
        with open(path) as f:
            return f.readlines()
    except OSError:
        return []


def remember(cp, tag, info, start):
    # An idTagInfo from the central system into the cache, unless the list holds the idTag
    # (the list beats the cache, so a listed idTag is never cached). An entry that changed goes
    # to the end; a full cache first drops an entry that is not valid (not Accepted, or
    # expired, or damaged), else the oldest. An unchanged entry is not written again (flash wear).
    # A StartTransaction.conf (`start`) whose status is not the list's: the central system's
    # list and ours differ, which it learns from StatusNotification(0, LocalListConflict).
    s = cp.settings
    e = find(LIST, tag) if s["LocalAuthListEnabled"] else None
    if e is not None:
        if start and _status(e) != info.get("status"):
            av = cp.availability
            av.pending[0] = [av.state(0), "LocalListConflict", None, ocpp.now(), time.ticks_ms()]
            cp.wake.set()
        return
    if not s["AuthorizationCacheEnabled"]:
        return
    new = line(tag, info)
    old = lines(CACHE)
    if new in old:
        return
    k = key(tag)
    keep = [x for x in old if not x.startswith(k)]
    if len(keep) >= _CACHE_MAX:
        out = 0
        now = ocpp.now()
        for i in range(len(keep)):
            e = entry(keep[i])
            if e is None or e[1] != "Accepted" or (e[2] is not None and e[2] <= now):
                out = i
                break
        del keep[out]
    keep.append(new)
    write(CACHE, keep)


def clear():
    """ClearCache: True when no cache is left in flash."""
    remove(CACHE)
    try:
        os.stat(CACHE)
    except OSError:
        return True
    return False
