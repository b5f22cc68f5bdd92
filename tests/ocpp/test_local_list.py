"""The LocalAuthListManagement profile and the authorization cache over the wire, named after
the OCA test cases (OCTT TC_042..TC_043, TC_007, TC_008, TC_061) with the OCPP 1.6 sentence
each checks: SendLocalList and GetLocalListVersion, the list before the cache, what the cache
learns, offline rules, expiry, a list kept across a power cut, malformed messages, and a full
list on the 32-bit builds in an ESP32's heap.

One firmware (a one-connector charger, LocalPreAuthorize on as OCTT sets it for TC_007/TC_008)
serves the cases that need no restart, on the 64-bit port, each leaving it Available and
unplugged; offline, reboot and heap cases run on a firmware of their own. The list's rules case
by case (maxima, Differential merges, what a full cache drops) are
tests/firmware/test_local_list.py.
"""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from ocpp.v16 import call

from tests import builds
from tests.ocpp.conftest import (
    Station,
    assert_clean,
    board_build,
    module_station,
    utc_in,
)
from tests.ocpp.test_reservation import Since, card, end_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEYS = {"ConnectionTimeOut": 30, "LocalPreAuthorize": True}
MOST = 32  # SendLocalListMaxLength


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit for the shared station; the reboot and heap cases pick their builds themselves."""
    return request.param


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def st(tmp_path_factory, firmware_lib, micropython):
    async for station in module_station(tmp_path_factory.mktemp("list"), firmware_lib, micropython, KEYS):
        yield station


when = utc_in


def entry(tag, status="Accepted", expiry=None, parent=None) -> dict:
    info = {"status": status}
    if expiry is not None:
        info["expiry_date"] = expiry
    if parent is not None:
        info["parent_id_tag"] = parent
    return {"id_tag": tag, "id_tag_info": info}


async def send_list(st, version, kind="Full", entries=None) -> str:
    req = call.SendLocalList(list_version=version, update_type=kind, local_authorization_list=entries)
    return (await st.server.cp.call(req)).status


async def list_version(st) -> int:
    return (await st.server.cp.call(call.GetLocalListVersion())).list_version


async def change(st, key, value) -> str:
    return (await st.server.cp.call(call.ChangeConfiguration(key=key, value=value))).status


async def start_with_card(st, since, tag):
    """Plug in, present the card: the StartTransaction of `tag`, confirmed; its transactionId."""
    await st.plug()
    await card(st, tag)
    await since.wait("StartTransaction", id_tag=tag)
    await since.status(1, "Charging")
    return await since.confirmed()


async def test_tc042_2_empty_list_version_zero(st):
    """TC_042_2. GetLocalListVersion.conf: "listVersion ... A value of 0 (zero) is reserved to
    indicate that the Local Authorization List is empty"; and the profile is announced:
    LocalAuthListEnabled, LocalAuthListMaxLength and SendLocalListMaxLength are there."""
    assert await list_version(st) == 0
    cfg = await st.server.cp.call(call.GetConfiguration(key=[
        "SupportedFeatureProfiles", "LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"]))
    values = {k["key"]: (k["value"], k["readonly"]) for k in cfg.configuration_key}
    assert "LocalAuthListManagement" in values["SupportedFeatureProfiles"][0].split(",")
    assert values["LocalAuthListEnabled"] == ("true", False)
    assert values["SendLocalListMaxLength"] == (str(MOST), True)
    assert int(values["LocalAuthListMaxLength"][0]) >= MOST and values["LocalAuthListMaxLength"][1]


async def test_tc043_full_then_differential(st):
    """TC_043. 5.15: "In case of a full update, the Local Authorization List SHALL be replaced by
    the list in the request"; "In case of a differential update ... If this element [idTagInfo] is
    present, then this entry SHALL be added or updated ... If this element is absent, than the
    entry for this idtag ... SHALL be deleted"; GetLocalListVersion then gives the new version."""
    assert await send_list(st, 1, "Full", [entry("F1"), entry("F2"), entry("F3", "Blocked")]) == "Accepted"
    assert await list_version(st) == 1
    assert await send_list(st, 2, "Differential", [{"id_tag": "F1"}, entry("D1")]) == "Accepted"
    assert await list_version(st) == 2
    assert (tmp := st.tmp / "data" / "list.jsonl").exists()
    tags = sorted(json.loads(x)[0] for x in tmp.read_text().splitlines()[1:])
    assert tags == ["d1", "f2", "f3"]


