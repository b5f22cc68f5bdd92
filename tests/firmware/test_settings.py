# OCPP configuration keys: each key's type and range, GetConfiguration / ChangeConfiguration
# rules, persistence, and what a bad persisted value becomes at boot.
import asyncio
import json
import os

import evse.log

LOG = []


def _log(event, *pairs):
    LOG.append(event + " " + " ".join(str(p) for p in pairs))


evse.log.log = _log  # before the firmware's modules take it: the refusals' lines, for the test to read

from evse.files import load_json, save_json  # noqa: E402
from evse.hal.sim import build  # noqa: E402
from evse.ocpp.chargepoint import ChargePoint  # noqa: E402
from evse.ocpp.journal import Journal  # noqa: E402
from evse.ocpp.operations.ChangeConfiguration import change  # noqa: E402
from evse.ocpp.operations.GetConfiguration import listing  # noqa: E402
from evse.ocpp.rpc import OCCURENCE, Rpc  # noqa: E402
from evse.ocpp.setting_rules import value  # noqa: E402
from evse.ocpp.settings import Settings, names, spec  # noqa: E402
import flashdir  # noqa: E402
from flashdir import done  # noqa: E402

CORE = ("AllowOfflineTxForUnknownId AuthorizationCacheEnabled AuthorizeRemoteTxRequests "
        "ClockAlignedDataInterval ConnectionTimeOut ConnectorPhaseRotation "
        "ConnectorPhaseRotationMaxLength GetConfigurationMaxKeys HeartbeatInterval "
        "LocalAuthorizeOffline LocalPreAuthorize MeterValuesAlignedData "
        "MeterValuesAlignedDataMaxLength MeterValuesSampledData MeterValuesSampledDataMaxLength "
        "MeterValueSampleInterval MinimumStatusDuration NumberOfConnectors ResetRetries "
        "StopTransactionOnEVSideDisconnect StopTransactionOnInvalidId StopTxnAlignedData "
        "StopTxnAlignedDataMaxLength StopTxnSampledData StopTxnSampledDataMaxLength "
        "SupportedFeatureProfiles SupportedFeatureProfilesMaxLength TransactionMessageAttempts "
        "TransactionMessageRetryInterval UnlockConnectorOnEVSideDisconnect WebSocketPingInterval").split()
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage",
              "Current.Offered", "Power.Offered")
TICKS_HALF = 1 << 29  # ms: time.ticks_add refuses a larger step on an ESP32 (and on unix32)
MAX_FRAME = 8192  # evse.ocpp.ws.connect's max_frame: what the board sends in one frame


def flash():
    """A fresh flash folder as the cwd, and the log read from there on."""
    LOG.clear()
    return flashdir.flash("stest")


def stored():
    return load_json("data/ocpp.json")


def keys_of(kind, writable=True):
    return [k for k in names() if spec(k)[0] == kind and spec(k)[1] == writable]


