# Incoming payloads checked against the official OCPP 1.6 schemas, in the compact form that
# host_tools/ocpp_schemas.py derives from them at build time: schemas/<name>.py holds S, one
# nested tuple of constants (in flash on a frozen build; loaded per use and dropped on an .mpy
# build, like an operation module). fault() names the first thing that breaks the schema with
# the 1.6 code that fits and the field's path in the schema, never text of the payload:
#   a required field missing                             OccurenceConstraintViolation
#   a wrong type, null included (null is not "absent")   TypeConstraintViolation
#   a value outside the enum, too long, not a date-time or URI, not a multiple of 0.1
#                                                        PropertyConstraintViolation
#   a property the schema does not allow                 FormationViolation
import sys

from evse import drop

# Node kinds, as host_tools/ocpp_schemas.py writes them (its docstring has the whole form).
_INT = const(1)
_NUM = const(2)
_STR = const(3)
_BOOL = const(4)
_OBJ = const(5)
_ARR = const(6)
_TENTHS = const(7)
_DATE = const(8)
_PACKAGE = const("evse.ocpp.schemas")
_OCCURENCE = const("OccurenceConstraintViolation")
_TYPE = const("TypeConstraintViolation")
_PROPERTY = const("PropertyConstraintViolation")
_FORMATION = const("FormationViolation")
_kept = {}  # name -> S of the resident schemas (the route table's "keep" rows)


def _datetime(v):
    # RFC 3339, strictly: the rare check is in its own module, loaded for it and dropped
    from evse.ocpp import rfc3339
    drop("evse.ocpp.rfc3339")
    return rfc3339.valid(v)


def _uri(v):
    # RFC 3986's outline: a scheme (a letter, then letters, digits, "+-."), ":", and no blank
    # nor control character anywhere (the operation checks the schemes it can fetch)
    i = v.find(":")
    if i < 1 or not v[0].isalpha():
        return False
    for c in v[1:i]:
        if not (c.isalpha() or c.isdigit() or c in "+-."):
            return False
    for c in v:
        if ord(c) <= 32 or ord(c) == 127:
            return False
    return True


def _join(head, path):
    if not path:
        return head
    return head + path if path[0] == "[" else head + "." + path


def _check(n, v):
    # None, or (code, path below this value): a return, not an exception, so the checker
    # needs no class of its own (it is resident: every CALL goes through it), and a valid
    # payload allocates nothing.
    t = type(v)
    if type(n) is int:
        if n == _INT:
            ok = t is int  # bool is its own type here, and 1.0 is no integer (Draft 4)
        elif n == _STR or n == _DATE:
            if t is str and n == _DATE and not _datetime(v):
                return _PROPERTY, ""
            ok = t is str
        elif n == _BOOL:
            ok = t is bool
        else:
            ok = t is int or t is float
            if ok and n == _TENTHS and t is float:
                # multipleOf 0.1: ten times the value is whole, up to the float's own rounding
                # (an ESP32's floats are single precision); inf and nan fail both tests.
                x = v * 10
                f = x % 1
                tol = 1e-6 * (abs(x) + 1)
                if not (f <= tol or 1 - f <= tol):
                    return _PROPERTY, ""
        return None if ok else (_TYPE, "")
    k = n[0]
    if k == _OBJ:
        if t is not dict:
            return _TYPE, ""
        for i in range(3, 3 + 2 * n[2], 2):  # the required ones come first
            if n[i] not in v:
                return _OCCURENCE, n[i]
        for key in v:
            try:
                i = n.index(key)  # names are the only strings at this level
            except ValueError:
                if n[1]:
                    return _FORMATION, ""
                continue
            f = _check(n[i + 1], v[key])
            if f:
                return f[0], _join(key, f[1])
    elif k == _STR:
        if t is not str:
            return _TYPE, ""
        if (n[1] and len(v) > n[1]) or (n[2] and v not in n[2]) or (n[3] == 1 and not _datetime(v)) \
                or (n[3] == 2 and not _uri(v)):
            return _PROPERTY, ""
    elif k == _ARR:
        if t is not list:
            return _TYPE, ""
        if len(v) < n[2]:
            return _OCCURENCE, ""
        if n[1]:
            for i in range(len(v)):
                f = _check(n[1], v[i])
                if f:
                    return f[0], _join("[%d]" % i, f[1])
    return None


def load(name, resident=False):
    """S of schemas/<name>.py. The module is dropped at once (a resident S is kept here,
    without it): the caller's reference keeps S for the check. A load that fails
    (MemoryError) leaves nothing behind. The package (an empty module) stays: dropped too, it
    was imported again for every check, every answer to a message of ours included, a second
    load in the heap at the moment a session needs it most (the first connection's)."""
    s = _kept.get(name)
    if s is None:
        mod = _PACKAGE + "." + name
        try:
            __import__(mod)
            s = sys.modules[mod].S
        finally:
            drop(mod)
        if resident:
            _kept[name] = s
    return s


def fault(name, payload, resident=False):
    """None when `payload` keeps the schema `name` ("RemoteStartTransaction",
    "StartTransactionResponse"); else (1.6 error code, description naming the field).
    MemoryError when the schema cannot be loaded; ImportError when none was generated."""
    f = _check(load(name, resident), payload)
    if f and f[0] == _FORMATION:
        return f[0], "property not allowed in " + (f[1] or "payload")
    return f and (f[0], f[1] or "payload")
