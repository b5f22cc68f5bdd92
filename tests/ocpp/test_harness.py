"""The schema check of the integration harness must be able to fail."""

import json

from tests.ocpp.conftest import frame_problems


def test_frame_problems_catches_schema_and_frame_errors():
    good = [("cp", json.dumps([2, "1", "Heartbeat", {}])),
            ("cs", json.dumps([2, "a", "GetConfiguration", {}])),
            ("cp", json.dumps([3, "a", {"configurationKey": [{"key": "K", "readonly": True, "value": "1"}]}]))]
    assert frame_problems(good) == []
    bad = [("cp", json.dumps([2, "1", "StatusNotification", {"connectorId": 1, "status": "Charging"}])),
           ("cs", json.dumps([2, "b", "RemoteStartTransaction", {"idTag": "x"}])),
           ("cp", json.dumps([3, "b", {"status": "Maybe"}])),
           ("cp", json.dumps([4, "c", "FormatViolation", "", {}])),
           ("cp", json.dumps([2, "x" * 37, "Heartbeat", {}])),
           ("cp", "not json")]
    problems = frame_problems(bad)
    assert len(problems) == 5, problems
    assert any("errorCode" in p for p in problems)
    assert any("Maybe" in p for p in problems)


def test_charge_point_calls_pairs_answers_and_marks_connection_ends():
    from tests.ocpp.conftest import charge_point_calls
    mv = {"connectorId": 1, "meterValue": []}
    log = [("open", "/ocpp/CP-1"),
           ("cp", json.dumps([2, "1", "MeterValues", mv])), ("cs", json.dumps([3, "1", {}])),
           ("cp", json.dumps([2, "2", "StopTransaction", {"meterStop": 5}])),  # cut off
           ("open", "/ocpp/CP-1"),
           ("cs", json.dumps([2, "x", "Reset", {"type": "Soft"}])), ("cp", json.dumps([3, "x", {"status": "Accepted"}])),
           ("cp", json.dumps([2, "3", "StopTransaction", {"meterStop": 5}])), ("cs", json.dumps([3, "3", {}]))]
    answered, unanswered = charge_point_calls(log)
    assert answered == [("MeterValues", mv, False), ("StopTransaction", {"meterStop": 5}, True)]
    assert unanswered == [("StopTransaction", {"meterStop": 5}, True)]
