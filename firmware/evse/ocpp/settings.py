# OCPP configuration keys: each with a declared type and range; defaults, overrides from
# config.json's "ocpp" dict, changes from the central system persisted atomically in
# data/ocpp.json. A value from any of the three is checked by the same rules (setting_rules.py,
# loaded per use: once at boot, and for each ChangeConfiguration); what
# GetConfiguration lists and what ChangeConfiguration answers are in operations/. Here only what
# is resident: the table and the values.
from evse import drop
from evse.files import load_json, save_json

_FILE = const("data/ocpp.json")

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
    # root certificates per type (certstore.py: data/certs/, a file of at most 2.5 KB each)
    "\nCertificateStoreMaxLength i R 4 4 4"
    # SmartCharging (operations/SetChargingProfile.py): stack levels 0..8, at most 8 profiles of
    # at most 24 periods each (a day by the hour, MicroOcpp's 24 too): data/profiles.jsonl at its
    # largest, ~4 KB of text, is read per use into tuples of small ints (3.1 KB of heap on 32
    # bits: tests/firmware/test_smart_charging.py); a SetChargingProfile CALL of 24 periods is
    # ~2.4 KB parsed. A session holding them all runs on 32 bits in 38k frozen, 96k .mpy
    # (tests/ocpp/test_smart_charging.py); 12 periods a profile still needed 36k frozen
    "\nChargeProfileMaxStackLevel i R 8 8 8"
    "\nChargingScheduleAllowedChargingRateUnit c R Current,Power"
    "\nChargingScheduleMaxPeriods i R 24 24 24"
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
    "\nGetConfigurationMaxKeys i R 15 15 15"
    # s; OCPP gives 0 no meaning here; a link silent for more than a day is lost anyway
    "\nHeartbeatInterval i W 1 86400 300"
    # the local authorization list (localauth.py, operations/SendLocalList.py): in flash, read a
    # line at a time, so its length costs flash (~75 bytes an entry at the longest) and lookup
    # time, not heap: a card looks the list up before anything else, and the last of 128 entries
    # takes ~4 ms on the 32-bit unix port of a PC (256: 7.6 ms), some 0.1-0.2 s on an ESP32
    "\nLocalAuthListEnabled b W true"
    "\nLocalAuthListMaxLength i R 128 128 128"
    "\nLocalAuthorizeOffline b W true"
    "\nLocalPreAuthorize b W false"
    "\nMaxChargingProfilesInstalled i R 8 8 8"
    "\nMeterValuesAlignedData m W Energy.Active.Import.Register"
    # the six measurands the charger gives (setting_rules.py), each once: the meter's four and
    # the smart charging offer's two (Current.Offered, Power.Offered)
    "\nMeterValuesAlignedDataMaxLength i R 6 6 6"
    "\nMeterValuesSampledData m W Energy.Active.Import.Register,Power.Active.Import"
    "\nMeterValuesSampledDataMaxLength i R 6 6 6"
    # s, 0 = off (OCPP); a day at most (transactions.py: ticks_add of it in ms)
    "\nMeterValueSampleInterval i W 0 86400 60"
    # s, 0 = at once; a state reported more than an hour late tells the driver nothing
    "\nMinimumStatusDuration i W 0 3600 0"
    # from the board (boards/schema.json: 1..8), never from config or the central system
    "\nNumberOfConnectors i R 1 8 1"
    # 0 = no retry; a reset that failed 5 times needs a person
    "\nResetRetries i W 0 5 1"
    # OCPP 1.6 security whitepaper: 0 none yet, 1 Basic auth, 2 TLS + Basic, 3 TLS client
    # certificate. The value in force is config.json's (security.py) or higher, if the central
    # system raised it: only raised, checked, tried and kept by security.py, not by the rules
    "\nSecurityProfile i W 0 3 0"
    "\nStopTransactionOnEVSideDisconnect b W true"
    "\nStopTransactionOnInvalidId b W true"
    "\nStopTxnAlignedData m W"
    "\nStopTxnAlignedDataMaxLength i R 6 6 6"
    "\nStopTxnSampledData m W"
    "\nStopTxnSampledDataMaxLength i R 6 6 6"
    # connector 0 in ReserveNow: one connector kept free for the idTag
    # (authorization.py, operations/CancelReservation.py)
    "\nReserveConnectorZeroSupported b R true"
    # names what is built (operations/__init__.py's route table)
    # a message's entries are all in the heap at once, its frame in one block: 32 of the
    # longest (~166 bytes each, 5.3 KB) fit an ESP32's whole heap on an .mpy build (112k) and
    # its first region (56k) on a frozen one; 48 (8 KB) fit neither (tests/ocpp/test_local_list.py)
    "\nSendLocalListMaxLength i R 32 32 32"
    "\nSupportedFeatureProfiles c R Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,"
    "SmartCharging"
    "\nSupportedFeatureProfilesMaxLength i R 6 6 6"
    # UpdateFirmware's locations (evse/http.py): https:// verified with the OCPP connection's CA
    "\nSupportedFileTransferProtocols c R HTTP,HTTPS"
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


class Settings:
    def __init__(self, initial=None, connectors=1):
        self._v = {"NumberOfConnectors": connectors}
        self.listeners = []  # fn(key) called after a change
        # The rules are loaded for this check only, even when there is nothing to check: their
        # names are interned now, at start-up, not at a ChangeConfiguration late in a session.
        from evse.ocpp import setting_rules
        drop("evse.ocpp.setting_rules")
        keep, self.changed = setting_rules.boot(self, spec, initial or {}, load_json(_FILE, {}), _FILE)
        self._v.update(keep)

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
        self.changed[key] = value
        save_json(_FILE, self.changed)
        for fn in self.listeners:
            fn(key)
