# OCPP configuration keys: defaults, overrides from config.json's "ocpp" dict, changes from the
# central system persisted atomically in data/ocpp.json. Also the small JSON file helpers the
# charge point uses for its persistent state.
import json
import os

_DIR = "data"
_FILE = "data/ocpp.json"

MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage")

# name: (kind, writable, default). kind: "i" int >= 0, "b" bool, "m" measurand list, "s" string
_KEYS = {
    "AllowOfflineTxForUnknownId": ("b", 1, False),
    "AuthorizationCacheEnabled": ("b", 1, True),
    "AuthorizeRemoteTxRequests": ("b", 0, False),
    "ClockAlignedDataInterval": ("i", 1, 0),
    "ConnectionTimeOut": ("i", 1, 60),
    "ConnectorPhaseRotation": ("s", 1, "0.RST"),
    "ConnectorPhaseRotationMaxLength": ("i", 0, 8),
    "GetConfigurationMaxKeys": ("i", 0, 64),
    "HeartbeatInterval": ("i", 1, 300),
    "LocalAuthorizeOffline": ("b", 1, True),
    "LocalPreAuthorize": ("b", 1, False),
    "MeterValuesAlignedData": ("m", 1, "Energy.Active.Import.Register"),
    "MeterValuesAlignedDataMaxLength": ("i", 0, 4),
    "MeterValuesSampledData": ("m", 1, "Energy.Active.Import.Register,Power.Active.Import"),
    "MeterValuesSampledDataMaxLength": ("i", 0, 4),
    "MeterValueSampleInterval": ("i", 1, 60),
    "MinimumStatusDuration": ("i", 1, 0),
    "NumberOfConnectors": ("i", 0, 1),
    "ResetRetries": ("i", 1, 1),
    "StopTransactionOnEVSideDisconnect": ("b", 1, True),
    "StopTransactionOnInvalidId": ("b", 1, True),
    "StopTxnAlignedData": ("m", 1, ""),
    "StopTxnAlignedDataMaxLength": ("i", 0, 4),
    "StopTxnSampledData": ("m", 1, ""),
    "StopTxnSampledDataMaxLength": ("i", 0, 4),
    "SupportedFeatureProfiles": ("s", 0, "Core,RemoteTrigger"),
    "SupportedFeatureProfilesMaxLength": ("i", 0, 2),
    "TransactionMessageAttempts": ("i", 1, 3),
    "TransactionMessageRetryInterval": ("i", 1, 60),
    "UnlockConnectorOnEVSideDisconnect": ("b", 1, True),
    "WebSocketPingInterval": ("i", 1, 0),
    # Vendor key: upper bound of the reconnect back-off in seconds.
    "ReconnectBackoffMax": ("i", 1, 60),
}
# Write-only: never listed by GetConfiguration, never logged.
AUTH_KEY = "AuthorizationKey"


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_json(path, obj):
    # Atomic: write a temp file, then rename over the old one (remove first where the
    # filesystem refuses to rename onto an existing file).
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _text(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def _parse(kind, text):
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
        if len(items) > 4 or any(s not in MEASURANDS for s in items):
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
        spec = _KEYS.get(key)
        if spec is None:
            return
        if type(value) is not str or spec[0] == "s":
            self._v[key] = value
        else:
            v = _parse(spec[0], value)
            if v is not None:
                self._v[key] = v

    def __getitem__(self, key):
        v = self._v.get(key)
        if v is None:
            spec = _KEYS.get(key)
            return spec[2] if spec else None
        return v

    def measurands(self, key):
        v = self[key]
        return [s for s in v.split(",") if s] if v else []

    def get_configuration(self, keys):
        """(configurationKey list, unknownKey list) for GetConfiguration."""
        known, unknown = [], []
        for k in keys or _KEYS:
            spec = _KEYS.get(k)
            if spec is None:
                unknown.append(k)
            else:
                known.append({"key": k, "readonly": not spec[1], "value": _text(self[k])})
        return known, unknown

    def change(self, key, text):
        """ChangeConfiguration status: Accepted, Rejected or NotSupported."""
        if key == AUTH_KEY:
            if not 16 <= len(text) <= 40:
                return "Rejected"
            value = text
        else:
            spec = _KEYS.get(key)
            if spec is None:
                return "NotSupported"
            if not spec[1]:
                return "Rejected"
            value = _parse(spec[0], text)
            if value is None:
                return "Rejected"
        self._v[key] = value
        self._changed[key] = value
        save_json(_FILE, self._changed)
        for fn in self.listeners:
            fn(key)
        return "Accepted"