def test_every_core_key_is_listed_with_a_value():
    d = flash()
    s = Settings(None, 2)
    known, unknown = listing(s, None)
    names_ = [k["key"] for k in known]
    for k in CORE:
        assert k in names_, k
    assert unknown == []
    for k in known:
        assert type(k["value"]) is str and type(k["readonly"]) is bool
    by = {k["key"]: k for k in known}
    assert by["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
    assert by["HeartbeatInterval"]["readonly"] is False
    assert by["AuthorizeRemoteTxRequests"]["value"] == "false"
    done(d)


def test_every_key_declares_a_type_and_a_range_the_ticks_hold():
    # Each integer key's range holds its default, and its greatest value in ms is a step
    # time.ticks_add takes on an ESP32; TransactionMessageRetryInterval is multiplied by the
    # attempt number too (transactions.py).
    d = flash()
    s = Settings(None, 1)
    for k in names():
        kind, w, lo, hi, default = spec(k)
        assert kind in "ibmpc", k
        if kind == "i":
            assert 0 <= lo <= default <= hi, k
            assert hi * 1000 < TICKS_HALF, k
        assert value(s, k, spec(k), default) == default, k
    top = spec("TransactionMessageRetryInterval")[3] * spec("TransactionMessageAttempts")[3]
    assert top * 1000 < TICKS_HALF
    # ReconnectBackoffMax x1.5 with jitter (chargepoint.py)
    assert spec("ReconnectBackoffMax")[3] * 1500 < TICKS_HALF
    done(d)


def test_writable_integers_in_range_only():
    """Every writable integer key: its least and greatest value are Accepted; one below, one
    above, 20 digits and every form that is not plain digits are Rejected and nothing is stored."""
    d = flash()
    s = Settings(None, 2)
    for k in keys_of("i"):
        _, _, lo, hi, default = spec(k)
        bad = [str(hi + 1), "99999999999999999999", "-1", "+5", " 5", "5 ", "1_000", "5.0",
               "5e2", "0x10", "", "five", "\uff15", "1\n", "-0"]
        if lo > 0:
            bad.append(str(lo - 1))
        for text in bad:
            before = stored()
            assert change(s, k, text) == "Rejected", (k, text)
            assert stored() == before and s[k] == (before or {}).get(k, default), (k, text)
        for text in (str(lo), str(hi)):
            assert change(s, k, text) == "Accepted", (k, text)
            assert s[k] == int(text) and stored()[k] == int(text), (k, text)
    done(d)


def test_issue_cases_rejected():
    """Issue 12: MeterValueSampleInterval 99999999999999999999 was Accepted (then OverflowError
    in ticks arithmetic), a huge WebSocketPingInterval ended the link, MessageTimeout 0 or huge
    dropped it, "HeartbeatInterval i W" (a real key and a space) was Accepted and written."""
    d = flash()
    s = Settings(None, 1)
    assert change(s, "MeterValueSampleInterval", "99999999999999999999") == "Rejected"
    assert change(s, "WebSocketPingInterval", "99999999999999999999") == "Rejected"
    assert change(s, "WebSocketPingInterval", "4294967296") == "Rejected"
    assert change(s, "MessageTimeout", "0") == "Rejected"
    assert change(s, "MessageTimeout", "99999999999999999999") == "Rejected"
    assert change(s, "HeartbeatInterval i W", "5") == "NotSupported"
    assert stored() is None  # nothing written at all
    assert s["MeterValueSampleInterval"] == 60 and s["MessageTimeout"] == 30
    done(d)


def test_unknown_keys_exact_match_only():
    d = flash()
    s = Settings(None, 1)
    for key in ("NoSuchKey", "HeartbeatInterval i W", "HeartbeatInterval ", " HeartbeatInterval",
                "HeartbeatInterval\n", "\nHeartbeatInterval", "Heartbeat", "heartbeatinterval",
                "HeartbeatInterval\ni", "HeartbeatIntervalX", "", "HeartbeatInterval\t", "i W"):
        assert change(s, key, "5") == "NotSupported", key
        known, unknown = listing(s, [key])
        assert known == [] and unknown == [key], key
    assert stored() is None
    done(d)


def test_read_only_keys_rejected():
    d = flash()
    s = Settings(None, 1)
    for k in names():
        if not spec(k)[1]:
            assert change(s, k, str(s[k]) if s[k] is not False else "false") == "Rejected", k
    assert stored() is None
    done(d)


def test_bools_true_or_false_only():
    d = flash()
    s = Settings(None, 1)
    for k in keys_of("b"):
        before = stored()
        for text in ("", "1", "0", "yes", "tru", " true", "false ", "truefalse", "null"):
            assert change(s, k, text) == "Rejected", (k, text)
        assert stored() == before
        assert change(s, k, "FALSE") == "Accepted" and s[k] is False
        assert change(s, k, "true") == "Accepted" and s[k] is True
    done(d)


def test_measurand_lists_bounded_by_their_max_length():
    d = flash()
    s = Settings(None, 1)
    for k in keys_of("m"):
        assert s[k + "MaxLength"] == 6
        before = stored()
        for text in ("Bogus", "energy.active.import.register", "Voltage,Voltage",
                     "Voltage,,Current.Import", "Voltage,", ",Voltage", "Voltage;Current.Import",
                     ",".join(MEASURANDS + ("Voltage",)), "Energy.Active.Import.Register.Extra"):
            assert change(s, k, text) == "Rejected", (k, text)
            assert stored() == before
        assert change(s, k, ",".join(MEASURANDS)) == "Accepted"
        assert s.measurands(k) == list(MEASURANDS)
        assert change(s, k, "Voltage, Current.Import") == "Accepted"  # kept normalised
        assert stored()[k] == "Voltage,Current.Import"
        assert change(s, k, "") == "Accepted" and s.measurands(k) == []
    done(d)


def test_connector_phase_rotation_format():
    """ConnectorPhaseRotation: "Values are reported in CSL, formatted: 0.RST, 1.RST, 2.RTS"
    with NotApplicable, Unknown, RST, RTS, SRT, STR, TRS, TSR; index 0 is the grid connection to
    the main meter. At most ConnectorPhaseRotationMaxLength items."""
    d = flash()
    s = Settings(None, 2)
    k = "ConnectorPhaseRotation"
    for text in ("", "RST", "1.XYZ", "1.rst", "3.RST", "0.RST,0.RTS", "a.RST", "+1.RST", "1 .RST",
                 "1.RST,", "1.RST,,2.RST", "1:RST", "01234567890.RST", "1.RST.RST"):
        assert change(s, k, text) == "Rejected", text
    assert stored() is None
    assert change(s, k, "0.RST,1.NotApplicable,2.TSR") == "Accepted"
    assert change(s, k, "1.Unknown") == "Accepted" and s[k] == "1.Unknown"
    # more items than ConnectorPhaseRotationMaxLength, even on the largest board
    eight = Settings(None, 8)
    most = eight["ConnectorPhaseRotationMaxLength"]
    full = ",".join("%d.NotApplicable" % i for i in range(most))
    assert change(eight, k, full) == "Accepted"
    assert change(eight, k, full + ",0.RST") == "Rejected"
    done(d)


def test_authorization_key_is_write_only():
    d = flash()
    s = Settings(None, 1)
    # OCPP-J: hex, <= 40 digits (20 bytes), >= 16 bytes decoded: odd length, not hex, too
    # short or too long, line breaks, NUL, non-ASCII are Rejected
    for text in ("short", "0123456789abcdef0123456789abcdef012345678", "0123456789 abcdef",
                 "0123456789abcdef\r\nX-Evil: 1", "0123456789abcdef\x00", "0123456789abcdéf",
                 "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdeg",
                 "0123456789abcdef0123456789abcdef0123456789", "0123456789abcdef0123456789abcde",
                 "OCA_OCTT_admin_test1234", "0123456789abcdef0123"):
        assert change(s, "AuthorizationKey", text) == "Rejected", text
    assert stored() is None
    hexkey = "4f43415f4f4354545f61646d696e5f74657374"  # TC_073: "OCA_OCTT_admin_test"
    assert change(s, "AuthorizationKey", hexkey) == "Accepted"
    assert s["AuthorizationKey"] == hexkey
    assert change(s, "AuthorizationKey", "0123456789ABCDEF0123456789abcdef") == "Accepted"  # 16 bytes
    known, unknown = listing(s, None)
    assert "AuthorizationKey" not in [k["key"] for k in known]
    known, unknown = listing(s, ["AuthorizationKey"])
    assert known == [] and unknown == ["AuthorizationKey"]
    done(d)


def test_change_persists_and_tells_listeners():
    d = flash()
    s = Settings(None, 2)
    seen = []
    s.listeners.append(seen.append)
    assert change(s, "HeartbeatInterval", "42") == "Accepted"
    assert change(s, "LocalAuthorizeOffline", "FALSE") == "Accepted"
    assert change(s, "HeartbeatInterval", "0") == "Rejected"
    assert seen == ["HeartbeatInterval", "LocalAuthorizeOffline"]
    again = Settings({"HeartbeatInterval": 7}, 2)  # the change outlives a reboot, beats config
    assert again["HeartbeatInterval"] == 42 and again["LocalAuthorizeOffline"] is False
    assert "ocpp.json.tmp" not in os.listdir("data")
    done(d)


def test_initial_values_from_config_checked_like_changes():
    """config.json's "ocpp" dict: JSON numbers and bools are checked against the key's range
    and type; a refused one leaves the default, with one log line naming the key."""
    d = flash()
    s = Settings({"HeartbeatInterval": 5, "StopTxnSampledData": "Energy.Active.Import.Register",
                  "MeterValueSampleInterval": 10 ** 20, "WebSocketPingInterval": -1,
                  "MessageTimeout": 0, "ConnectionTimeOut": "15", "ResetRetries": True,
                  "LocalPreAuthorize": 1, "AuthorizeRemoteTxRequests": True,
                  "ReconnectBackoffMax": "+5", "GetConfigurationMaxKeys": 1000,
                  "NumberOfConnectors": 5, "NoSuchKey": 1,
                  "AuthorizationKey": "secret\r\nvalue12345"}, 2)
    assert s["HeartbeatInterval"] == 5 and s["ConnectionTimeOut"] == 15
    assert s.measurands("StopTxnSampledData") == ["Energy.Active.Import.Register"]
    assert s["AuthorizeRemoteTxRequests"] is True  # read-only for the central system, not for config
    assert s["MeterValueSampleInterval"] == 60 and s["WebSocketPingInterval"] == 60
    assert s["MessageTimeout"] == 30 and s["ResetRetries"] == 1 and s["LocalPreAuthorize"] is False
    assert s["ReconnectBackoffMax"] == 60 and s["GetConfigurationMaxKeys"] == spec("GetConfigurationMaxKeys")[4]
    assert s["NumberOfConnectors"] == 2 and s["AuthorizationKey"] is None
    refused = sorted(line.split(" ")[3] for line in LOG)
    assert refused == sorted(["MeterValueSampleInterval", "WebSocketPingInterval", "MessageTimeout",
                              "ResetRetries", "LocalPreAuthorize", "ReconnectBackoffMax",
                              "GetConfigurationMaxKeys", "NumberOfConnectors", "NoSuchKey",
                              "AuthorizationKey"]), LOG
    assert all("from config.json" in line for line in LOG), LOG
    assert not [line for line in LOG if "secret" in line]
    assert stored() is None  # config.json's values are not the central system's: not persisted
    done(d)


def test_bad_persisted_values_replaced_at_boot_and_file_cleaned():
    """An old data/ocpp.json with values out of range, of the wrong type, of keys that do not
    exist (what the prefix bug wrote) or that the central system cannot write: each replaced by
    the default (or config.json's value), one log line naming the key, the entry removed."""
    d = flash()
    save_json("data/ocpp.json", {
        "MeterValueSampleInterval": 99999999999999999999, "WebSocketPingInterval": 10 ** 12,
        "MessageTimeout": 0, "HeartbeatInterval i W": 5, "HeartbeatInterval": 42,
        "LocalPreAuthorize": "maybe", "MeterValuesSampledData": "Voltage,Bogus",
        "NumberOfConnectors": 4, "AuthorizeRemoteTxRequests": True, "ClockAlignedDataInterval": 900,
        "AuthorizationKey": "leaked\nsecret-value", "ConnectorPhaseRotation": "7.RST"})
    s = Settings({"MessageTimeout": 20}, 2)
    assert s["MeterValueSampleInterval"] == 60 and s["WebSocketPingInterval"] == 60
    assert s["MessageTimeout"] == 20  # config.json's value stands
    assert s["HeartbeatInterval"] == 42 and s["ClockAlignedDataInterval"] == 900
    assert s["LocalPreAuthorize"] is False and s["AuthorizeRemoteTxRequests"] is False
    assert s.measurands("MeterValuesSampledData") == ["Energy.Active.Import.Register", "Power.Active.Import"]
    assert s["NumberOfConnectors"] == 2 and s["AuthorizationKey"] is None
    assert s["ConnectorPhaseRotation"] == "0.RST"
    # the AuthorizationKey is never removed at boot (setting_rules.HEX): left unused
    assert stored() == {"HeartbeatInterval": 42, "ClockAlignedDataInterval": 900,
                        "AuthorizationKey": "leaked\nsecret-value"}
    refused = sorted(line.split(" ")[3] for line in LOG)
    assert refused == sorted(["MeterValueSampleInterval", "WebSocketPingInterval", "MessageTimeout",
                              "HeartbeatInterval?i?W", "LocalPreAuthorize", "MeterValuesSampledData",
                              "NumberOfConnectors", "AuthorizeRemoteTxRequests", "AuthorizationKey",
                              "ConnectorPhaseRotation"]), LOG
    assert all("from data/ocpp.json" in line for line in LOG), LOG
    assert not [line for line in LOG if "secret" in line]
    LOG.clear()
    Settings(None, 2)  # the next boot finds nothing more to say but the unused key
    assert [line.split(" ")[3] for line in LOG] == ["AuthorizationKey"], LOG
    LOG.clear()
    # a file that is not an object of keys at all
    save_json("data/ocpp.json", [1, 2])
    s = Settings(None, 2)
    assert s["HeartbeatInterval"] == 300 and stored() == {} and len(LOG) == 1
    done(d)


def test_authorization_key_of_older_firmware_kept_as_its_password():
    """An older firmware stored the AuthorizationKey set over OCPP as the password's text
    (16..40 printable characters): after the update it is the same password (hexlified in RAM
    only), hex-looking or not, and data/ocpp.json keeps it as it was (a rollback finds it). A
    key set from now on is hex, stored with its format marker; config.json's is text."""
    from binascii import unhexlify
    d = flash()
    for old in ("OCA_OCTT_admin_test1234", "0123456789abcdef0123456789abcdef"):
        save_json("data/ocpp.json", {"AuthorizationKey": old, "HeartbeatInterval": 42})
        s = Settings(None, 1)
        assert unhexlify(s["AuthorizationKey"]) == old.encode(), old
        assert stored() == {"AuthorizationKey": old, "HeartbeatInterval": 42}
        assert LOG == [], LOG
        Settings(None, 1)  # and again at the next boot: nothing migrated twice
        assert stored() == {"AuthorizationKey": old, "HeartbeatInterval": 42}
    hexkey = "0123456789abcdef0123456789abcdef"
    assert change(s, "AuthorizationKey", hexkey) == "Accepted"
    assert stored()["AuthorizationKeyHex"] is True
    s = Settings(None, 1)
    assert s["AuthorizationKey"] == hexkey  # a set one: hex, its bytes the password
    s = Settings({"AuthorizationKey": "config-password-1"}, 1)
    assert s["AuthorizationKey"] == hexkey  # the central system's beats config.json's
    save_json("data/ocpp.json", {})
    s = Settings({"AuthorizationKey": "0123456789abcdef"}, 1)  # config.json's: the text
    assert unhexlify(s["AuthorizationKey"]) == b"0123456789abcdef"
    assert LOG == [], LOG
    done(d)


def test_boot_interval_held_in_range():
    # BootNotification's interval becomes HeartbeatInterval for the boot (chargepoint.py).
    d = flash()
    s = Settings(None, 1)
    s.set("HeartbeatInterval", 10 ** 20)
    assert s["HeartbeatInterval"] == spec("HeartbeatInterval")[3]
    s.set("HeartbeatInterval", 30)
    assert s["HeartbeatInterval"] == 30 and stored() is None
    done(d)


# -- through the charge point: live effects, GetConfiguration's bounds ---------------------

BOARD = {"name": "unix-sim", "platform": "unix", "display": {},
         "connectors": [{"relay": {"type": "sim"}, "meter": {"type": "sim"}, "plug": {"type": "sim"}}] * 8}


class Wire:
    # The WebSocket as the RPC layer sees it: what the charge point sends is kept.
    ping_interval = 60

    def __init__(self):
        self.sent = []

    async def send(self, text):
        self.sent.append(text)


def charge_point(connectors=1):
    board = build(dict(BOARD, connectors=BOARD["connectors"][:connectors]), {"sim": {}, "connectors": connectors})
    cp = ChargePoint(Settings(None, connectors), board.outlets, Journal("data/journal.log"),
                     {"chargePointVendor": "V", "chargePointModel": "M"})
    cp.reg = "Accepted"
    cp.rpc = Rpc(Wire(), cp.dispatch, cp.settings["MessageTimeout"])
    return cp


def answer_to(cp, mid, action, payload):
    cp.rpc.conn.sent.clear()
    asyncio.run(cp.rpc.handle(json.dumps([2, mid, action, payload])))
    return cp.rpc.conn.sent[0]


def test_changes_apply_live():
    d = flash()
    cp = charge_point(2)
    for key, text in (("WebSocketPingInterval", "0"), ("MessageTimeout", "5"), ("ConnectionTimeOut", "3600"),
                      ("StopTransactionOnEVSideDisconnect", "false")):
        assert json.loads(answer_to(cp, "1", "ChangeConfiguration", {"key": key, "value": text}))[2] == {"status": "Accepted"}
    assert cp.rpc.conn.ping_interval == 0 and cp.rpc.timeout_s == 5
    for port in cp.ports:
        assert port.machine.timeout_s == 3600 and port.machine.stop_on_unplug is False
    # a Rejected change leaves all of it as it was
    answer_to(cp, "2", "ChangeConfiguration", {"key": "MessageTimeout", "value": "99999999999999999999"})
    assert cp.rpc.timeout_s == 5 and cp.settings["MessageTimeout"] == 5
    done(d)


def test_get_configuration_max_keys_and_duplicates():
    """GetConfigurationMaxKeys: "Maximum number of requested configuration keys in a
    GetConfiguration.req PDU." More is answered OccurenceConstraintViolation; a key asked for
    twice is answered once."""
    d = flash()
    cp = charge_point()
    most = cp.settings["GetConfigurationMaxKeys"]
    ask = ["HeartbeatInterval"] * most
    res = json.loads(answer_to(cp, "m", "GetConfiguration", {"key": ask}))
    assert res[0] == 3 and res[2]["configurationKey"] == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}] and "unknownKey" not in res[2]
    res = json.loads(answer_to(cp, "m1", "GetConfiguration", {"key": ask + ["NumberOfConnectors"]}))
    assert res[:3] == [4, "m1", OCCURENCE], res
    res = json.loads(answer_to(cp, "u", "GetConfiguration", {"key": ["X", "HeartbeatInterval", "X", "Y", "HeartbeatInterval"]}))
    assert [k["key"] for k in res[2]["configurationKey"]] == ["HeartbeatInterval"]
    assert res[2]["unknownKey"] == ["X", "Y"]
    done(d)


