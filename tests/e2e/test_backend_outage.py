"""Backend outage while charging: the backend process stops (same port and database when it
comes back), the firmware keeps charging offline and queues its transaction messages.

OCPP 1.6 (4.1.1 / 3.16): "When offline, the Charge Point MUST queue any transaction-related
messages that it would have sent to the Central System if the Charge Point had been online";
they are delivered in order once the connection is back. Nothing is lost: the session
completes with the energy of the offline period counted.
"""

from __future__ import annotations

import time

from tests.e2e.conftest import (
    Db,
    assert_samples_in_order,
    assert_settled,
    board_tail,
    ready_connector,
    start_charging,
    transitions,
    wait_backend_energy,
    wait_online,
    wait_status,
    wait_until,
)

RIG = {"code": "OUT42",
       "charger": {"pricing": {"currency": "EUR", "price_per_kwh": 10000, "start_fee": 50}}}
OFFLINE_S = 4.0


def _outage(rig, during=None) -> tuple[float, float]:
    """Stop the backend, keep it down OFFLINE_S while the board charges on, start it again.
    Returns the simulated meter's energy when it went down and when it came back."""
    mark = rig.board.console_mark()
    rig.backend.stop()
    try:
        down_at = rig.connector_state(1)["energy_wh"]
        rig.board.wait_for_console("ocpp disconnected", timeout=5, since=mark)
        end = time.monotonic() + OFFLINE_S
        if during:
            time.sleep(OFFLINE_S / 2)
            during()
        while time.monotonic() < end:
            state = rig.connector_state(1)
            if not during:  # the firmware charges on while the backend is away
                assert state["relay_closed"] is True, (state, board_tail(rig))
            time.sleep(0.25)
        up_at = rig.connector_state(1)["energy_wh"]
    finally:
        rig.backend.start()
    wait_online(rig)
    return down_at, up_at


def _offline_samples(values: list[float], down_at: float, up_at: float) -> list[float]:
    return [v for v in values if down_at < v <= up_at]


def test_outage_during_charging_loses_nothing(rig):
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        wait_backend_energy(rig, token, above_wh=2)
        tx_id = Db(rig).session(token)["transaction_id"]

        down_at, up_at = _outage(rig)
        assert up_at - down_at > 5, "the EV did not charge while the backend was away"

        # the queued samples arrive and the session is still charging, energy up to date
        wait_until(lambda: (Db(rig).transaction(tx_id)["last_meter_wh"] or 0) >= int(up_at), 15,
                   "the samples queued offline reach the backend",
                   detail=lambda: board_tail(rig))
        s = wait_status(client, token, {"charging"}, 5)
        tx = Db(rig).transaction(tx_id)
        assert float(s["energy_kwh"]) * 1000 >= int(up_at) - tx["meter_start"] - 1, (s, up_at)

        client.stop(token)
        s, tx = assert_settled(rig, client, token)
    assert tx["stop_reason"] == "Remote"
    assert tx["meter_stop"] >= int(up_at)
    values = assert_samples_in_order(Db(rig).energy_samples(tx_id))
    offline = _offline_samples(values, down_at, up_at)
    # MeterValueSampleInterval 1 s over OFFLINE_S: every offline second is there
    assert len(offline) >= OFFLINE_S - 1, (offline, values, down_at, up_at)
    row = Db(rig).session(token)
    assert transitions(rig, row["id"]) == ["created", "authorized", "starting", "charging",
                                           "stopping", "settling", "completed"]
    assert [t["id"] for t in Db(rig).transactions() if t["id_tag"] == tx["id_tag"]] == [tx_id]


def test_ev_unplugged_during_outage_settles_after_it(rig):
    """The EV leaves while the backend is away: the firmware stops the transaction offline
    (EVDisconnected) and the queued stop settles the session once the backend is back."""
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        wait_backend_energy(rig, token, above_wh=2)
        tx_id = Db(rig).session(token)["transaction_id"]

        def unplug():
            rig.sim({"cmd": "plug", "connector": 1, "plugged": False})
            wait_until(lambda: rig.connector_state(1)["relay_closed"] is False, 2,
                       "relay open once the EV is unplugged", detail=lambda: board_tail(rig))

        down_at, up_at = _outage(rig, during=unplug)
        s, tx = assert_settled(rig, client, token)
    assert tx["stop_reason"] == "EVDisconnected", tx
    assert tx["meter_stop"] == int(up_at) or tx["meter_stop"] == int(up_at) - 1, (tx, up_at)
    values = assert_samples_in_order(Db(rig).energy_samples(tx_id))
    assert _offline_samples(values, down_at, up_at), (values, down_at, up_at)
    row = Db(rig).session(token)
    assert transitions(rig, row["id"])[-4:] == ["charging", "stopping", "settling", "completed"]
