"""Power loss: SIGKILL the virtual board's interpreter and let it boot again from the same
flash folder, at several points of a session.

OCPP 1.6 (4.8 StopTransaction): a transaction cut by a power loss is stopped with reason
`PowerLoss` once the charge point is back; its meterStop is the energy delivered, which
can only be what the meter's register held when the power went (the relay drops with the
power, and opens again at boot: "a reboot never leaves a connector live"). Queued
transaction messages are delivered after the reboot in the order they were queued.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import (
    Db,
    assert_samples_in_order,
    assert_settled,
    backend_tail,
    board_tail,
    console_since_boot,
    first_sim_state,
    persisted_register,
    ready_connector,
    start_and_pay,
    start_charging,
    wait_backend_energy,
    wait_online,
    wait_until,
)

RIG = {"code": "LOSS42",
       "charger": {"pricing": {"currency": "EUR", "price_per_kwh": 10000, "start_fee": 50}}}


def _kill_and_reboot(rig) -> tuple[int, float, dict]:
    """Power loss. Returns (boot number, register on flash at the loss, first sim state)."""
    boot = rig.board.boots + 1
    rig.board.kill()
    rig.board.wait_boot(boot, timeout=10)
    # The killed interpreter wrote its last reading; the new one reads it back, relay open,
    # so the file does not change from here on.
    register = persisted_register(rig)
    state = first_sim_state(rig)
    return boot, register, state


def _assert_open_at_boot(rig, boot: int, register: float, state: dict) -> str:
    assert state["relay_closed"] is False, f"relay closed at boot: {state}"
    assert state["power_w"] == 0, state
    assert state["energy_wh"] == pytest.approx(register), (state, register)
    console = console_since_boot(rig, boot)
    assert "relay connector=1 closed=1" not in console, console[-1500:]
    return console


@pytest.mark.parametrize("when", ["after_confirm", "charging", "twice", "after_stop"])
def test_power_loss(rig, when):
    """`twice`: the power flickers, going again as soon as the board is back (the PowerLoss
    stop is then queued or just sent): one stop, with the same meterStop."""
    with rig.client() as client:
        ready_connector(rig, client)
        if when == "after_confirm":
            token, s = start_and_pay(rig, client)
            assert s["status"] in ("starting", "charging"), s  # RemoteStart was accepted
            seen = None
        else:
            token, _ = start_charging(rig, client)
            wait_backend_energy(rig, token, above_wh=2)
            if when == "after_stop":
                s = client.stop(token)
                assert s["status"] in ("stopping", "settling", "completed"), s
            seen = Db(rig).transaction(Db(rig).session(token)["transaction_id"])["last_meter_wh"]

        boot, register, state = _kill_and_reboot(rig)
        console = _assert_open_at_boot(rig, boot, register, state)
        if when == "twice":
            boot, register_again, state = _kill_and_reboot(rig)
            assert register_again == register
            _assert_open_at_boot(rig, boot, register, state)

        s, tx = assert_settled(rig, client, token)
        # nothing closes the relay after the reboot: the session is over
        assert rig.connector_state(1)["relay_closed"] is False
        assert "relay connector=1 closed=1" not in console_since_boot(rig, boot)

    if when == "after_stop":
        # stopped before the power went: the journaled Remote stop, delivered once
        assert tx["stop_reason"] == "Remote", tx
        assert 0 <= register - tx["meter_stop"] <= 2, (tx, register)
    else:
        assert tx["stop_reason"] == "PowerLoss", (tx, backend_tail(rig))
        assert "reason=PowerLoss" in console, console[-1500:]
        # meterStop: the register on the meter when the power went
        assert tx["meter_stop"] == int(register), (
            f"meterStop {tx['meter_stop']} Wh, but the meter's register held {register:.3f} Wh "
            f"when the power went; {board_tail(rig, 800)}")
    if seen is not None:
        assert tx["meter_stop"] >= seen, (tx, seen)
    values = assert_samples_in_order(Db(rig).energy_samples(tx["id"]))
    assert all(tx["meter_start"] <= v <= tx["meter_stop"] for v in values), (values, tx)
    # one transaction per session: the reboot did not start another
    assert [t["id"] for t in Db(rig).transactions() if t["id_tag"] == tx["id_tag"]] == [tx["id"]]


def test_power_loss_while_the_backend_is_down(rig):
    """Charging offline, the MeterValues queue up in the journal; the power goes; after the
    reboot and the backend's return they arrive in order, then the PowerLoss stop."""
    with rig.client() as client:
        ready_connector(rig, client)
        token, _ = start_charging(rig, client)
        wait_backend_energy(rig, token, above_wh=2)
        tx_id = Db(rig).session(token)["transaction_id"]
        online_samples = len(Db(rig).energy_samples(tx_id))
        rig.backend.stop()
        try:
            down_at = rig.connector_state(1)["energy_wh"]
            # charging goes on offline: about three samples (MeterValueSampleInterval 1 s)
            time.sleep(3.2)
            state = rig.connector_state(1)
            assert state["relay_closed"] is True and state["energy_wh"] > down_at, state
            boot, register, state = _kill_and_reboot(rig)
            _assert_open_at_boot(rig, boot, register, state)
        finally:
            rig.backend.start()
        wait_online(rig)
        s, tx = assert_settled(rig, client, token)
    assert tx["stop_reason"] == "PowerLoss", tx
    assert tx["meter_stop"] == int(register), (tx, register)
    samples = Db(rig).energy_samples(tx_id)
    values = assert_samples_in_order(samples)
    offline = [v for v in values[online_samples:] if v > down_at]
    assert len(offline) >= 2, f"samples taken offline did not arrive: {values}, down at {down_at}"
    wait_until(lambda: rig.connector_state(1)["relay_closed"] is False, 1, "relay open")
