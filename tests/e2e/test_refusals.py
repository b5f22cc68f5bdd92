"""Refusals end to end: what POST /public-charging/sessions answers when it cannot start, with
the real firmware behind the backend (reference: public-charging-api.md, the start endpoint):
"404 unknown charger or no public charging; 400 charger offline; 422 unknown connector (and any
validation failure); 409 connector unavailable; 429" (3/min per IP, and a per-charger limit of
sessions per hour).
"""

from __future__ import annotations

import httpx
import pytest

from host_tools import driver
from tests.e2e.conftest import (
    Db,
    assert_settled,
    board_tail,
    connector_status,
    e2e_rig,
    ready_connector,
    start_charging,
    wait_backend_energy,
    wait_online,
    wait_until,
)

RIG = {"code": "REF42"}


def _sessions(rig) -> int:
    return len(Db(rig).rows("SELECT id FROM sessions"))


def test_unknown_charger_is_404(rig):
    with rig.client() as client, pytest.raises(driver.UnknownCharger) as err:
        client.start("NOPE42", 1)
    assert err.value.status == 404


@pytest.mark.parametrize("connector_id", [2, 0, 101])
def test_unknown_connector_is_422(rig, connector_id):
    """The bench charger has one connector: 2 is unknown to it, 0 and 101 are out of 1..100."""
    before = _sessions(rig)
    resp = httpx.post(f"{rig.api}/public-charging/sessions",
                      json={"code": rig.code, "connector_id": connector_id}, timeout=10)
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["message"] == "The given data was invalid."
    assert list(body["errors"]) == ["connector_id"] and body["errors"]["connector_id"]
    assert _sessions(rig) == before  # no session, no payment hold


def test_occupied_connector_is_409(rig):
    """A second session on a connector that has one (created, then charging) is refused."""
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        wait_until(lambda: connector_status(rig, client) == "Charging", 5, "connector Charging")
        with pytest.raises(driver.ConnectorUnavailable) as err:
            client.start(rig.code, 1)
        assert err.value.status == 409
        assert "Charging" in err.value.body["message"], err.value.body
        client.stop(token)
        assert_settled(rig, client, token)

        ready_connector(rig, client)
        first = client.start(rig.code, 1)  # created: holds the connector before payment
        with pytest.raises(driver.ConnectorUnavailable):
            client.start(rig.code, 1)
        assert client.cancel(first.token)["status"] == "cancelled"
        assert rig.connector_state(1)["relay_closed"] is False


@pytest.mark.parametrize(("fault", "error_code"), [("welded", "OtherError"),
                                                   ("meter_lost", "PowerMeterFailure")])
def test_faulted_connector_is_409(rig, fault, error_code):
    """A welded relay or a meter that does not answer: the firmware reports Faulted and the
    backend refuses to start there; once the fault clears the connector takes sessions again."""
    with rig.client() as client:
        ready_connector(rig, client)
        rig.sim({"cmd": "fault", "connector": 1, "fault": fault})
        try:
            wait_until(lambda: connector_status(rig, client) == "Faulted", 10,
                       f"connector Faulted after the {fault} fault",
                       detail=lambda: board_tail(rig, 600))
            row = Db(rig).rows("SELECT * FROM connectors WHERE connector_id = 1")[0]
            assert row["error_code"] == error_code, row
            before = _sessions(rig)
            with pytest.raises(driver.ConnectorUnavailable) as err:
                client.start(rig.code, 1)
            assert err.value.status == 409 and "Faulted" in err.value.body["message"]
            assert _sessions(rig) == before
        finally:
            rig.sim({"cmd": "fault", "connector": 1, "fault": None})
        wait_until(lambda: connector_status(rig, client) == "Preparing", 10,
                   "connector Preparing once the fault cleared", detail=lambda: board_tail(rig, 600))
        started = client.start(rig.code, 1)
        assert started.session["status"] == "created"
        assert client.cancel(started.token)["status"] == "cancelled"


