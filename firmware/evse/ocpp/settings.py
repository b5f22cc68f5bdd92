# OCPP configuration keys: each with a declared type and range; defaults, overrides from
# config.json's "ocpp" dict, changes from the central system persisted atomically in
# data/ocpp.json. A value from any of the three is checked the same way (Settings.check); what
# GetConfiguration lists and how ChangeConfiguration answers are in operations/, loaded per use.
from evse.files import load_json, save_json
from evse.log import log

_FILE = const("data/ocpp.json")

_MEASURANDS = const(("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"))
_ROTATIONS = const(("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR"))
_DIGITS = const(9)  # integer text: 9 digits stay a small int on a 32-bit port (< 2**30)

# One line per key: name, kind, W if the central system may write it, then for an integer its
# least and greatest value, then the default. Kinds: i integer, b bool (true/false), m list of
# measurands (at most <name>MaxLength of them), p phase rotation per connector (at most
# ConnectorPhaseRotationMaxLength items like 0.RST, 1.NotApplicable), c constant (only its
# default). One string constant instead of a dict of tuples: the table costs its text and
# nothing more in RAM; why each range is what it is sits next to it, in comments that cost nothing.
# Every interval below becomes milliseconds for the ticks arithmetic (time.ticks_add raises
# OverflowError beyond 2**29 ms, 6.2 days, on an ESP32), so none may reach that.
_TABLE = const(
    "\nAllowOfflineTxForUnknownId b W false"
    "\nAuthorizationCacheEnabled b W true"
    "\nAuthorizeRemoteTxRequests b R false"
    # s, 0 = off (OCPP); the grid restarts at midnight, so a day at most
    "\nClockAlignedDataInterval i W 0 86400 0"
    # s an authorised connector waits for the cable (connector.py): 0 would cancel every start
    # at once, an hour already keeps a public connector from the next driver long enough
    "\nConnectionTimeOut i W 1 3600 60"
    "\nConnectorPhaseRotation p W 0.RST"
    # connector 0 (grid to meter) and at most 8 connectors (boards/schema.json)
    "\nConnectorPhaseRotationMaxLength i R 9 9 9"
    # the largest answer (every key at its longest value and this many unknown keys of 50
    # characters, escaped) fits the WebSocket frame limit: tests/firmware/test_settings.py
    "\nGetConfigurationMaxKeys i R 16 16 16"
    # s; OCPP gives 0 no meaning here; a link silent for more than a day is lost anyway
    "\nHeartbeatInterval i W 1 86400 300"
    "\nLocalAuthorizeOffline b W true"
    "\nLocalPreAuthorize b W false"
    "\nMeterValuesAlignedData m W Energy.Active.Import.Register"
    # the four measurands the meter gives (_MEASURANDS), each once
    "\nMeterValuesAlignedDataMaxLength i R 4 4 4"
    "\nMeterValuesSampledData m W Energy.Active.Import.Register,Power.Active.Import"
    "\nMeterValuesSampledDataMaxLength i R 4 4 4"
    # s, 0 = off (OCPP); a day at most (transactions.py: ticks_add of it in ms)
    "\nMeterValueSampleInterval i W 0 86400 60"
    # s, 0 = at once; a state reported more than an hour late tells the driver nothing
    "\nMinimumStatusDuration i W 0 3600 0"
    # from the board (boards/schema.json: 1..8), never from config or the central system
    "\nNumberOfConnectors i R 1 8 1"
    # 0 = no retry; a reset that failed 5 times needs a person
    "\nResetRetries i W 0 5 1"
    "\nStopTransactionOnEVSideDisconnect b W true"
    "\nStopTransactionOnInvalidId b W true"
    "\nStopTxnAlignedData m W"
    "\nStopTxnAlignedDataMaxLength i R 4 4 4"
    "\nStopTxnSampledData m W"
    "\nStopTxnSampledDataMaxLength i R 4 4 4"
    # names what is built (operations/__init__.py's route table)
    "\nSupportedFeatureProfiles c R Core,RemoteTrigger"
    "\nSupportedFeatureProfilesMaxLength i R 2 2 2"
    # at least the first try; 10 tries x TransactionMessageRetryInterval: 10 h of waits at most
    "\nTransactionMessageAttempts i W 1 10 3"
    # s, times the attempt number (transactions.py); 0 would resend a refused message at once
    "\nTransactionMessageRetryInterval i W 1 3600 60"
    "\nUnlockConnectorOnEVSideDisconnect b W true"
    # s, 0 = off (OCPP); a half-open link is found after two intervals (ws.py)
    "\nWebSocketPingInterval i W 0 3600 60"
    # ours: s, the cap of the reconnect back-off (chargepoint.py, x1.5 with jitter); 0 would
    # retry in a tight loop, more than 10 min keeps a charger off line long after the backend
    # is back
    "\nReconnectBackoffMax i W 1 600 60"
    # ours: s a CALL waits for its answer before the link is taken for dead (rpc.py); a TLS
    # round trip on a slow mobile link takes seconds, and while one CALL waits, no other of
    # ours can go: 2 min at most
    "\nMessageTimeout i W 5 120 30"
    "\n")