async def test_tc043_2_version_mismatch(st):
    """TC_043_2. SendLocalList.conf VersionMismatch: "Version number in the request for a
    differential update is less or equal then version number of current list"; the list and its
    version stay."""
    v = await list_version(st)
    assert v > 0
    assert await send_list(st, v, "Differential", [entry("NEWER")]) == "VersionMismatch"
    assert await send_list(st, v - 1, "Differential", [entry("NEWER")]) == "VersionMismatch"
    assert await list_version(st) == v


async def test_tc043_3_update_failed(st):
    """TC_043_3. SendLocalList.conf Failed: "Failed to update the Local Authorization List": here
    a message with more entries than SendLocalListMaxLength ("Maximum number of identifications
    that can be send in a single SendLocalList.req"); the list and its version stay."""
    v = await list_version(st)
    big = [entry(f"X{i:019d}", expiry=when(3600), parent="P" * 20) for i in range(MOST + 1)]
    assert await send_list(st, v + 1, "Full", big) == "Failed"
    assert await list_version(st) == v
    assert await send_list(st, v + 1, "Full", [entry("B1"), {"id_tag": "B2"}]) == "Failed"  # Full needs idTagInfo
    assert await list_version(st) == v


async def test_tc008_start_from_local_list(st):
    """TC_008. 3.5 (LocalPreAuthorize): "the Charge Point MAY start a transaction for an idTag
    that is valid in its Local Authorization List ... without first sending an Authorize.req";
    idTags compare case-insensitively (IdToken is a CiString20)."""
    since = Since(st)
    assert await send_list(st, 10, "Full", [entry("list8")]) == "Accepted"
    tid = await start_with_card(st, since, "LIST8")
    assert not since.msgs("Authorize")
    await end_session(st, since, tid)


async def test_tc007_start_with_cached_id(st):
    """TC_007. 3.5.1: the Authorization Cache holds "identifiers that have been presented ... and
    successfully authorized"; with LocalPreAuthorize the second start needs no Authorize.req.
    The cache learns from the StopTransaction.conf too (idTagInfo), and a listed idTag is never
    cached: the list answers for it."""
    since = Since(st)
    tid = await start_with_card(st, since, "CACHE7")
    assert [kw["id_tag"] for kw in since.msgs("Authorize")] == ["CACHE7"]
    await end_session(st, since, tid)
    since = Since(st)
    tid = await start_with_card(st, since, "cache7")
    assert not since.msgs("Authorize")
    await end_session(st, since, tid)
    cached = [json.loads(x)[0] for x in (st.tmp / "data" / "cache.jsonl").read_text().splitlines()]
    assert "cache7" in cached and "list8" not in cached


async def test_tc061_clear_cache_then_authorize(st):
    """TC_061. ClearCache: "Upon receipt of a ClearCache.req PDU, the Charge Point SHALL attempt to
    clear its Authorization Cache"; the id cached by TC_007 is then not known, so presenting it
    sends Authorize.req before the transaction starts. The local list is not the cache: it stays."""
    assert (await st.server.cp.call(call.ClearCache())).status == "Accepted"
    assert await list_version(st) == 10
    since = Since(st)
    tid = await start_with_card(st, since, "CACHE7")
    assert [kw["id_tag"] for kw in since.msgs("Authorize")] == ["CACHE7"]
    await end_session(st, since, tid)


async def test_listed_blocked_id_asks_online(st):
    """3.5 with LocalPreAuthorize: only a valid local entry starts at once; a listed Blocked one
    is not started locally, the Central System is asked (Authorize.req) and its Accepted starts."""
    since = Since(st)
    assert await send_list(st, 11, "Differential", [entry("BLOCK1", "Blocked")]) == "Accepted"
    tid = await start_with_card(st, since, "BLOCK1")
    assert [kw["id_tag"] for kw in since.msgs("Authorize")] == ["BLOCK1"]
    await end_session(st, since, tid)


async def test_tc042_1_and_tc043_1_list_disabled(st):
    """TC_042_1. GetLocalListVersion.conf: "A value of -1 ... indicates that the Local
    Authorization List is not supported" (here: disabled by LocalAuthListEnabled false).
    TC_043_1. SendLocalList.conf NotSupported: "Update of Local Authorization List is not
    supported by Charge Point". Enabled again, the list is back with its version."""
    assert await change(st, "LocalAuthListEnabled", "false") == "Accepted"
    assert await list_version(st) == -1
    assert await send_list(st, 20, "Full", [entry("NEW")]) == "NotSupported"
    assert await change(st, "LocalAuthListEnabled", "true") == "Accepted"
    assert await list_version(st) == 11