def test_offline_board_is_400(tmp_path):
    """The board goes away (stopped, not rebooted): new sessions get 400, a charging session
    cannot be stopped remotely (400: unplug to end it), and a session made before that fails
    at /confirm with charger_offline, its hold released."""
    with e2e_rig(tmp_path, code="GONE42", connectors=2) as rig, rig.client() as client:
        ready_connector(rig, client, 1)
        charging, _ = start_charging(rig, client, 1)
        ready_connector(rig, client, 2)
        waiting = client.start(rig.code, 2)
        rig.board.stop()
        wait_online(rig, online=False)
        for connector in (1, 2):
            with pytest.raises(driver.ChargerOffline) as err:
                client.start(rig.code, connector)
            assert err.value.status == 400
            assert err.value.body == {"message": "The charger is offline."}
        with pytest.raises(driver.StopRefused) as err:
            client.stop(charging)
        assert err.value.status == 400 and "unplug" in err.value.body["message"]
        assert client.session(charging)[0]["status"] == "charging"
        s = driver.confirm_payment(client, waiting.token, waiting.payment)
        assert s["status"] == "failed" and s["failure_reason"] == "charger_offline", s
        assert s["charger"]["online"] is False
        assert s["amount_captured"] is None and s["completed_at"]
        released = Db(rig).rows("SELECT status FROM payments WHERE id = ?",
                                Db(rig).session(waiting.token)["payment_intent_id"])
        assert [p["status"] for p in released] == ["canceled"], released  # hold released


def test_limits_are_429(tmp_path):
    """The backend's real limits: 3 starts/min per IP, and here 2 sessions/hour per charger."""
    with e2e_rig(tmp_path, code="LIM42", backend_args=[],
                 charger={"max_sessions_per_hour": 2}) as rig, rig.client() as client:
        for _ in range(2):
            started = client.start(rig.code, 1)
            client.cancel(started.token)
        start = f"{rig.api}/public-charging/sessions"
        body = {"code": rig.code, "connector_id": 1}

        per_charger = httpx.post(start, json=body, timeout=10)  # 3rd start this minute
        assert per_charger.status_code == 429, per_charger.text
        assert "per hour" in per_charger.json()["message"]
        assert 3000 < int(per_charger.headers["Retry-After"]) <= 3601

        per_ip = httpx.post(start, json=body, timeout=10)  # 4th start this minute
        assert per_ip.status_code == 429, per_ip.text
        assert per_ip.json() == {"message": "Too Many Attempts."}
        assert 0 < int(per_ip.headers["Retry-After"]) <= 60
        assert per_ip.headers["X-RateLimit-Limit"] == "3"
        assert per_ip.headers["X-RateLimit-Remaining"] == "0"
        with pytest.raises(driver.RateLimited) as err:
            client.start(rig.code, 1)
        assert err.value.retry_after and err.value.retry_after <= 60

        # GET /sessions/{token}: 30/min per IP
        codes = [httpx.get(f"{rig.api}/public-charging/sessions/{started.token}",
                           timeout=10).status_code for _ in range(31)]
        assert codes[:30] == [200] * 30 and codes[30] == 429, codes
        assert len(Db(rig).rows("SELECT id FROM sessions")) == 2


def test_meter_lost_while_charging_stops_and_settles(rig):
    """A meter that stops answering mid-session: the firmware opens the relay, stops the
    transaction (reason Other) with the last reading, reports Faulted; the session settles on
    what was metered and the connector takes no new session until the meter is back."""
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        wait_backend_energy(rig, token, above_wh=2)
        rig.sim({"cmd": "fault", "connector": 1, "fault": "meter_lost"})
        try:
            s, tx = assert_settled(rig, client, token, timeout=15)
            assert tx["stop_reason"] == "Other", tx
            assert tx["meter_stop"] <= rig.connector_state(1)["energy_wh"]
            assert rig.connector_state(1)["relay_closed"] is False
            wait_until(lambda: connector_status(rig, client) == "Faulted", 5, "connector Faulted")
            with pytest.raises(driver.ConnectorUnavailable):
                client.start(rig.code, 1)
        finally:
            rig.sim({"cmd": "fault", "connector": 1, "fault": None})


def test_relay_welded_at_stop_faults_the_connector(rig):
    """The contacts weld while charging: the stop still ends the transaction, but the contact
    stays closed once the coil is off, so the firmware reports Faulted (relay welded) and the
    backend refuses the next driver."""
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        rig.sim({"cmd": "fault", "connector": 1, "fault": "welded"})
        try:
            client.stop(token)
            s, tx = assert_settled(rig, client, token, timeout=15)
            assert tx["stop_reason"] == "Remote", tx
            wait_until(lambda: connector_status(rig, client) == "Faulted", 5,
                       "connector Faulted with a welded relay", detail=lambda: board_tail(rig))
            row = Db(rig).rows("SELECT * FROM connectors WHERE connector_id = 1")[0]
            assert (row["error_code"], row["info"]) == ("OtherError", "relay welded"), row
            with pytest.raises(driver.ConnectorUnavailable):
                client.start(rig.code, 1)
        finally:
            rig.sim({"cmd": "fault", "connector": 1, "fault": None})
        wait_until(lambda: connector_status(rig, client) in ("Finishing", "Preparing"), 5,
                   "connector usable once the weld is gone")
