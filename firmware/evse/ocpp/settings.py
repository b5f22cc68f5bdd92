# OCPP configuration keys: defaults, overrides from config.json's "ocpp" dict, changes from the
# central system persisted atomically in data/ocpp.json. What GetConfiguration lists and how
# ChangeConfiguration checks a value are in operations/GetConfiguration.py and
# operations/ChangeConfiguration.py, loaded per use.
from evse.files import load_json, save_json

_FILE = const("data/ocpp.json")

_MEASURANDS = const(("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"))

# One line per key: name, kind (i int >= 0, b bool, m measurand list, s string), W if the
# central system may write it, default. One string constant instead of a dict of tuples: the
# table costs its text and nothing more in RAM.
_TABLE = const("""
AllowOfflineTxForUnknownId b W false
AuthorizationCacheEnabled b W true
AuthorizeRemoteTxRequests b R false
ClockAlignedDataInterval i W 0
ConnectionTimeOut i W 60
ConnectorPhaseRotation s W 0.RST
ConnectorPhaseRotationMaxLength i R 8
GetConfigurationMaxKeys i R 64
HeartbeatInterval i W 300
LocalAuthorizeOffline b W true
LocalPreAuthorize b W false
MeterValuesAlignedData m W Energy.Active.Import.Register
MeterValuesAlignedDataMaxLength i R 4
MeterValuesSampledData m W Energy.Active.Import.Register,Power.Active.Import
MeterValuesSampledDataMaxLength i R 4
MeterValueSampleInterval i W 60
MinimumStatusDuration i W 0
NumberOfConnectors i R 1
ResetRetries i W 1
StopTransactionOnEVSideDisconnect b W true
StopTransactionOnInvalidId b W true
StopTxnAlignedData m W
StopTxnAlignedDataMaxLength i R 4
StopTxnSampledData m W
StopTxnSampledDataMaxLength i R 4
SupportedFeatureProfiles s R Core,RemoteTrigger
SupportedFeatureProfilesMaxLength i R 2
TransactionMessageAttempts i W 3
TransactionMessageRetryInterval i W 60
UnlockConnectorOnEVSideDisconnect b W true
WebSocketPingInterval i W 60
ReconnectBackoffMax i W 60
MessageTimeout i W 30
""")
# The last two are ours: the upper bound of the reconnect back-off, and how long a CALL waits
# for its answer before the connection is taken for dead (seconds).


def names():
    """Every key of the table, in its order."""
    return [x[:x.find(" ")] for x in _TABLE.split("\n") if x]


def spec(key):
    """(kind, writable, default value) of a key, None if unknown."""
    i = _TABLE.find("\n" + key + " ")
    if i < 0 or not key:
        return None
    line = _TABLE[i + 1:_TABLE.find("\n", i + 1)].split(" ", 3)
    kind = line[1]
    text = line[3] if len(line) > 3 else ""
    return kind, line[2] == "W", text if kind in "ms" else parse(kind, text)


# Write-only: never listed by GetConfiguration, never logged.
AUTH_KEY = "AuthorizationKey"


def parse(kind, text):
    # Central-system text -> value, or None when the value is not acceptable.
    if kind == "b":
        t = text.lower()
        return True if t == "true" else False if t == "false" else None
    if kind == "i":
        try:
            n = int(text)
        except ValueError:
            return None
        return n if n >= 0 else None
    if kind == "m":
        items = [s.strip() for s in text.split(",") if s.strip()]
        if len(items) > 4 or any(s not in _MEASURANDS for s in items):
            return None
        return ",".join(items)
    return text if len(text) <= 500 else None


class Settings:
    def __init__(self, initial=None, connectors=1):
        self._v = {}
        self._changed = load_json(_FILE, {})
        self.listeners = []  # fn(key) called after a change
        src = initial or {}
        for k in src:
            self._set(k, src[k])
        for k in self._changed:
            self._set(k, self._changed[k])
        self._v["NumberOfConnectors"] = connectors

    def _set(self, key, value):
        # Initial values may come as JSON types or as text.
        if key == AUTH_KEY:
            self._v[key] = value
            return
        sp = spec(key)
        if sp is None:
            return
        if type(value) is not str or sp[0] == "s":
            self._v[key] = value
        else:
            v = parse(sp[0], value)
            if v is not None:
                self._v[key] = v

    def __getitem__(self, key):
        v = self._v.get(key)
        if v is None:
            sp = spec(key)
            if sp is None:
                return None
            v = self._v[key] = sp[2]  # looked up once, then kept
        return v

    def measurands(self, key):
        v = self[key]
        return [s for s in v.split(",") if s] if v else []

    def set(self, key, value):
        """A value for this boot only, not persisted (HeartbeatInterval from BootNotification)."""
        self._v[key] = value

    def store(self, key, value):
        """A checked value from the central system: kept, persisted, and every listener told."""
        self._v[key] = value
        self._changed[key] = value
        save_json(_FILE, self._changed)
        for fn in self.listeners:
            fn(key)
