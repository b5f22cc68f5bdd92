"""The SmartCharging profile over the wire, named after the OCA test cases (OCTT TC_056..TC_072)
with the OCPP 1.6 sentence each checks: SetChargingProfile, ClearChargingProfile,
GetCompositeSchedule, the TxProfile of a RemoteStartTransaction, the limit the firmware offers
its connector (the log line of transactions.Port.offer's caller, "charging limit"), and a
profile held across a power cut.

One firmware (a one-connector charger) serves the module, on the 64-bit port: each test leaves
it as it found it (no profile, no transaction, unplugged), so the cases run one after the other
as OCTT runs them against one charge point. The reboot case runs on its own firmware, on the
32-bit port too; the heap case (the largest profile set) runs on the 32-bit builds only.
The computation itself (recurring, relative, validity edges, W to A) is
tests/firmware/test_smart_charging.py, with an injected clock.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import pytest_asyncio
from ocpp.v16 import call

from tests import builds
from tests.ocpp.conftest import (
    Station,
    board_build,
    frame_problems,
    module_station,
    utc_in,
)
from tests.ocpp.test_reservation import Since, end_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEYS = {"ConnectionTimeOut": 30}


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit for the shared station; the reboot and heap cases also run on unix32."""
    return request.param


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def st(tmp_path_factory, firmware_lib, micropython):
    async for station in module_station(tmp_path_factory.mktemp("smart"), firmware_lib, micropython, KEYS):
        yield station


iso = utc_in