async def test_malformed_messages_get_their_callerror(st):
    """Every field of both messages malformed: the CALLERROR its schema violation names (4.2.3:
    TypeConstraintViolation, PropertyConstraintViolation, OccurenceConstraintViolation,
    FormationViolation), and the list untouched."""
    ok = {"listVersion": 30, "updateType": "Full",
          "localAuthorizationList": [{"idTag": "M1", "idTagInfo": {"status": "Accepted"}}]}
    item = ok["localAuthorizationList"][0]
    cases = [
        ({k: v for k, v in ok.items() if k != "listVersion"}, "OccurenceConstraintViolation"),
        ({**ok, "listVersion": "30"}, "TypeConstraintViolation"),
        ({**ok, "listVersion": 30.5}, "TypeConstraintViolation"),
        ({k: v for k, v in ok.items() if k != "updateType"}, "OccurenceConstraintViolation"),
        ({**ok, "updateType": "full"}, "PropertyConstraintViolation"),
        ({**ok, "localAuthorizationList": {"idTag": "M1"}}, "TypeConstraintViolation"),
        ({**ok, "localAuthorizationList": [{"idTagInfo": item["idTagInfo"]}]}, "OccurenceConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTag": "M" * 21}]}, "PropertyConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTag": 5}]}, "TypeConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTagInfo": {}}]}, "OccurenceConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTagInfo": {"status": "Fine"}}]}, "PropertyConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTagInfo": {"status": "Accepted", "expiryDate": "soon"}}]},
         "PropertyConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTagInfo": {"status": "Accepted", "parentIdTag": "P" * 21}}]},
         "PropertyConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "idTagInfo": {"status": "Accepted", "parentIdTag": None}}]},
         "TypeConstraintViolation"),
        ({**ok, "localAuthorizationList": [{**item, "extra": 1}]}, "FormationViolation"),
        ({**ok, "extra": 1}, "FormationViolation"),
    ]
    for n, (payload, code) in enumerate(cases):
        ans = await st.raw(json.dumps([2, f"m{n}", "SendLocalList", payload]))
        assert ans[0] == 4 and ans[2] == code, (payload, ans)
    ans = await st.raw('[2, "g1", "GetLocalListVersion", {"listVersion": 1}]')
    assert ans[0] == 4 and ans[2] == "FormationViolation"
    ans = await st.raw('[2, "g2", "GetLocalListVersion", []]')
    assert ans[0] == 4
    assert await list_version(st) == 11


async def test_offline_rules_and_expiry(tmp_path, firmware_lib, micropython):
    """3.5 offline: "If the Charge Point is offline ... LocalAuthorizeOffline ... the Charge Point
    ... will start a transaction for locally-authorized identifiers" (list entries Accepted and
    not expired: an expiryDate in the past makes an entry Expired); with
    AllowOfflineTxForUnknownId an unknown idTag starts too, but never one the list holds as
    Blocked, Expired or Invalid ("identifiers ... not valid" are refused)."""
    station = Station(tmp_path, firmware_lib, micropython)
    keys = {"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": True, "ConnectionTimeOut": 30}
    try:
        await station.start(ocpp_keys=keys)
        await station.booted()
        srv = station.server
        assert await send_list(station, 3, "Full", [
            entry("OK1"), entry("BLOCKED1", "Blocked"), entry("INVALID1", "Invalid"),
            entry("OLD1", expiry=when(-60)), entry("LATER1", expiry=when(3600))]) == "Accepted"
        await srv.stop()
        await station.fw.wait_log(r"ocpp disconnected")
        await station.plug()
        for n, tag in enumerate(("BLOCKED1", "invalid1", "OLD1"), 1):
            await card(station, tag)
            await station.fw.wait_log(r"authorize connector=1 result=refused offline", n=n)
        for n, tag in enumerate(("LATER1", "ok1", "NEVERSEEN"), 1):
            await card(station, tag)
            await station.fw.wait_log(rf"tx start connector=1 .*id_tag={tag}")
            await card(station, tag)  # the same card ends it
            await station.fw.wait_log(r"tx stop connector=1 .*reason=Local", n=n)
        assert len(station.fw.log_matches(r"tx start")) == 3
        await srv.start()
        await srv.wait_msg("StopTransaction", n=3, timeout=20)
        assert not srv.actions("Authorize")
    finally:
        await station.close()
    assert_clean(station)