def names():
    """Every key of the table, in its order."""
    return [x[:x.find(" ")] for x in _TABLE.split("\n") if x]


def spec(key):
    """(kind, writable, least, greatest, default) of a key, None if unknown. Exact match only:
    a key with a space or a line break in it could match a line of the table by its prefix."""
    if type(key) is not str or not key or " " in key or "\n" in key:
        return None
    i = _TABLE.find("\n" + key + " ")
    if i < 0:
        return None
    f = _TABLE[i + 1:_TABLE.find("\n", i + 1)].split(" ")
    kind = f[1]
    if kind == "i":
        lo = int(f[3])
        return kind, f[2] == "W", lo, int(f[4]), int(f[5])
    text = f[3] if len(f) > 3 else ""
    return kind, f[2] == "W", 0, 0, (text == "true") if kind == "b" else text


# Write-only: never listed by GetConfiguration, never logged.
AUTH_KEY = "AuthorizationKey"


def auth_key(v):
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


class Settings:
    def __init__(self, initial=None, connectors=1):
        self._v = {"NumberOfConnectors": connectors}
        self.listeners = []  # fn(key) called after a change
        src = initial or {}
        for k in src:
            if not self._take(k, src[k]):
                log("setting refused", "key", _shown(k), "from", "config.json")
        # A value persisted by an older firmware, or before a rule got stricter, is dropped
        # (the key falls back to config.json's value or the default) and the file cleaned.
        changed = load_json(_FILE, {})
        bad = type(changed) is not dict
        if bad:
            log("setting refused", "key", "*", "from", _FILE)
            changed = {}
        for k in list(changed):
            if not self._take(k, changed[k], True):
                log("setting refused", "key", _shown(k), "from", _FILE)
                del changed[k]
                bad = True
        if bad:
            save_json(_FILE, changed)
        self._changed = changed

    def check(self, key, v):
        """A value for `key` as it is kept, or None when the key has no such value. `v` is the
        central system's text or a JSON value of config.json / data/ocpp.json."""
        if key == AUTH_KEY:
            return auth_key(v)
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
        return _list(v, kind, self[key + "MaxLength"], self["NumberOfConnectors"])

    def _take(self, key, v, changed=False):
        # A value from config.json or (changed) data/ocpp.json, which holds only what the
        # central system may write; False when refused. The board, not a file, says how many
        # connectors there are.
        if key == "NumberOfConnectors":
            return False
        if changed and key != AUTH_KEY:
            sp = spec(key)
            if sp is None or not sp[1]:
                return False
        v = self.check(key, v)
        if v is None:
            return False
        self._v[key] = v
        return True

    def __getitem__(self, key):
        v = self._v.get(key)
        if v is None:
            sp = spec(key)
            if sp is None:
                return None
            v = self._v[key] = sp[4]  # looked up once, then kept
        return v

    def measurands(self, key):
        v = self[key]
        return [s for s in v.split(",") if s] if v else []

    def set(self, key, value):
        """A value for this boot only, not persisted (HeartbeatInterval from BootNotification),
        held within the key's range."""
        sp = spec(key)
        self._v[key] = min(max(value, sp[2]), sp[3])

    def store(self, key, value):
        """A checked value from the central system: kept, persisted, and every listener told."""
        self._v[key] = value
        self._changed[key] = value
        save_json(_FILE, self._changed)
        for fn in self.listeners:
            fn(key)


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