def profile(pid=1, stack=0, purpose="TxDefaultProfile", kind="Absolute", periods=((0, 16),), unit="A",
            start: float | None = -1, duration=None, **extra) -> dict:
    sch = {"chargingRateUnit": unit,
           "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods]}
    if start is not None and kind != "Relative":
        sch["startSchedule"] = iso(start)
    if duration is not None:
        sch["duration"] = duration
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": sch, **extra}


async def setp(st, connector, prof) -> str:
    res = await st.server.cp.call(call.SetChargingProfile(connector_id=connector, cs_charging_profiles=prof))
    return res.status


async def clear(st, **kw) -> str:
    return (await st.server.cp.call(call.ClearChargingProfile(**kw))).status


async def composite(st, connector, duration, unit=None) -> dict:
    """GetCompositeSchedule's answer as the board sent it (camelCase)."""
    p = {"connectorId": connector, "duration": duration}
    if unit:
        p["chargingRateUnit"] = unit
    # through the ocpp package, which checks the answer's schema; then the frame itself
    n = len(st.server.frames)
    await st.server.cp.call(call.GetCompositeSchedule(connector_id=connector, duration=duration,
                                                      charging_rate_unit=unit))
    for side, text in st.server.frames[n:]:
        msg = json.loads(text) if side == "cp" else None
        if msg and msg[0] == 3:
            return msg[2]
    raise AssertionError("no GetCompositeSchedule answer")


def limits(sch: dict) -> list:
    return [(p["startPeriod"], p["limit"]) for p in sch["chargingSchedule"]["chargingSchedulePeriod"]]


async def charging(st, since, tag) -> int:
    """Plug in and remote start `tag`: the transactionId."""
    await st.plug()
    await since.status(1, "Preparing")
    assert await st.remote_start(tag) == "Accepted"
    await since.status(1, "Charging")
    return await since.confirmed()


async def test_keys_and_supported_profiles(st):
    """The profile's keys (9.1): ChargeProfileMaxStackLevel, ChargingScheduleAllowedChargingRateUnit,
    ChargingScheduleMaxPeriods, MaxChargingProfilesInstalled, all read-only; TC_066 needs at least
    3 profiles and 5 periods; SupportedFeatureProfiles names SmartCharging."""
    res = await st.server.cp.call(call.GetConfiguration(key=[
        "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
        "MaxChargingProfilesInstalled", "SupportedFeatureProfiles"]))
    got = {k["key"]: (k["value"], k["readonly"]) for k in res.configuration_key}
    assert got["ChargeProfileMaxStackLevel"] == ("8", True)
    assert got["ChargingScheduleAllowedChargingRateUnit"] == ("Current,Power", True)
    assert int(got["ChargingScheduleMaxPeriods"][0]) >= 5 and int(got["MaxChargingProfilesInstalled"][0]) >= 3
    assert "SmartCharging" in got["SupportedFeatureProfiles"][0].split(",")
    res = await st.server.cp.call(call.ChangeConfiguration(key="MaxChargingProfilesInstalled", value="100"))
    assert res.status == "Rejected"


async def test_tc056_tx_default_profile_caps_new_transactions(st):
    """TC_056. 3.13.2: "TxDefaultProfile: Default schedules for new transactions MAY be used to
    impose charging policies"; on connector 0 it is "valid for all connectors". The composite
    shows it with no transaction running, and the transaction started after runs at its limit."""
    since = Since(st)
    assert await setp(st, 0, profile(561, periods=((0, 6),))) == "Accepted"
    await since.log(r"charging limit connector=1 amps=6.0")
    assert limits(await composite(st, 1, 300)) == [(0, 6)]
    tid = await charging(st, since, "TAG56")
    assert limits(await composite(st, 1, 300)) == [(0, 6)]
    await end_session(st, since, tid)
    assert await clear(st) == "Accepted"
    await since.log(r"charging limit connector=1 amps=None")


async def test_tc057_tx_profile_while_charging(st):
    """TC_057. 3.13.2: "TxProfile: If a transaction-specific profile with purpose TxProfile is
    present, it SHALL overrule the default charging profile with purpose TxDefaultProfile for
    the duration of the current transaction only"; 3.13.4: ends with it."""
    since = Since(st)
    assert await setp(st, 0, profile(571, periods=((0, 16),))) == "Accepted"
    tid = await charging(st, since, "TAG57")
    await since.log(r"charging limit connector=1 amps=16.0")
    tx = profile(572, purpose="TxProfile", periods=((0, 10),), transactionId=tid)
    assert await setp(st, 1, tx) == "Accepted"
    await since.log(r"charging limit connector=1 amps=10.0")
    assert limits(await composite(st, 1, 60)) == [(0, 10)]
    after = Since(st)
    await end_session(st, since, tid)
    await after.log(r"charging limit connector=1 amps=16.0")  # the default again: the TxProfile went
    assert await clear(st, id=572) == "Unknown"
    assert await clear(st) == "Accepted"


async def test_tc058_1_tx_profile_without_transaction(st):
    """TC_058_1. 3.13.4: "If there is no transaction active on the connector specified in a
    charging profile of type TxProfile, then the Charge Point SHALL discard it and return an
    error status in SetChargingProfile.conf"; also a TxProfile on connector 0 and a
    ChargePointMaxProfile on a connector (its checklist)."""
    assert await setp(st, 1, profile(581, purpose="TxProfile")) == "Rejected"
    assert await setp(st, 0, profile(582, purpose="TxProfile")) == "Rejected"
    assert await setp(st, 1, profile(583, purpose="ChargePointMaxProfile")) == "Rejected"
    assert await clear(st) == "Unknown"


async def test_tx_profile_of_another_transaction_rejected(st):
    """5.16 "transactionId: Only valid if ChargingProfilePurpose is set to TxProfile, the
    transactionId MAY be used to match the profile to a specific transaction": one that is not
    the connector's is Rejected (libocpp's reading; the checklist marks it unverified)."""
    since = Since(st)
    tid = await charging(st, since, "TAG58")
    assert await setp(st, 1, profile(584, purpose="TxProfile", transactionId=tid + 1000)) == "Rejected"
    assert await setp(st, 1, profile(585, transactionId=tid)) == "Rejected"  # not a TxProfile
    await end_session(st, since, tid)
    assert await clear(st) == "Unknown"


async def test_tc059_remote_start_with_tx_profile(st):
    """TC_059. RemoteStartTransaction.req chargingProfile: "Charging Profile to be used by the
    Charge Point for the requested transaction. ChargingProfilePurpose MUST be set to
    TxProfile"; the composite of the transaction's connector shows it."""
    since = Since(st)
    await st.plug()
    await since.status(1, "Preparing")
    tx = profile(591, purpose="TxProfile", kind="Relative", periods=((0, 8), (3600, 12)))
    res = await st.server.cp.call(call.RemoteStartTransaction(id_tag="TAG59", connector_id=1, charging_profile=tx))
    assert res.status == "Accepted"
    await since.status(1, "Charging")
    tid = await since.confirmed()
    await since.log(r"charging limit connector=1 amps=8.0")
    sch = await composite(st, 1, 7200)
    assert sch["status"] == "Accepted" and sch["connectorId"] == 1
    got = limits(sch)
    assert got[0] == (0, 8) and got[1][1] == 12 and 3590 <= got[1][0] <= 3600, got
    await end_session(st, since, tid)
    await since.log(r"charging limit connector=1 amps=None")
    assert await clear(st) == "Unknown"  # deleted with its transaction


async def test_tc060_remote_start_with_wrong_purpose(st):
    """TC_060. RemoteStartTransaction.req: "ChargingProfilePurpose MUST be set to TxProfile":
    another purpose is Rejected and nothing starts; so is a profile with a transactionId (there
    is no transaction yet)."""
    since = Since(st)
    for prof in (profile(601), profile(602, purpose="TxProfile", transactionId=5)):
        res = await st.server.cp.call(call.RemoteStartTransaction(id_tag="TAG60", connector_id=1,
                                                                  charging_profile=prof))
        assert res.status == "Rejected"
    await asyncio.sleep(0.5)
    assert not since.msgs("StartTransaction") and since.statuses() == []
    assert await clear(st) == "Unknown"


async def test_tc066_composite_of_three_purposes(st):
    """TC_066. 3.13.5: "The composite schedule is the result of the combined calculation of the
    relevant ChargePointMaxProfile, TxDefaultProfile and TxProfile"; equal neighbouring periods
    merged (MicroOcpp #360), the requested unit, periods from 0 over [now, now + duration]."""
    since = Since(st)
    assert await setp(st, 0, profile(661, purpose="ChargePointMaxProfile", periods=((0, 20),))) == "Accepted"
    assert await setp(st, 0, profile(662, periods=((0, 16), (1000, 6)), start=0)) == "Accepted"
    tid = await charging(st, since, "TAG66")
    tx = profile(663, purpose="TxProfile", kind="Relative", periods=((0, 25), (100, 25), (200, 10), (300, 25),
                                                                       (400, 8)), transactionId=tid)
    assert await setp(st, 1, tx) == "Accepted"
    sch = await composite(st, 1, 600)
    assert sch["scheduleStart"] and sch["chargingSchedule"]["duration"] == 600
    got = limits(sch)
    # CPMax 20 over the TxProfile's 25; its 10 and 8 below: 20, 10, 20, 8 (the first two 25s merged)
    assert [v for _, v in got] == [20, 10, 20, 8], got
    assert got[0][0] == 0 and all(a[0] < b[0] for a, b in zip(got, got[1:], strict=False))
    assert 190 <= got[1][0] <= 200 and 390 <= got[3][0] <= 400, got
    sch = await composite(st, 1, 60, "W")
    # 20 A at three phases (none given) is 13.8 kW, capped by the virtual board's 32 A x 1 phase
    assert sch["chargingSchedule"]["chargingRateUnit"] == "W" and limits(sch) == [(0, 32 * 230)]
    assert limits(await composite(st, 0, 600)) == [(0, 20)]  # connector 0: the charge point's
    assert (await composite(st, 2, 60))["status"] == "Rejected"  # no such connector
    await end_session(st, since, tid)
    assert await clear(st) == "Accepted"


async def test_tc067_clear_by_id_criteria_and_all(st):
    """TC_067. 5.5: "If the Central System wishes to clear some or all of the charging profiles
    that were previously sent the Charge Point, it SHALL use the ClearChargingProfile.req PDU";
    6.11: id, or connectorId, chargingProfilePurpose and stackLevel together (stackLevel 0 is a
    value); ClearChargingProfile.conf Unknown: "No Charging Profile(s) were found matching the
    request"."""
    for pid, cid, stack, purpose in ((671, 0, 0, "ChargePointMaxProfile"), (672, 0, 0, "TxDefaultProfile"),
                                     (673, 1, 0, "TxDefaultProfile"), (674, 1, 1, "TxDefaultProfile")):
        assert await setp(st, cid, profile(pid, stack, purpose, periods=((0, 16 + stack),))) == "Accepted"
    assert await clear(st, id=679) == "Unknown"
    assert await clear(st, id=674, connector_id=0) == "Accepted"  # the id alone decides
    assert await clear(st, connector_id=1, stack_level=1) == "Unknown"
    assert await clear(st, connector_id=0, charging_profile_purpose="TxDefaultProfile", stack_level=0) == "Accepted"
    assert limits(await composite(st, 1, 60)) == [(0, 16)]  # 673 and 671 left
    assert await clear(st, stack_level=0, charging_profile_purpose="TxDefaultProfile") == "Accepted"
    assert await clear(st) == "Accepted"  # 671
    assert await clear(st) == "Unknown"
    assert limits(await composite(st, 1, 60)) == [(0, 32)]  # no profile: the connector's most


async def test_tc072_stack_level_one_over_zero(st):
    """TC_072. 3.13.2: "Precedence of charging profiles ... if more than one charging profile of
    the same purpose is valid at a given time, the profile with the highest stackLevel ... will
    be used"; past its duration the lower one rules again, at the boundary itself."""
    since = Since(st)
    assert await setp(st, 1, profile(721, 0, periods=((0, 12),))) == "Accepted"
    assert await setp(st, 1, profile(722, 1, periods=((0, 7),), start=0, duration=4)) == "Accepted"
    await since.log(r"charging limit connector=1 amps=7.0")
    boundary = Since(st)
    got = limits(await composite(st, 1, 60))
    assert got[0] == (0, 7) and got[1][1] == 12 and 1 <= got[1][0] <= 4, got
    await boundary.log(r"charging limit connector=1 amps=12.0", timeout=6)  # the boundary, live
    assert await clear(st) == "Accepted"


async def test_refusals_keep_the_heap(st):
    """The keys' maxima: a profile beyond ChargingScheduleMaxPeriods or ChargeProfileMaxStackLevel,
    or one more than MaxChargingProfilesInstalled, is Rejected with a log line saying why; the
    largest set fits (no MemoryError: the module's fixture checks the log)."""
    since = Since(st)
    many = tuple((i * 60, 6 + i % 10) for i in range(24))
    assert await setp(st, 1, profile(901, periods=many + ((24 * 60, 6),))) == "Rejected"
    await since.log(r"charging profile refused id=901 .*why=more than ChargingScheduleMaxPeriods")
    assert await setp(st, 1, profile(902, 9)) == "Rejected"
    await since.log(r"charging profile refused id=902 .*why=stackLevel beyond")
    for i in range(8):
        assert await setp(st, i % 2, profile(910 + i, i // 2, periods=many)) == "Accepted", i
    assert await setp(st, 1, profile(920, 8)) == "Rejected"
    await since.log(r"charging profile refused id=920 .*why=MaxChargingProfilesInstalled reached")
    assert len(limits(await composite(st, 1, 86400))) > 5
    assert await clear(st) == "Accepted" and await clear(st) == "Unknown"


async def test_bad_input_over_the_wire(st):
    """Every field's malformed value is tests/firmware/test_smart_charging.py; here the
    CALLERRORs as the central system sees them, one per kind and message; a connector the board
    does not have is PropertyConstraintViolation for SetChargingProfile (its checklist) and
    Rejected for GetCompositeSchedule (5.7)."""
    good = profile(990)
    per = {**good["chargingSchedule"]["chargingSchedulePeriod"][0]}
    cases = [("SetChargingProfile", {"connectorId": 1}, "OccurenceConstraintViolation"),
             ("SetChargingProfile", {"connectorId": 5, "csChargingProfiles": good}, "PropertyConstraintViolation"),
             ("SetChargingProfile", {"connectorId": "1", "csChargingProfiles": good}, "TypeConstraintViolation"),
             ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**good, "stackLevel": None}},
              "TypeConstraintViolation"),
             ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**good, "chargingProfileKind": "Once"}},
              "PropertyConstraintViolation"),
             ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**good, "chargingSchedule": {
                 **good["chargingSchedule"], "chargingSchedulePeriod": [{**per, "limit": 6.05}]}}},
              "PropertyConstraintViolation"),
             ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {**good, "extra": 1}}, "FormationViolation"),
             ("ClearChargingProfile", {"stackLevel": "0"}, "TypeConstraintViolation"),
             ("ClearChargingProfile", {"chargingProfilePurpose": "Any"}, "PropertyConstraintViolation"),
             ("GetCompositeSchedule", {"connectorId": 1}, "OccurenceConstraintViolation"),
             ("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "kW"},
              "PropertyConstraintViolation")]
    for n, (action, payload, code) in enumerate(cases):
        ans = await st.raw(json.dumps([2, f"b{n}", action, payload]))
        assert ans[0] == 4 and ans[2] == code, (action, payload, ans)
    ans = await st.raw(json.dumps([2, "c1", "GetCompositeSchedule", {"connectorId": 7, "duration": 60}]))
    assert ans[0] == 3 and ans[2] == {"status": "Rejected"}
    assert await clear(st) == "Unknown"  # nothing was stored


