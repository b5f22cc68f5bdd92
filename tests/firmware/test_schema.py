# The schema check of incoming payloads (evse/ocpp/schema.py) on the generated compact schemas:
# the 1.6 code for each kind of fault, the field named by its path, nothing of the payload echoed,
# and the per-use loading. tests/test_ocpp_schemas.py compares its verdicts with jsonschema's.
import sys

import micropython
from evse.ocpp import schema
from evse.ocpp.schema import fault

PERIOD = {"startPeriod": 0, "limit": 16.1}
PROFILE = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
           "chargingProfileKind": "Absolute",
           "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [PERIOD]}}


def start(**profile_changes):
    prof = dict(PROFILE)
    prof.update(profile_changes)
    return {"idTag": "T1", "connectorId": 1, "chargingProfile": prof}


def schedule(*periods, **changes):
    s = {"chargingRateUnit": "A", "chargingSchedulePeriod": list(periods)}
    s.update(changes)
    return s


def test_valid_payloads_pass():
    assert fault("RemoteStartTransaction", start()) is None
    assert fault("RemoteStartTransaction", {"idTag": "T1"}) is None
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule(
        {"startPeriod": 0, "limit": 32}, {"startPeriod": 60, "limit": 0.3, "numberPhases": 3},
        minChargingRate=6.0), validFrom="2026-11-26T00:33:07.123Z")) is None
    assert fault("GetConfiguration", {}) is None and fault("GetConfiguration", {"key": []}) is None
    assert fault("DataTransfer", {"vendorId": "v", "data": "x"}) is None
    assert fault("ClearCache", {}) is None
    assert fault("RemoteStopTransaction", {"transactionId": -1}) is None


def test_missing_required_is_occurence():
    assert fault("RemoteStartTransaction", {}) == ("OccurenceConstraintViolation", "idTag")
    prof = {"chargingProfilePurpose": "TxProfile"}  # issue 12: a profile with only a purpose
    assert fault("RemoteStartTransaction", {"idTag": "T", "chargingProfile": prof}) == \
        ("OccurenceConstraintViolation", "chargingProfile.chargingProfileId")
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule({"startPeriod": 0}))) == \
        ("OccurenceConstraintViolation", "chargingProfile.chargingSchedule.chargingSchedulePeriod[0].limit")


def test_null_and_wrong_types_are_type_violations():
    T = "TypeConstraintViolation"
    assert fault("RemoteStartTransaction", {"idTag": "T", "connectorId": None}) == (T, "connectorId")
    assert fault("RemoteStartTransaction", {"idTag": None}) == (T, "idTag")
    assert fault("RemoteStartTransaction", {"idTag": "T", "connectorId": True}) == (T, "connectorId")
    assert fault("RemoteStartTransaction", {"idTag": "T", "connectorId": 1.0}) == (T, "connectorId")
    assert fault("RemoteStartTransaction", {"idTag": "T", "connectorId": "1"}) == (T, "connectorId")
    assert fault("RemoteStartTransaction", {"idTag": "T", "chargingProfile": []}) == (T, "chargingProfile")
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule({"startPeriod": "0", "limit": 1}))) == \
        (T, "chargingProfile.chargingSchedule.chargingSchedulePeriod[0].startPeriod")
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule(PERIOD, {"startPeriod": 1, "limit": "9"}))) == \
        (T, "chargingProfile.chargingSchedule.chargingSchedulePeriod[1].limit")
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule(PERIOD, 5))) == \
        (T, "chargingProfile.chargingSchedule.chargingSchedulePeriod[1]")
    assert fault("GetConfiguration", {"key": None}) == (T, "key")  # issue 12: null is not "all"
    assert fault("GetConfiguration", {"key": ["a", 5]}) == (T, "key[1]")
    assert fault("DataTransfer", {"vendorId": "v", "data": {"a": 1}}) == (T, "data")
    assert fault("StartTransactionResponse", {"idTagInfo": {"status": "Accepted"}, "transactionId": "7"}) == \
        (T, "transactionId")


def test_bad_values_are_property_violations():
    P = "PropertyConstraintViolation"
    assert fault("RemoteStartTransaction", {"idTag": "X" * 21}) == (P, "idTag")
    assert fault("RemoteStartTransaction", {"idTag": "\U0001F600" * 20}) is None  # characters, not bytes
    assert fault("Reset", {"type": "Warm"}) == (P, "type")
    assert fault("RemoteStartTransaction", start(chargingProfileKind="Sometimes")) == \
        (P, "chargingProfile.chargingProfileKind")
    assert fault("RemoteStartTransaction", start(validTo="tomorrow")) == (P, "chargingProfile.validTo")
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule({"startPeriod": 0, "limit": 7.25}))) == \
        (P, "chargingProfile.chargingSchedule.chargingSchedulePeriod[0].limit")
    assert fault("RemoteStartTransaction", start(chargingSchedule=schedule(PERIOD, minChargingRate=float("inf")))) == \
        (P, "chargingProfile.chargingSchedule.minChargingRate")
    assert fault("BootNotificationResponse", {"status": "Accepted", "currentTime": "x", "interval": 1}) == \
        (P, "currentTime")


def test_extra_property_is_formation_violation_and_not_echoed():
    secret = "<script>\U0001F600"
    assert fault("RemoteStartTransaction", {"idTag": "T", secret: 1}) == \
        ("FormationViolation", "property not allowed in payload")
    f = fault("RemoteStartTransaction", start(chargingSchedule=schedule(dict(PERIOD, x=1))))
    assert f == ("FormationViolation",
                 "property not allowed in chargingProfile.chargingSchedule.chargingSchedulePeriod[0]")
    f = fault("ChangeConfiguration", {"key": "k", "value": secret * 100})
    assert f[0] == "PropertyConstraintViolation" and secret not in f[1]


def test_per_use_schema_is_dropped_and_resident_one_stays():
    fault("Reset", {"type": "Hard"})
    assert "evse.ocpp.schemas.Reset" not in sys.modules
    # the package stays (an empty module), but not holding the schema it loaded
    assert "Reset" not in sys.modules["evse.ocpp.schemas"].__dict__
    fault("RemoteStopTransaction", {"transactionId": 1}, True)
    assert "evse.ocpp.schemas.RemoteStopTransaction" not in sys.modules  # only its S is kept
    # ending a session never depends on free heap: the resident check allocates nothing
    payload = {"transactionId": 7}
    micropython.heap_lock()
    try:
        f = fault("RemoteStopTransaction", payload, True)
    finally:
        micropython.heap_unlock()
    assert f is None


def test_a_schema_that_cannot_load_leaves_nothing_behind():
    sys.modules.pop("evse.ocpp.schemas.UnlockConnector", None)
    err = None
    micropython.heap_lock()
    try:
        schema.load("UnlockConnector")
    except MemoryError as e:
        err = e
    finally:
        micropython.heap_unlock()
    assert err is not None
    assert "evse.ocpp.schemas.UnlockConnector" not in sys.modules
    assert fault("UnlockConnector", {"connectorId": 1}) is None  # the next CALL loads it again
