"""Frames a hostile or broken central system sends, for tests/ocpp/test_hostile.py.

`frames(seed, n)` draws n frames, grouped by class (`CLASSES`), from one seeded generator:
the same seed gives the same frames. Each `Frame` knows what a 1.6 charge point owes it, from
the protocol rules (tests/README.md, /work/shared/reference/ocpp16-rules.md) and the official
schemas, never from the firmware's code:

- `answer`: the messageId its answer must carry; `ANY` when the frame has no usable id (not
  JSON, not a list, the id not a string of at most 36 characters): still answered with a
  CALLERROR ("A message that cannot be processed gets a CALLERROR, never silence"), whatever id
  the charge point puts in; `None` for the documented drops: a CALLRESULT or CALLERROR for a
  CALL never sent (OCPP-J has no answer to an answer) and a ping (answered by a pong, counted
  apart).
- `optional`: a frame whose message type is not the integer 2, 3 or 4. OCPP-J 1.6 section
  4.1.3: "When a server receives a message with a Message Type Number not in this list, it
  SHALL ignore the message payload"; the house rule "never silence" would answer it a
  CALLERROR. Either is taken (its messageId, when it has one, echoed); a CALLRESULT is not:
  nothing of it may run. Every such frame carries a usable id, so its answer, if any, is told
  apart from the next frame's.
- `closes`: the close code of a frame that must fail the WebSocket (RFC 6455: binary 1003,
  too big 1009, not UTF-8 1007); each costs a reconnect, so there are few of them.
- `valid`: for a well-formed CALL of an action the 1.6 schemas know, whether its payload is
  valid against the schema (date-time formats included); an invalid one must get a CALLERROR
  and nothing of it may run.
- `expect`: a stricter rule of a class: "NotImplemented", "NotSupported", "CALLERROR", or for
  ChangeConfiguration "not-accepted" (a value out of range) and "NotSupported" (no such key).

Frames that legitimately restart the board (a valid Reset) are never drawn. Every text frame
stays below the board's 8192-byte frame limit except the few drawn to exceed it.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jsonschema
import ocpp

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
ANY = "*"
MAX_FRAME = 8192  # the board's max_frame (evse.ocpp.ws.connect default)
MAX_TEXT = 8000  # what an ordinary hostile frame may weigh, so it never trips max_frame by chance

SUPPORTED = ("ChangeAvailability", "ChangeConfiguration", "ClearCache", "DataTransfer", "GetConfiguration",
             "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector", "TriggerMessage",
             "ReserveNow", "CancelReservation", "SendLocalList", "GetLocalListVersion",
             "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule",
             "InstallCertificate", "GetInstalledCertificateIds", "DeleteCertificate",
             "ExtendedTriggerMessage")
# The route table's "no" rows with a valid payload to start from (NOT_SUPPORTED_BASES below):
# FirmwareManagement is built, so the NotSupported class draws from the security CALLs still
# answered NotSupported, whichever those are when the suite runs.
NOT_SUPPORTED_BASES = {
    "DeleteCertificate": {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "ab",
                                                  "issuerKeyHash": "cd", "serialNumber": "1"}},
    "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
    "InstallCertificate": {"certificateType": "ManufacturerRootCertificate", "certificate": "x"},
}


def _not_supported() -> tuple[str, ...]:
    from host_tools.ocpp_schemas import routes
    return tuple(a for a, r in routes().items() if r[0] == "no" and a in NOT_SUPPORTED_BASES)


NOT_SUPPORTED = _not_supported()
# Supported but not drawn: a valid one starts a download and a reboot into another version
# (tests/ocpp/test_firmware_update.py and test_signed_update.py have their cases, malformed
# payloads included).
NOT_DRAWN = ("UpdateFirmware", "SignedUpdateFirmware")
# Actions the charge point sends: a central system calling them gets NotImplemented.
CP_ACTIONS = ("Authorize", "BootNotification", "DiagnosticsStatusNotification",
              "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StartTransaction",
              "StatusNotification", "StopTransaction")
KNOWN = set(SUPPORTED) | set(NOT_SUPPORTED) | set(NOT_DRAWN) | set(CP_ACTIONS)
HARMLESS = ("ClearCache", "GetConfiguration", "Heartbeat", "DataTransfer")  # for frame-shape classes

# The classes, in the order they run: the ones that change the board's state or cost a
# reconnect come last, so a failure there does not hide the findings of the others. The weight
# is each class's share of n.
CLASSES = {
    "not JSON": 4, "JSON not a frame": 4, "message type id": 3, "message id": 4, "unknown action": 3,
    "NotSupported action": 3, "answer for an id never sent": 3, "ping": 2, "fragmented": 3,
    "ClearCache": 3, "DataTransfer": 6, "GetConfiguration": 6, "TriggerMessage": 5, "UnlockConnector": 4,
    "RemoteStopTransaction": 4, "ReserveNow": 4, "CancelReservation": 2, "SendLocalList": 4, "GetLocalListVersion": 1,
    "SetChargingProfile": 5, "ClearChargingProfile": 2, "GetCompositeSchedule": 3, "ChangeAvailability": 5, "RemoteStartTransaction": 9, "Reset": 4,
    "ChangeConfiguration": 8, "InstallCertificate": 2, "GetInstalledCertificateIds": 1, "DeleteCertificate": 2,
    "ExtendedTriggerMessage": 2,
    "connection-failing": 0,
}
FAILING_FRAMES = 6  # binary, oversize, invalid UTF-8 (whole and fragmented): each costs a reconnect
DEEP_BIG = 2  # values nested 1000 or 3000 deep, per class (see Gen.deep)


@dataclass
class Frame:
    cls: str
    text: str | None = None  # a text message
    kind: str = "text"  # text, fragments, ping, binary, bytes-text (a text frame of raw bytes)
    raw: bytes | list[bytes] = b""  # the payload of the other kinds (fragments: a list)
    answer: str | None = ANY
    optional: bool = False  # the answer may be left out (message type not 2, 3 or 4)
    closes: int | None = None
    call: tuple | None = None  # (id, action, payload) of a well-formed CALL
    valid: bool | None = None
    expect: str | None = None
    sub: str = ""  # what was done to it (mutation), for the reports
    bad_format_only: bool = False  # invalid only by a date-time format

    @property
    def ident(self) -> str:
        return f"{self.cls}/{self.sub}" if self.sub else self.cls


# -- schema validity ------------------------------------------------------------------------

_checker = jsonschema.FormatChecker()
# RFC 3339 5.6: "T" and "Z" may be lower case; second 60 is a leap second
_DT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")


@_checker.checks("date-time", raises=ValueError)
def _date_time(v) -> bool:
    """RFC 3339 date-time (jsonschema checks this format only with an extra package)."""
    if not isinstance(v, str):
        return True
    if not _DT.match(v):
        return False
    v = v.upper().replace("Z", "+00:00")
    if v[17:19] == "60":
        v = v[:17] + "59" + v[19:]
    datetime.fromisoformat(v)  # ValueError: month 13, hour 25...
    return True


_validators: dict[tuple[str, bool], jsonschema.Draft4Validator] = {}


def schema_valid(action: str, payload, formats: bool = True) -> bool:
    """Valid against the official schema; `formats`: date-time checked too."""
    if (action, formats) not in _validators:
        _validators[action, formats] = jsonschema.Draft4Validator(
            json.loads((SCHEMAS / f"{action}.json").read_text()), format_checker=_checker if formats else None)
    return _validators[action, formats].is_valid(payload)


# -- what a frame is owed -------------------------------------------------------------------

def usable_id(msg) -> str | None:
    if isinstance(msg, list) and len(msg) >= 3 and isinstance(msg[1], str) and len(msg[1]) <= 36:
        return msg[1]
    return None


def owed(text: str) -> tuple[str | None, bool]:
    """(the messageId the answer to this text message must carry, ANY: a CALLERROR with any id,
    None when no answer is owed (an answer to a CALL never sent); whether it may be left out)."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return ANY, False
    if isinstance(msg, list) and msg and not (type(msg[0]) is int and 2 <= msg[0] <= 4):
        return usable_id(msg) or ANY, True  # not a message type of OCPP-J
    mid = usable_id(msg)
    if mid is None:
        return ANY, False
    if msg[0] in (3, 4):
        return None, False
    return mid, False