@pytest.mark.parametrize("build", ["unix64", "unix32"])
async def test_profile_survives_a_power_cut(tmp_path, firmware_lib, build):
    """Profiles survive a reboot (the checklist: "Profiles survive reboot and run on offline"):
    a TxDefaultProfile in the middle of its first period when the power goes; after the boot
    the limit is offered again at once, offline, and its next period begins on time."""
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    station = Station(tmp_path, firmware_lib, binary)
    try:
        await station.start(ocpp_keys=KEYS)
        await station.booted()
        t0 = asyncio.get_running_loop().time()
        assert await setp(station, 0, profile(31, periods=((0, 8), (8, 13)), start=0)) == "Accepted"
        await station.fw.wait_log(r"charging limit connector=1 amps=8.0")
        await station.server.stop()  # the central system is away: the limits hold offline
        station.fw.kill()
        await station.fw.wait_log(r"app started", n=2, timeout=15)
        await station.fw.wait_log(r"charging limit connector=1 amps=8.0", n=2, timeout=5)
        await station.fw.wait_log(r"charging limit connector=1 amps=13.0", timeout=15)
        assert asyncio.get_running_loop().time() - t0 >= 7.0  # not before its time
        assert json.loads((tmp_path / "data" / "profiles.jsonl").read_text().splitlines()[0])[0] == 31
    finally:
        await station.close()
    assert frame_problems(station.server.frames) == []
    assert not [line for line in station.fw.lines if "crash" in line or "Traceback" in line]