def test_largest_get_configuration_answer_fits_one_frame():
    """The largest answer the board can give: every key at its longest value (greatest
    integers, every measurand, a phase rotation for every connector of the largest board) and
    GetConfigurationMaxKeys unknown keys of 50 characters that JSON escapes the most, with a
    36-character messageId of the same: it fits the WebSocket frame limit, as the RPC layer
    sends it."""
    d = flash()
    cp = charge_point(8)
    s = cp.settings
    for k in names():
        kind, w, lo, hi, default = spec(k)
        if kind == "i":
            s._v[k] = hi
        elif kind == "b":
            s._v[k] = False
        elif kind == "m":
            s._v[k] = ",".join(MEASURANDS)
        elif kind == "p":
            s._v[k] = ",".join("%d.NotApplicable" % i for i in range(s["ConnectorPhaseRotationMaxLength"]))
    s._v["NumberOfConnectors"] = 8  # as it is, on the largest board
    most = s["GetConfigurationMaxKeys"]
    known, _ = listing(s, None)
    for k in known:
        assert k["value"] == _longest(k["key"]), k
    largest = 0
    # Pairs of characters that JSON writes in the same number of bytes: control characters
    # (\u0001: 6), quote and backslash (2), outside the BMP (4), 3- and 2-byte UTF-8, ASCII.
    for a, b in (("\x01", "\x02"), ("\"", "\\"), ("\U0001F600", "\U0001F601"), ("\u4e00", "\u4e01"),
                 ("\u07fe", "\u07ff"), ("a", "b")):
        mid = a * 36
        # distinct keys (a duplicate is answered once): the key's number in a and b
        unknown = [a * 44 + "".join(b if i >> j & 1 else a for j in range(6)) for i in range(most)]
        cp.rpc.conn.sent.clear()
        asyncio.run(cp.rpc.handle(json.dumps([2, mid, "GetConfiguration", {"key": unknown}])))
        one = json.loads(cp.rpc.conn.sent[0])
        assert one[1] == mid and one[2]["unknownKey"] == unknown, one
        # the answer to those keys, plus the most keys a request may name, known ones, as if
        # they had been asked for as well (more than any one request gets: at most `most` keys
        # are named, each known or unknown; without keys the answer is every known key alone,
        # checked below). Not every known key: the SmartCharging keys put that over the limit
        # for an answer no request can get.
        one[2]["configurationKey"] = sorted(known, key=lambda k: len(json.dumps(k)))[-most:]
        size = len(json.dumps(one).encode())
        largest = max(largest, size)
        del one[2]["unknownKey"]
        one[2]["configurationKey"] = known
        largest = max(largest, len(json.dumps(one).encode()))
    print("largest GetConfiguration answer:", largest, "bytes of", MAX_FRAME)
    assert largest <= MAX_FRAME, largest
    done(d)


def _longest(key):
    kind, w, lo, hi, default = spec(key)
    if kind == "i":
        return str(hi)
    if kind == "b":
        return "false"
    if kind == "m":
        return ",".join(MEASURANDS)
    if kind == "p":
        return ",".join("%d.NotApplicable" % i for i in range(9))
    return default