class Ids:
    def __init__(self):
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"h{self.n}"


def text_frame(cls: str, text: str, sub: str = "", **kw) -> Frame:
    answer, optional = owed(text)
    return Frame(cls, text=text, answer=answer, optional=optional, sub=sub, **kw)


def call_frame(cls: str, mid: str, action: str, payload, sub: str = "", expect: str | None = None,
               deep: str | None = None) -> Frame:
    """A well-formed CALL; `deep` replaces the string "__DEEP__" in the text (nesting too deep
    for CPython's json to write); `payload` then holds a shallow stand-in of the same shape."""
    text = json.dumps([2, mid, action, payload], ensure_ascii=False)
    if deep is not None:
        text = text.replace('"__DEEP__"', deep)
    valid = schema_valid(action, _shallow(payload)) if (SCHEMAS / f"{action}.json").exists() else None
    f = Frame(cls, text=text, answer=mid, call=(mid, action, payload), valid=valid, sub=sub, expect=expect)
    f.bad_format_only = valid is False and schema_valid(action, _shallow(payload), formats=False)
    return f


def _shallow(v):
    if v == "__DEEP__":
        return [[1]]
    if isinstance(v, dict):
        return {k: _shallow(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shallow(x) for x in v]
    return v


# -- valid payloads the mutations start from --------------------------------------------------

TX_PROFILE = {"chargingProfileId": 7, "transactionId": 101, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
              "chargingProfileKind": "Absolute", "validFrom": "2026-01-01T00:00:00Z", "validTo": "2027-01-01T00:00:00Z",
              "chargingSchedule": {"duration": 3600, "startSchedule": "2026-01-01T00:00:00.000Z",
                                   "chargingRateUnit": "A", "minChargingRate": 6.0,
                                   "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                                                              {"startPeriod": 600, "limit": 10}]}}
BASES = {
    "ChangeAvailability": [{"connectorId": 1, "type": "Operative"}, {"connectorId": 0, "type": "Inoperative"},
                           {"connectorId": 1, "type": "Inoperative"}],
    "ClearCache": [{}],
    # an expiry already past: Rejected, so no mutation of these leaves a reservation that would
    # hold connector 1 against the session at the end (tests/ocpp/test_reservation.py has those)
    "ReserveNow": [{"connectorId": 1, "expiryDate": "2026-01-01T00:00:00Z", "idTag": "T", "reservationId": 1},
                   {"connectorId": 0, "expiryDate": "2020-06-01T12:00:00+02:00", "idTag": "T",
                    "parentIdTag": "P", "reservationId": 2}],
    "CancelReservation": [{"reservationId": 1}],
    # the list of a charger whose sessions in this run are remote starts: harmless to change
    "SendLocalList": [{"listVersion": 1, "updateType": "Full"},
                      {"listVersion": 5, "updateType": "Differential",
                       "localAuthorizationList": [{"idTag": "L1", "idTagInfo": {"status": "Accepted"}},
                                                  {"idTag": "L2"},
                                                  {"idTag": "L3", "idTagInfo": {
                                                      "status": "Blocked", "expiryDate": "2026-01-01T00:00:00Z",
                                                      "parentIdTag": "P"}}]}],
    "GetLocalListVersion": [{}],
    # profiles the run may leave installed: the normal session after clears them all
    # (tests/ocpp/test_smart_charging.py has the rules)
    "SetChargingProfile": [{"connectorId": 1, "csChargingProfiles": TX_PROFILE},
                           {"connectorId": 0, "csChargingProfiles": {
                               **{k: v for k, v in TX_PROFILE.items() if k != "transactionId"},
                               "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
                               "recurrencyKind": "Daily", "stackLevel": 2}}],
    "ClearChargingProfile": [{}, {"id": 7}, {"connectorId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 0}],
    "GetCompositeSchedule": [{"connectorId": 1, "duration": 3600}, {"connectorId": 0, "duration": 86400,
                                                                    "chargingRateUnit": "W"}],
    "DataTransfer": [{"vendorId": "com.example", "messageId": "hello", "data": "x"}, {"vendorId": "v"}],
    "GetConfiguration": [{}, {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}],
    "RemoteStartTransaction": [{"idTag": "TAG1", "connectorId": 1}, {"idTag": "TAG2"},
                               {"idTag": "TAG3", "connectorId": 1, "chargingProfile": TX_PROFILE}],
    "RemoteStopTransaction": [{"transactionId": 101}],
    "Reset": [{"type": "Soft"}, {"type": "Hard"}],
    "UnlockConnector": [{"connectorId": 1}],
    "TriggerMessage": [{"requestedMessage": m} for m in ("BootNotification", "DiagnosticsStatusNotification",
                                                          "FirmwareStatusNotification", "Heartbeat")]
    + [{"requestedMessage": "MeterValues", "connectorId": 1}, {"requestedMessage": "StatusNotification", "connectorId": 1}],
    "ExtendedTriggerMessage": [{"requestedMessage": m} for m in ("LogStatusNotification", "FirmwareStatusNotification",
                                                                  "SignChargePointCertificate", "Heartbeat")]
    + [{"requestedMessage": "StatusNotification", "connectorId": 1}],
}
# A self-signed P-256 root (serial 5eed, valid 2026-2046): installed once as each type, then the
# store has it (Accepted, nothing more stored); its mutations are Rejected or schema errors.
HOSTILE_ROOT = (
    "-----BEGIN CERTIFICATE-----\nMIIBPTCB46ADAgECAgJe7TAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJIb3N0aWxl\n"
    "IHN1aXRlIHJvb3QwHhcNMjYwMTAxMDAwMDAwWhcNNDYwMTAxMDAwMDAwWjAdMRsw\n"
    "GQYDVQQDDBJIb3N0aWxlIHN1aXRlIHJvb3QwWTATBgcqhkjOPQIBBggqhkjOPQMB\n"
    "BwNCAAT6uDg8/aFifrUpHvutbGaBUzs8TIWJSflfX9QUcMoDcUK5uH9942KM/NLG\n"
    "zOU8Zhfc5c3tHF/WAckRxvbhDNOvoxMwETAPBgNVHRMBAf8EBTADAQH/MAoGCCqG\n"
    "SM49BAMCA0kAMEYCIQCyX9yE7MEQeqK6OUayfFJ2CsPdCdd1T9E2ZX0BCV4bHAIh\n"
    "AO9LJVInW7joyggj6gMxcQQSPLem8FwtubVwzubXY9bJ\n-----END CERTIFICATE-----\n")
HOSTILE_ROOT_HASH = {"hashAlgorithm": "SHA256",
                     "issuerNameHash": "915d41c0580536d996f93c31a49f4987ede04ec803c84d4cf09a50991bbaa9d4",
                     "issuerKeyHash": "36586c38f71c9a7a91d590b1b36eddb59781e88efcca83492e27044fa6e1269e",
                     "serialNumber": "5eed"}
BASES.update({
    "InstallCertificate": [{"certificateType": "ManufacturerRootCertificate", "certificate": HOSTILE_ROOT},
                           {"certificateType": "CentralSystemRootCertificate", "certificate": HOSTILE_ROOT}],
    "GetInstalledCertificateIds": [{"certificateType": "ManufacturerRootCertificate"},
                                   {"certificateType": "CentralSystemRootCertificate"}],
    # an absent certificate (NotFound) and the suite's root: deleted when its install came first
    "DeleteCertificate": [{"certificateHashData": {**HOSTILE_ROOT_HASH, "serialNumber": "1"}},
                          {"certificateHashData": HOSTILE_ROOT_HASH}],
})

HUGE = [2**31, 2**31 - 1, 2**32, 2**53 + 1, 2**63, 2**64, 10**20, 10**30, -1, -(2**31) - 1, -(10**20), 0.5, 1e308,
        -1e308, 1.0, 0]
BAD_DATES = ["", "yesterday", "2020-13-45T99:99:99Z", "2026-02-30T00:00:00Z", "2026-01-01", "2026-01-01 00:00:00",
             "2026-01-01T00:00:00", "T", "9999999999-01-01T00:00:00Z", "2026-01-01T24:00:00Z", "0"]
ODD_TEXT = ["", " ", "é", "😀", "\u0000", "\ud7ff", "\uffff", "\t\n", "\\", '"', "null", "true", "0", "𝄞" * 3,
            "a" * 21, "\u202e", "<script>"]


# -- the generator --------------------------------------------------------------------------

class Gen:
    def __init__(self, seed: int, config_keys: dict[str, str] | None = None):
        self.r = random.Random(seed)
        self.id = Ids()
        self.keys = config_keys or {}  # the board's configuration at the start (key -> value)
        self.big_deep = 0

    # small random values
    def word(self, lo=1, hi=12) -> str:
        return "".join(self.r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
                       for _ in range(self.r.randint(lo, hi)))

    def text(self) -> str:
        r = self.r
        pick = r.random()
        if pick < 0.3:
            return r.choice(ODD_TEXT)
        if pick < 0.5:
            return "".join(chr(r.choice([r.randint(0x20, 0x7e), r.randint(0xa0, 0xd7ff), r.randint(0xe000, 0xfffd),
                                          r.randint(0x10000, 0x10ffff)])) for _ in range(r.randint(1, 20)))
        return self.word(0, 40)

    def value(self, depth=0):
        """Any JSON value (a different type each time, at random)."""
        r = self.r
        k = r.randrange(7 if depth < 2 else 5)
        if k == 0:
            return None
        if k == 1:
            return r.choice([True, False])
        if k == 2:
            return r.choice(HUGE + [r.randint(-1000, 1000)])
        if k == 3:
            return self.text()
        if k == 4:
            return r.uniform(-1e6, 1e6)
        if k == 5:
            return [self.value(depth + 1) for _ in range(r.randint(0, 3))]
        return {self.word(): self.value(depth + 1) for _ in range(r.randint(0, 3))}

    def other_type(self, v):
        """A value of another JSON type than v."""
        r = self.r
        options = [None, True, 0, 1, -1, 1.5, "1", "", "TAG1", [], [1], {}, {"a": 1}]
        t = type(v)
        same = {bool: (bool,), int: (int,), float: (float, int), str: (str,), list: (list,), dict: (dict,)}.get(t, ())
        return r.choice([o for o in options if type(o) not in same and o is not v] or [None])

    def depth(self) -> int:
        """1..3000, drawn like deep()'s depths: the big ones under the same budget."""
        d = self.r.randint(1, 3000 if self.big_deep < DEEP_BIG else 999)
        self.big_deep += d >= 1000
        return d

    def deep(self) -> tuple[str, str]:
        # 1000 or 3000 levels (6 KB of brackets) build up to ~200 KB of objects in a parser:
        # a few per class (DEEP_BIG), as each may cost a reconnect on a board out of heap.
        d = self.r.choice([16, 64, 256, 1000, 3000] if self.big_deep < DEEP_BIG else [16, 64, 256])
        self.big_deep += d >= 1000
        if self.r.random() < 0.5:
            return "[" * d + "1" + "]" * d, f"deep list {d}"
        return '{"a":' * d + "1" + "}" * d, f"deep object {d}"

    # frame-shape classes
    def not_json(self) -> Frame:
        r = self.r
        mid = self.id()
        good = json.dumps([2, mid, "ClearCache", {}])
        head = '[2,"' + mid + '","ClearCache",'
        options = [
            lambda: good[:r.randint(0, len(good) - 1)],  # cut short
            lambda: good.replace(",", ";", 1),
            lambda: good + r.choice(["]", ",", "x", "[]", " 1"]),
            lambda: "[2,'" + mid + "','ClearCache',{}]",  # single quotes
            lambda: head + '{a:1}]',
            lambda: head + '{"a":NaN}]',
            lambda: head + '{"a":Infinity}]',
            lambda: head + '{"a":1,}]',
            lambda: head + '{"a":"\\x41"}]',
            lambda: head + '{"a":"\\u12"}]',
            lambda: head + '{"a":01}]',
            lambda: head + '{"a":1e}]',
            lambda: head + '{"a":"unterminated}]',
            lambda: head + '{"a":"tab\there"}]',
            lambda: "[" * self.depth(),  # unterminated nesting
            lambda: "{" * self.depth(),
            lambda: "]" * r.randint(1, 100),
            lambda: "",
            lambda: " " * r.randint(1, 50),
            lambda: self.word(1, 60),
            lambda: "".join(chr(r.randint(1, 0x7f)) for _ in range(r.randint(1, 80))),
            lambda: "nul",
            lambda: "tru",
            lambda: "1" * r.randint(1, 4000),
            lambda: "-",
            lambda: '"' + "a" * r.randint(0, 100),
            lambda: "[2]" * r.randint(2, 5),
        ]
        i = r.randrange(len(options))
        text = options[i]()
        try:
            json.loads(text)
            text = text + "}"  # the random draw happened to be JSON
        except (ValueError, RecursionError):
            pass
        # not JSON: nothing of it may run, however lenient the board's parser
        return text_frame("not JSON", text, f"form {i}", expect="CALLERROR")

    def not_a_frame(self) -> Frame:
        r = self.r
        mid = self.id()
        options = [
            lambda: {}, lambda: [], lambda: 2, lambda: "x", lambda: None, lambda: True, lambda: 1.5,
            lambda: [2], lambda: [2, mid], lambda: {"2": [mid, "ClearCache", {}]},
            lambda: [[2, mid, "ClearCache", {}], mid, "ClearCache", {}], lambda: [2, mid, "ClearCache", {}, "extra"],
            lambda: [2, mid, "ClearCache", {}, {}, {}], lambda: [2, mid, "ClearCache"], lambda: [2, mid, 5, {}],
            lambda: [2, mid, None, {}], lambda: [2, mid, ["ClearCache"], {}], lambda: [2, mid, {}, {}],
            lambda: [2, mid, "ClearCache", []], lambda: [2, mid, "ClearCache", None],
            lambda: [2, mid, "ClearCache", "{}"], lambda: [2, mid, "ClearCache", 1],
            lambda: [2, mid, "GetConfiguration", [["key"]]], lambda: [mid, mid, "ClearCache", {}],
            lambda: ["ClearCache", mid, 2, {}], lambda: [self.value() for _ in range(r.randint(0, 6))],
            lambda: {self.word(): self.value() for _ in range(r.randint(1, 4))},
        ]
        i = r.randrange(len(options))
        msg = options[i]()
        if isinstance(msg, list) and msg and not (type(msg[0]) is int and 2 <= msg[0] <= 4):
            msg[1:2] = [mid]  # may be left unanswered: its answer, if any, must be told apart
            msg += ["ClearCache", {}][:max(0, 3 - len(msg))]
        return text_frame("JSON not a frame", json.dumps(msg, ensure_ascii=False), f"form {i}")

    def message_type(self) -> Frame:
        r = self.r
        kind = r.choice([2.0, "2", True, False, 5, 0, 1, -1, 6, None, 2.5, "", [], {}, [2], 10**20, -2, "CALL",
                         2e0, 20])
        action = r.choice(HARMLESS + ("Reset", "RemoteStartTransaction"))
        payload = {"Reset": {"type": "Hard"},
                   "RemoteStartTransaction": {"idTag": "TYPE", "connectorId": 1}}.get(action, {})
        mid = self.id()
        text = json.dumps([kind, mid, action, payload])
        # Only the integer 2 is a CALL: nothing of this may run, not even a Reset.
        return text_frame("message type id", text, f"type {kind!r}", expect="CALLERROR")

    def message_id(self) -> Frame:
        r = self.r
        n = self.id()
        options = [
            lambda: (1, "number"), lambda: (1.5, "float"), lambda: (None, "null"), lambda: (True, "bool"),
            lambda: ([n], "list"), lambda: ({"id": n}, "object"), lambda: (n + "x" * (37 - len(n)), "37 chars"),
            lambda: (n + "x" * r.randint(40, 5000), "long"), lambda: ("", "empty"),
            lambda: (n + "x" * (36 - len(n)), "36 chars"), lambda: (n + " ", "space"),
            lambda: (n + "\u0000", "NUL"), lambda: (n + "\n\t", "control"),
            lambda: (n + "é" * r.randint(1, 30), "BMP non-ASCII"),
            lambda: (n + "😀" * r.randint(1, 12), "non-BMP"),
            lambda: (n + "𝄞\U0010fffd", "non-BMP edge"),
            lambda: (n + "\"'\\", "quotes"), lambda: (n + "\ufeff", "BOM"),
        ]
        i = r.randrange(len(options))
        mid, sub = options[i]()
        action = r.choice(("ClearCache", "GetConfiguration", "Heartbeat"))
        text = json.dumps([2, mid, action, {}], ensure_ascii=r.random() < 0.5)  # escaped or raw UTF-8
        if isinstance(mid, str) and usable_id([2, mid, action]) == mid and action != "Heartbeat":
            f = call_frame("message id", mid, action, {}, sub)
            f.text = text
            return f
        return text_frame("message id", text, sub)

    def unknown_action(self) -> Frame:
        r = self.r
        mid = self.id()
        options = [
            lambda: self.word(), lambda: "", lambda: " ", lambda: "reset", lambda: "RESET", lambda: "Reset ",
            lambda: " Reset", lambda: "Reset use", lambda: "Reset\nReset", lambda: "\nReset use",
            lambda: "RemoteStopTransaction keep", lambda: "GetDiagnostics no", lambda: "Authorize use cp",
            lambda: "Rese", lambda: "ResetX", lambda: "evse.ocpp.operations.Reset", lambda: "../Reset",
            lambda: "__init__", lambda: "answer", lambda: "Rését", lambda: "Reset😀", lambda: "😀",
            lambda: "x" * r.randint(50, 3000), lambda: "\u0000", lambda: "Reset\u0000",
            lambda: r.choice(CP_ACTIONS), lambda: "DataTransfer\t",
            # the security whitepaper's CALLs are no unknown actions (NotSupported until built,
            # then supported: the route table); CertificateSigned is not in this firmware's table
            lambda: "CertificateSigned",
        ]
        i = r.randrange(len(options))
        action = options[i]()
        assert action not in SUPPORTED and action not in NOT_SUPPORTED
        payload = r.choice([{}, {"type": "Hard"}, {"connectorId": 1, "idTag": "X"}, self.value()])
        text = json.dumps([2, mid, action, payload], ensure_ascii=r.random() < 0.5)
        expect = "NotImplemented" if isinstance(payload, dict) else "CALLERROR"
        return Frame("unknown action", text=text, answer=mid, sub=f"form {i}", expect=expect)

    def not_supported(self) -> Frame:
        r = self.r
        if not NOT_SUPPORTED:  # every row built: nothing is answered NotSupported any more
            return self.unknown_action()
        action = r.choice(NOT_SUPPORTED)
        base = copy.deepcopy(NOT_SUPPORTED_BASES[action])
        payload, sub = (base, "valid") if r.random() < 0.5 else self.mutate(action, base)
        f = call_frame("NotSupported action", self.id(), action, payload, f"{action} {sub}")
        if f.valid:  # an invalid payload may as well be refused for what it is: a CALLERROR
            f.expect = "NotSupported"
        return f

    def answer_frame(self) -> Frame:
        r = self.r
        mid = self.id()
        options = [
            lambda: [3, mid, {}], lambda: [3, mid, {"status": "Accepted"}], lambda: [3, mid, None],
            lambda: [3, mid, self.value()], lambda: [4, mid, "GenericError", "", {}],
            lambda: [4, mid, "NotAnErrorCode", "x", {}], lambda: [4, mid, "InternalError"],
            lambda: [4, mid, "InternalError", "x", {}, "extra"], lambda: [3, mid], lambda: [4, mid],
            lambda: [3, mid, {"currentTime": "2026-01-01T00:00:00Z", "interval": 10, "status": "Accepted"}],
            lambda: [3, str(r.randint(1, 50)), {"currentTime": "garbage", "interval": -5, "status": "Accepted"}],
            lambda: [4, str(r.randint(1, 50)), "GenericError", "", {}],
            lambda: [3, mid, {}, {}, {}], lambda: [4, mid, 5, None, None],
        ]
        i = r.randrange(len(options))
        msg = options[i]()
        # A reused board-like id ("1".."50") may hit a CALL the board has outstanding; such a
        # stray answer to its own CALL is the board's to judge, not ours to count as dropped.
        return text_frame("answer for an id never sent", json.dumps(msg), f"form {i}")

    def ping(self) -> Frame:
        # unique (a pong answers the ping with the same data), then random bytes up to 125
        tag = self.id().encode()
        data = tag + bytes(self.r.randrange(256) for _ in range(self.r.randint(0, 125 - len(tag))))
        return Frame("ping", kind="ping", raw=data, answer=None, sub=f"{len(data)} bytes")

    def fragmented(self) -> Frame:
        """A message in fragments: mostly ordinary CALLs, some hostile texts; split anywhere,
        inside a multi-byte character too (RFC 6455: the message is what counts)."""
        r = self.r
        pick = r.random()
        if pick < 0.4:
            f = self.not_json() if r.random() < 0.3 else self.message_id()
        elif pick < 0.7:
            action = r.choice(("ClearCache", "GetConfiguration", "DataTransfer", "TriggerMessage"))
            f = self.mutated_call(action)
        else:
            f = call_frame("", self.id(), "DataTransfer", {"vendorId": "v", "data": "é😀" * r.randint(1, 300)},
                           "multibyte")
        data = f.text.encode()
        cuts = sorted(r.sample(range(1, max(2, len(data))), min(r.randint(1, 6), max(1, len(data) - 1))))
        parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)], strict=True)]
        f.kind, f.raw, f.cls = "fragments", parts, "fragmented"
        f.sub = f"{len(parts)} parts, {f.ident}"
        return f

    # payload mutations
    def mutate(self, action: str, payload: dict) -> tuple[object, str]:
        """One to three mutations of a valid payload, -> (payload, what was done)."""
        subs = []
        p = payload
        for _ in range(self.r.choice([1, 1, 1, 2, 3])):
            p, what = self._mutate_once(action, p)
            subs.append(what)
        return p, "+".join(subs)

    def _locations(self, v, path=()):
        """Every (path, value) in the payload, containers included."""
        yield path, v
        if isinstance(v, dict):
            for k, x in v.items():
                yield from self._locations(x, path + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                yield from self._locations(x, path + (i,))

    @staticmethod
    def _set(root, path, value):
        if not path:
            return value
        node = root
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        return root

    def _mutate_once(self, action: str, payload):
        r = self.r
        p = copy.deepcopy(payload)
        locs = list(self._locations(p))
        leaves = [(path, v) for path, v in locs if path and not isinstance(v, dict | list)]
        dicts = [(path, v) for path, v in locs if isinstance(v, dict)]
        op = r.choice(["missing", "null", "type", "extra", "long", "enum", "number", "date", "deep", "whole"])
        if op == "missing" and locs[1:]:
            path, _ = r.choice([lp for lp in locs if lp[0] and isinstance(lp[0][-1], str)] or locs[1:2])
            parent = p
            for k in path[:-1]:
                parent = parent[k]
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            return p, f"missing {path[-1]}"
        if op == "null" and locs[1:]:
            path, _ = r.choice(locs[1:])
            return self._set(p, path, None), f"null {path[-1]}"
        if op == "type" and locs[1:]:
            path, v = r.choice(locs[1:])
            return self._set(p, path, self.other_type(v)), f"type {path[-1]}"
        if op == "extra" and dicts:
            path, d = r.choice(dicts)
            name = r.choice(["x", "extra", self.word(), "connectorId", "type", "", "😀", "__proto__"])
            while name in d:
                name += "_"
            d[name] = self.value()
            return p, f"extra at depth {len(path)}"
        if op == "long" and leaves:
            strs = [lp for lp in leaves if isinstance(lp[1], str)] or leaves
            path, _ = r.choice(strs)
            n = r.choice([21, 26, 37, 51, 256, 501, 1001, 3000])
            return self._set(p, path, r.choice(["x", "é", "😀"]) * n), f"long {path[-1]} {n}"
        if op == "enum" and leaves:
            strs = [lp for lp in leaves if isinstance(lp[1], str)] or leaves
            path, v = r.choice(strs)
            s = str(v)
            bad = r.choice([s.lower(), s.upper(), s + " ", " " + s, s[:-1], s + "x", "", self.word(), s + "\u0000"])
            return self._set(p, path, bad), f"enum {path[-1]}"
        if op == "number" and leaves:
            nums = [lp for lp in leaves if isinstance(lp[1], int | float) and not isinstance(lp[1], bool)] or leaves
            path, _ = r.choice(nums)
            return self._set(p, path, r.choice(HUGE)), f"number {path[-1]}"
        if op == "date" and leaves:
            dates = [lp for lp in leaves if isinstance(lp[1], str) and _DT.match(lp[1])]
            if dates:
                path, _ = r.choice(dates)
                return self._set(p, path, r.choice(BAD_DATES)), f"date {path[-1]}"
        if op == "deep" and locs[1:]:
            path, _ = r.choice(locs[1:])
            return self._set(p, path, "__DEEP__"), f"deep {path[-1]}"
        if op == "whole":
            return r.choice([[], [p], "x", None, 1, {"payload": p}]), "whole payload"
        # the op did not fit this payload: an extra property at the top
        if isinstance(p, dict):
            p["extra_" + self.word()] = self.value()
            return p, "extra at depth 0"
        return p, "unchanged"

    def mutated_call(self, action: str) -> Frame:
        r = self.r
        for _ in range(50):
            base = copy.deepcopy(r.choice(BASES[action]))
            if action == "DataTransfer" and r.random() < 0.3:
                data = self.value()
                payload, sub = {**base, "data": data}, f"data {type(data).__name__}"
            elif action == "GetConfiguration" and r.random() < 0.4:
                payload, sub = self.many_keys()
            elif action in ("ClearCache", "DataTransfer", "TriggerMessage", "ExtendedTriggerMessage", "UnlockConnector",
                            "RemoteStopTransaction", "GetLocalListVersion", "SendLocalList") and r.random() < 0.1:
                payload, sub = base, "valid"
            else:
                payload, sub = self.mutate(action, base)
            deep, what = self.deep() if "__DEEP__" in json.dumps(payload) else (None, "")
            f = call_frame(action, self.id(), action, payload, sub + (" " + what if what else ""), deep=deep)
            if action == "Reset" and f.valid:
                continue  # a valid Reset restarts the board: not part of this run
            if len(f.text.encode()) <= MAX_TEXT:
                return f
        raise AssertionError(f"no frame of {action} drawn in 50 tries")

    def many_keys(self) -> tuple[dict, str]:
        r = self.r
        real = list(self.keys) or ["HeartbeatInterval"]
        n = r.choice([1, 2, 16, 17, 32, 64, 65, 100, 150])
        keys = []
        for _ in range(n):
            k = r.random()
            keys.append(r.choice(real) if k < 0.5 else self.word(1, 50) if k < 0.8
                        else r.choice(real)[:r.randint(1, 10)] + " " + self.word(1, 5))
        if r.random() < 0.3:
            keys = [r.choice(real)] * n
        return {"key": keys}, f"{n} keys"

    def change_configuration(self) -> Frame:
        for _ in range(50):
            f = self._change_configuration()
            if len(f.text.encode()) <= MAX_TEXT:
                return f
        raise AssertionError("no ChangeConfiguration frame drawn in 50 tries")

    def _change_configuration(self) -> Frame:
        r = self.r
        keys = self.keys
        kinds = {"int": ["HeartbeatInterval", "MeterValueSampleInterval", "ConnectionTimeOut", "MessageTimeout",
                         "WebSocketPingInterval", "ClockAlignedDataInterval", "MinimumStatusDuration", "ResetRetries",
                         "TransactionMessageAttempts", "TransactionMessageRetryInterval", "ReconnectBackoffMax"],
                 "bool": ["AllowOfflineTxForUnknownId", "AuthorizationCacheEnabled", "LocalAuthorizeOffline",
                          "LocalPreAuthorize", "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId",
                          "UnlockConnectorOnEVSideDisconnect"],
                 "measurands": ["MeterValuesAlignedData", "MeterValuesSampledData", "StopTxnAlignedData",
                                "StopTxnSampledData"],
                 "read-only": ["GetConfigurationMaxKeys", "NumberOfConnectors", "SupportedFeatureProfiles",
                               "AuthorizeRemoteTxRequests", "MeterValuesSampledDataMaxLength"]}
        pick = r.random()
        expect = None
        if pick < 0.35:
            key = r.choice(kinds["int"])
            if r.random() < 0.3:
                # in range and harmless for the run (restored after each window)
                value, sub, expect = r.choice(["30", "60", "120", "300"]), "int in range", None
            else:
                value = r.choice(["-1", "-0x1", "abc", "", " ", "1.5", "1e3", "0x10", " 5", "5 ", "5\u0000", "٣",
                                  "99999999999999999999", "2147483648", "4294967296", "9223372036854775808",
                                  "1" * 400, "NaN", "inf", "true"])
                sub, expect = f"int out of range {value[:24]!r}", "not-accepted"
        elif pick < 0.5:
            key = r.choice(kinds["bool"])
            if r.random() < 0.2:
                value, sub = keys.get(key, "true"), "bool unchanged"
            else:
                value = r.choice(["yes", "no", "1", "0", "", "truee", "null", "t", " true"])
                sub, expect = f"bool bad {value!r}", "not-accepted"
        elif pick < 0.6:
            key = r.choice(kinds["measurands"])
            value = r.choice(["Foo", "Energy.Active.Import.Register,Bogus",
                              ",".join(["Energy.Active.Import.Register"] * 5), "Voltage,Current.Import,Power.Active.Import,"
                              "Energy.Active.Import.Register,Frequency", "é" * 100])
            sub, expect = "measurands bad", "not-accepted"
        elif pick < 0.7:
            key = r.choice(kinds["read-only"])
            value, sub, expect = r.choice(["1", "0", "100", "Core"]), "read-only", "not-accepted"
        else:
            real = r.choice(list(keys) or ["HeartbeatInterval"])
            key = r.choice([self.word(1, 50), real + " " + self.word(1, 4), real[:-1], real + "x", real.lower(),
                            real.upper(), " " + real, real + "\u0000", "é" + real[1:], "😀", "Heartbeat"])
            value, sub, expect = r.choice(["1", "60", "true", "", "x" * 500]), "no such key", "NotSupported"
        payload = {"key": key, "value": value}
        if r.random() < 0.15:  # and the payload itself mutated
            payload, m = self.mutate("ChangeConfiguration", payload)
            sub += " + " + m
            expect = None
        deep, what = self.deep() if "__DEEP__" in json.dumps(payload) else (None, "")
        f = call_frame("ChangeConfiguration", self.id(), "ChangeConfiguration", payload,
                       sub + (" " + what if what else ""), deep=deep)
        if not f.valid:
            f.expect = None
        elif expect:
            f.expect = expect
        return f

    def failing(self) -> list[Frame]:
        """The frames that must fail the connection (each one costs a reconnect)."""
        big = json.dumps([2, self.id(), "DataTransfer", {"vendorId": "v", "data": "x" * MAX_FRAME}])
        bad = '[2,"' + self.id() + '","DataTransfer",{"vendorId":"v","data":"'
        return [
            Frame("connection-failing", kind="binary", raw=json.dumps([2, self.id(), "ClearCache", {}]).encode(),
                  answer=None, closes=1003, sub="binary"),
            Frame("connection-failing", text=big, answer=None, closes=1009, sub="oversize"),
            Frame("connection-failing", kind="bytes-text", raw=bad.encode() + b"\xed\xa0\x80\"}]", answer=None,
                  closes=1007, sub="surrogate"),
            Frame("connection-failing", kind="bytes-text", raw=bad.encode() + b"\xc0\xaf\"}]", answer=None,
                  closes=1007, sub="overlong"),
            Frame("connection-failing", kind="fragments", raw=[bad.encode() + b"\xf4", b"\x90\x80\x80\"}]"],
                  answer=None, closes=1007, sub="above U+10FFFF, fragmented"),
            Frame("connection-failing", kind="fragments", raw=[bad.encode() + b"\xe2\x82", b"\"}]"], answer=None,
                  closes=1007, sub="cut sequence, fragmented"),
        ][:FAILING_FRAMES]


def size(f: Frame) -> int:
    if f.text is not None:
        return len(f.text.encode())
    return sum(map(len, f.raw)) if f.kind == "fragments" else len(f.raw)


def _bounded(make) -> Frame:
    """A frame of make() that stays below MAX_TEXT (drawn again, at most 50 times)."""
    for _ in range(50):
        f = make()
        if size(f) <= MAX_TEXT:
            return f
    raise AssertionError(f"no frame below {MAX_TEXT} bytes in 50 draws")


def frames(seed: int, n: int, config_keys: dict[str, str] | None = None) -> dict[str, list[Frame]]:
    """n frames (plus the few connection-failing ones), grouped by class in running order."""
    g = Gen(seed, config_keys)
    total = sum(CLASSES.values())
    makers = {
        "not JSON": g.not_json, "JSON not a frame": g.not_a_frame, "message type id": g.message_type,
        "message id": g.message_id, "unknown action": g.unknown_action, "NotSupported action": g.not_supported,
        "answer for an id never sent": g.answer_frame, "ping": g.ping, "fragmented": g.fragmented,
        "ChangeConfiguration": g.change_configuration,
    }
    out: dict[str, list[Frame]] = {}
    left = n
    names = [c for c in CLASSES if CLASSES[c]]
    for i, cls in enumerate(names):
        count = left if i == len(names) - 1 else round(n * CLASSES[cls] / total)
        left -= count
        make = makers.get(cls) or (lambda cls=cls: g.mutated_call(cls))
        g.big_deep = 0
        out[cls] = [_bounded(make) for _ in range(count)]
    out["connection-failing"] = g.failing()
    return out


@dataclass
class Tally:
    """What a run counted; `as_dict()` is the JSON artifact and the assertion messages' figures."""
    sent: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)  # "CALLRESULT" or the CALLERROR code
    drops: dict[str, int] = field(default_factory=dict)
    pongs: int = 0
    reconnects: int = 0
    reconnect_s: list[float] = field(default_factory=list)
    crashes: int = 0
    restarts: int = 0
    relay_closes: int = 0
    accepted_starts: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)  # failing class -> examples
    seconds: float = 0.0
    class_s: dict[str, float] = field(default_factory=dict)

    def fail(self, what: str, example: str) -> None:
        ex = self.failures.setdefault(what, [])
        ex.append(example)

    def as_dict(self) -> dict:
        return {"frames_sent": sum(self.sent.values()), "sent_by_class": self.sent, "answers_by_code": self.answers,
                "drops": self.drops, "pongs": self.pongs, "reconnects": self.reconnects,
                "reconnect_s_max": max(self.reconnect_s, default=0.0), "crashes": self.crashes,
                "restarts": self.restarts, "relay_closes": self.relay_closes,
                "accepted_remote_starts": self.accepted_starts, "seconds": round(self.seconds, 1),
                "seconds_by_class": self.class_s,
                "failures": {k: {"count": len(v), "examples": v[:5]} for k, v in self.failures.items()}}
