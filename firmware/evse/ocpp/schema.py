# Incoming payloads checked against the official OCPP 1.6 schemas, in the compact form that
# host_tools/ocpp_schemas.py derives from them at build time: schemas/<name>.py holds S, one
# nested tuple of constants (in flash on a frozen build; loaded per use and dropped on an .mpy
# build, like an operation module). fault() names the first thing that breaks the schema with
# the 1.6 code that fits and the field's path in the schema, never text of the payload:
#   a required field missing                             OccurenceConstraintViolation
#   a wrong type, null included (null is not "absent")   TypeConstraintViolation
#   a value outside the enum, too long, not a date-time, not a multiple of 0.1
#                                                        PropertyConstraintViolation
#   a property the schema does not allow                 FormationViolation
import sys

from evse import drop
from evse.ocpp import parse_iso

# Node kinds, as host_tools/ocpp_schemas.py writes them.
_INT = const(1)
_NUM = const(2)
_STR = const(3)
_BOOL = const(4)
_OBJ = const(5)
_ARR = const(6)
_PACKAGE = const("evse.ocpp.schemas.")
_OCCURENCE = const("OccurenceConstraintViolation")
_TYPE = const("TypeConstraintViolation")
_PROPERTY = const("PropertyConstraintViolation")
_FORMATION = const("FormationViolation")


class _Fault(Exception):
    # Raised at the faulty value; each level on the way out puts its name in front of path.
    def __init__(self, code, path=""):
        self.code = code
        self.path = path


def _join(head, path):
    if not path:
        return head
    return head + path if path[0] == "[" else head + "." + path


def _check(n, v):
    k = n[0]
    t = type(v)
    if k == _OBJ:
        if t is not dict:
            raise _Fault(_TYPE)
        for r in n[3]:
            if r not in v:
                raise _Fault(_OCCURENCE, r)
        names = n[1]
        for key in v:
            if key in names:
                try:
                    _check(n[2][names.index(key)], v[key])
                except _Fault as f:
                    f.path = _join(key, f.path)
                    raise
            elif n[4]:
                raise _Fault(_FORMATION)
    elif k == _STR:
        if t is not str:
            raise _Fault(_TYPE)
        if (n[1] and len(v) > n[1]) or (n[2] and v not in n[2]) or (n[3] and parse_iso(v) is None):
            raise _Fault(_PROPERTY)
    elif k == _INT:
        if t is not int:  # bool is its own type here, and 1.0 is no integer (Draft 4)
            raise _Fault(_TYPE)
    elif k == _NUM:
        if t is float:
            if n[1]:
                # multipleOf 0.1: ten times the value is whole, up to the float's own rounding
                # (an ESP32's floats are single precision); inf and nan fail both tests.
                x = v * 10
                f = x % 1
                tol = 1e-6 * (abs(x) + 1)
                if not (f <= tol or 1 - f <= tol):
                    raise _Fault(_PROPERTY)
        elif t is not int:
            raise _Fault(_TYPE)
    elif k == _BOOL:
        if t is not bool:
            raise _Fault(_TYPE)
    elif k == _ARR:
        if t is not list:
            raise _Fault(_TYPE)
        if len(v) < n[2]:
            raise _Fault(_OCCURENCE)
        if n[1]:
            for i in range(len(v)):
                try:
                    _check(n[1], v[i])
                except _Fault as f:
                    f.path = _join("[%d]" % i, f.path)
                    raise


def load(name, resident=False):
    """S of schemas/<name>.py. Dropped at once unless resident: the caller's reference keeps
    it for the check. A load that fails (MemoryError) leaves nothing behind."""
    mod = _PACKAGE + name
    try:
        __import__(mod)
        s = sys.modules[mod].S
    except MemoryError:
        drop(mod)
        raise
    if not resident:
        drop(mod)
    return s


def fault(name, payload, resident=False):
    """None when `payload` keeps the schema `name` ("RemoteStartTransaction",
    "StartTransactionResponse"); else (1.6 error code, description naming the field)."""
    s = load(name, resident)
    try:
        _check(s, payload)
    except _Fault as f:
        if f.code == _FORMATION:
            return f.code, "property not allowed in " + (f.path or "payload")
        return f.code, f.path or "payload"
    return None