# The heaps the largest profile set was measured to need on 32 bits (tests/ocpp/test_memory.py
# holds the session without profiles: .mpy 84k, frozen 36k; EVSE_SMART_HEAP=36k runs this at
# another). Frozen, the code is in flash and only the data counts: 38k passed 6 of 6 runs, 36k
# 10 of 12 (a composite or a SetChargingProfile answered InternalError, MemoryError, when it met
# a MeterValues in flight), 34k fails. On an .mpy build each rare operation's code is loaded into
# the heap when its CALL comes (SetChargingProfile ~3.7 KB, GetCompositeSchedule ~3.4 KB on 32
# bits): 84k has no room for one in a connected session (ReserveNow, 1.8 KB of .mpy, already
# drops the connection there), 90k fails at the third SetChargingProfile, 92k passed 2 of 5
# runs, 96k 4 of 4.
HEAPS = {"unix32": "96k", "unix32-frozen": "38k"}


@pytest.mark.parametrize("build", list(HEAPS))
async def test_largest_profile_set_in_the_32_bit_session_heap(tmp_path, tmp_path_factory, build):
    """The maxima fit: MaxChargingProfilesInstalled profiles of ChargingScheduleMaxPeriods
    periods each, installed on the 32-bit port (HEAPS), then a session with a RemoteStart's
    TxProfile through to its stop, composites asked throughout: no MemoryError, no restart,
    every CALL answered."""
    binary, lib = board_build(build, tmp_path_factory)  # as a board gets it, as the memory test
    station = Station(tmp_path, lib, binary)
    station.fw.heap = os.environ.get("EVSE_SMART_HEAP") or HEAPS[build]
    try:
        await station.start(ocpp_keys=KEYS)
        await station.booted()
        since = Since(station)
        many = tuple((i * 60, 6 + i % 10) for i in range(24))
        for i in range(7):
            assert await setp(station, i % 2, profile(10 + i, i // 2, periods=many)) == "Accepted", i
        await station.plug()
        await since.status(1, "Preparing")
        tx = profile(20, 5, purpose="TxProfile", kind="Relative", periods=many)
        res = await station.server.cp.call(call.RemoteStartTransaction(id_tag="BIG", connector_id=1,
                                                                       charging_profile=tx))
        assert res.status == "Accepted"
        await since.status(1, "Charging")
        tid = await since.confirmed()
        for d in (60, 3600, 86400):
            assert (await composite(station, 1, d))["status"] == "Accepted"
        await station.server.wait_msg("MeterValues", n=3, transaction_id=tid, timeout=15)
        assert await station.remote_stop(tid) == "Accepted"
        await since.wait("StopTransaction", transaction_id=tid)
        assert await clear(station) == "Accepted"
        assert station.fw.exits == []
    finally:
        await station.close()
    print("\n".join(x for x in station.fw.lines if "app started" in x or " mem " in x))
    assert frame_problems(station.server.frames) == []
    assert not [x for x in station.fw.lines if "crash" in x or "Traceback" in x or "MemoryError" in x]