@pytest.mark.parametrize("build", ["unix64", "unix32"])
async def test_power_cut_keeps_list_and_version(tmp_path, firmware_lib, build):
    """Only SendLocalList edits the list, and it persists: after a power cut GetLocalListVersion
    gives the same version and a listed idTag still starts without Authorize.req."""
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    station = Station(tmp_path, firmware_lib, binary)
    try:
        await station.start(ocpp_keys=KEYS)
        await station.booted()
        srv = station.server
        assert await send_list(station, 2**31 - 1, "Full", [entry("KEEP1", expiry=when(3600))]) == "Accepted"
        station.fw.kill()
        await station.fw.wait_log(r"app started", n=2, timeout=15)
        await srv.wait_msg("BootNotification", n=2, timeout=15)
        await station.fw.wait_log(r"boot accepted", n=2)
        assert await list_version(station) == 2**31 - 1
        since = Since(station)
        await start_with_card(station, since, "keep1")
        assert not srv.actions("Authorize")
    finally:
        await station.close()
    assert_clean(station)


# An ESP32 without PSRAM: 112 KB of GC heap in two regions, the first 56 KB
# (../shared/reference/micropython-and-esp32.md). At test_memory.py's limits (84k .mpy, 36k
# frozen: a session's need plus ~4 KB) a list of the longest entries fits only a few at a time:
# measured, unix32 .mpy at 84k took 2 (4: InternalError, MemoryError), frozen at 36k took 10
# (12: no heap for the frame, the connection closed and came back); nothing crashed.
@pytest.mark.parametrize(("build", "heap"), [("unix32", "112k"), ("unix32-frozen", "56k")])
async def test_full_list_fits_the_heap(tmp_path, tmp_path_factory, build, heap):
    """A SendLocalList of SendLocalListMaxLength entries at their longest (~5.3 KB) in an ESP32's
    heap (.mpy: the whole 112 KB; frozen: its first region, 56 KB): Accepted, again and again;
    one entry more: Failed, with the heap intact (no MemoryError, no restart) and the list as it
    was; then an ordinary session still runs."""
    binary, lib = board_build(build, tmp_path_factory)
    flash = tmp_path / "flash"
    flash.mkdir()
    station = Station(flash, lib, binary)
    station.fw.heap = heap
    try:
        await station.start()
        await station.booted()
        full = [entry(f"{i:020d}", "ConcurrentTx", when(3600 + i), "P" * 20) for i in range(MOST)]
        text = json.dumps([2, "x" * 36, "SendLocalList", {"listVersion": 2**31 - 1, "updateType": "Full",
                                                           "localAuthorizationList": full}])
        assert len(text) > 5000
        for n in range(3):  # again and again: nothing is left behind in the heap
            assert await send_list(station, 100 + n, "Full", full) == "Accepted"
        assert await send_list(station, 200, "Full", full + [entry("Y" * 20)]) == "Failed"
        assert await send_list(station, 201, "Differential", [entry("Z" * 20)]) == "Accepted"
        assert await list_version(station) == 201
        tid = await start_charging_and_stop(station)
        assert tid > 0
        assert station.fw.exits == []
    finally:
        await station.close()
    assert_clean(station)


async def start_charging_and_stop(station) -> int:
    from tests.ocpp.test_core_profile import start_charging
    tid = await start_charging(station)
    assert await station.remote_stop(tid) == "Accepted"
    await station.server.wait_msg("StopTransaction")
    return tid


async def test_start_conf_contradicting_the_list_reports_local_list_conflict(st):
    """3.5 (Local Authorization List): when a StartTransaction.conf's idTagInfo differs from the
    list's entry, "the Charge Point SHOULD inform the Central System ... by sending a
    StatusNotification.req with ConnectorId set to 0, and ErrorCode set to 'LocalListConflict'";
    the Invalid answer then stops the transaction (StopTransactionOnInvalidId)."""
    since = Since(st)
    st.server.invalid_tags.add("CONFLICT1")
    assert await send_list(st, 12, "Differential", [entry("conflict1")]) == "Accepted"
    await st.plug()
    await card(st, "CONFLICT1")
    await since.wait("StartTransaction", id_tag="CONFLICT1")
    await since.wait("StatusNotification", connector_id=0, error_code="LocalListConflict")
    await since.wait("StopTransaction", reason="DeAuthorized")
    st.server.invalid_tags.discard("CONFLICT1")
    since = Since(st)
    await st.plug(plugged=False)
    await since.status(1, "Available")
