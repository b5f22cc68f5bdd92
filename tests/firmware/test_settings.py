# OCPP configuration keys: GetConfiguration / ChangeConfiguration rules and persistence.
import os

from evse.files import remove
from evse.ocpp.operations.ChangeConfiguration import change
from evse.ocpp.operations.GetConfiguration import listing
from evse.ocpp.settings import Settings
from mptest import requires_unix

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


def fresh(initial=None, n=2):
    requires_unix()
    remove("data/ocpp.json")
    return Settings(initial, n)


def test_every_core_key_is_listed_with_a_value():
    s = fresh()
    known, unknown = listing(s, None)
    names = [k["key"] for k in known]
    for k in CORE:
        assert k in names, k
    assert unknown == []
    for k in known:
        assert type(k["value"]) is str and type(k["readonly"]) is bool
    by = {k["key"]: k for k in known}
    assert by["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "2"}
    assert by["HeartbeatInterval"]["readonly"] is False
    assert by["AuthorizeRemoteTxRequests"]["value"] == "false"


def test_initial_values_from_config():
    s = fresh({"HeartbeatInterval": 5, "StopTxnSampledData": "Energy.Active.Import.Register"})
    assert s["HeartbeatInterval"] == 5
    assert s.measurands("StopTxnSampledData") == ["Energy.Active.Import.Register"]
    assert s.measurands("StopTxnAlignedData") == []


def test_unknown_keys_reported():
    s = fresh()
    known, unknown = listing(s, ["HeartbeatInterval", "NoSuchKey"])
    assert [k["key"] for k in known] == ["HeartbeatInterval"] and unknown == ["NoSuchKey"]
    assert change(s, "NoSuchKey", "1") == "NotSupported"


def test_change_validates_and_persists():
    s = fresh()
    assert change(s, "HeartbeatInterval", "abc") == "Rejected"
    assert change(s, "HeartbeatInterval", "-1") == "Rejected"
    assert change(s, "LocalAuthorizeOffline", "maybe") == "Rejected"
    assert change(s, "MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == "Rejected"
    assert change(s, "NumberOfConnectors", "3") == "Rejected"  # read-only
    seen = []
    s.listeners.append(seen.append)
    assert change(s, "HeartbeatInterval", "42") == "Accepted"
    assert change(s, "LocalAuthorizeOffline", "FALSE") == "Accepted"
    assert seen == ["HeartbeatInterval", "LocalAuthorizeOffline"]
    again = Settings({"HeartbeatInterval": 7}, 2)  # the change outlives a reboot, beats config
    assert again["HeartbeatInterval"] == 42 and again["LocalAuthorizeOffline"] is False
    assert "data/ocpp.json.tmp" not in ["data/" + n for n in os.listdir("data")]


def test_authorization_key_is_write_only():
    s = fresh()
    assert change(s, "AuthorizationKey", "short") == "Rejected"
    assert change(s, "AuthorizationKey", "0123456789abcdef0123") == "Accepted"
    assert s["AuthorizationKey"] == "0123456789abcdef0123"
    known, unknown = listing(s, None)
    assert "AuthorizationKey" not in [k["key"] for k in known]
    known, unknown = listing(s, ["AuthorizationKey"])
    assert known == [] and unknown == ["AuthorizationKey"]
    remove("data/ocpp.json")
    try:
        os.rmdir("data")
    except OSError:
        pass
