"""The backend takes the charger's at-least-once delivery: a transaction message repeated after a
power loss (the board got our answer, but died before its journal dropped the message) changes
nothing. The firmware README: "a central system should deduplicate (the timestamp identifies a
message)". tests/e2e/test_kill_points.py meets the repeats for real; here each one is sent on
purpose by a real `ocpp` charge point.
"""

from __future__ import annotations

from ocpp.v16 import call

from .conftest import session
from .test_lifecycle import START_TS, charging

SAMPLE_TS = "2026-01-10T01:16:00Z"


def _meter_values(tx: int, wh: int) -> call.MeterValues:
    return call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[
        {"timestamp": SAMPLE_TS, "sampled_value": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
             "context": "Sample.Periodic"},
            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W",
             "context": "Sample.Periodic"}]}])


def _rows(server, tx: int) -> list[tuple]:
    return [(r["timestamp"], r["measurand"], r["value"]) for r in server.backend.store.all(
        "SELECT * FROM meter_values WHERE transaction_id = ? ORDER BY id", tx)]


async def test_repeated_meter_values_are_stored_once(server, http, charger):
    token, tx, _ = await charging(http, server, charger, meter_start=1000)
    for _ in range(2):
        assert await charger.cp.call(_meter_values(tx, 1123)) is not None
    assert _rows(server, tx) == [(SAMPLE_TS, "Energy.Active.Import.Register", "1123"),
                                 (SAMPLE_TS, "Power.Active.Import", "7400")]
    assert (await session(http, token))["energy_kwh"] == "0.123"
    # a new reading at the same time is a different value: stored (the check is not by time only)
    await charger.cp.call(_meter_values(tx, 1124))
    assert len(_rows(server, tx)) == 3


async def test_repeated_stop_transaction_settles_once(server, http, charger):
    token, tx, id_tag = await charging(http, server, charger, meter_start=1000)
    stop = call.StopTransaction(meter_stop=1500, timestamp=SAMPLE_TS, transaction_id=tx,
                                id_tag=id_tag, reason="PowerLoss")
    for _ in range(2):
        assert (await charger.cp.call(stop)).id_tag_info["status"] == "Accepted"
    s = await session(http, token)
    assert s["status"] == "completed" and s["energy_kwh"] == "0.500", s
    assert len(server.backend.store.all("SELECT * FROM transactions")) == 1


async def test_repeated_start_without_a_session_is_the_same_transaction(server, charger):
    """A card's start the backend refuses (no public session) still gets one transaction id,
    the same for the repeat."""
    start = call.StartTransaction(connector_id=2, id_tag="LOCALCARD", meter_start=0,
                                  timestamp=START_TS)
    first = await charger.cp.call(start)
    again = await charger.cp.call(start)
    assert first.transaction_id == again.transaction_id
    assert again.id_tag_info["status"] == "Invalid"
    later = await charger.cp.call(call.StartTransaction(connector_id=2, id_tag="LOCALCARD",
                                                        meter_start=0, timestamp=SAMPLE_TS))
    assert later.transaction_id != first.transaction_id  # another start: another transaction
