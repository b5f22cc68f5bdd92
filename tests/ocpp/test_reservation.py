"""The Reservation profile over the wire, named after the OCA test cases (OCTT TC_046..TC_053)
with the OCPP 1.6 sentence each checks: ReserveNow, CancelReservation, the Reserved status,
the StartTransaction that uses a reservation, expiry on the central system's clock, and a
reservation held across a power cut.

One firmware (a one-connector charger) serves the whole module, on the 64-bit port: each test
leaves it as it found it (Available, nothing reserved, no transaction, unplugged), so the
cases run one after the other in the order of this file, as OCTT runs them against one charge
point. The reboot case runs on its own firmware, and on the 32-bit port too: the expiry is a unix
time beyond 2**30 there (a long int through JSON and back). The logic of two-connector chargers
(connector 0 keeping one free) and every field's bad input are tests/firmware/test_reservations.py.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
import pytest_asyncio
from ocpp.v16 import call

from tests import builds
from tests.ocpp.conftest import Station, frame_problems, module_station, utc_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEYS = {"ConnectionTimeOut": 30}


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit for the shared station; the reboot case also runs on unix32 (see the docstring)."""
    return request.param


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def st(tmp_path_factory, firmware_lib, micropython):
    async for station in module_station(tmp_path_factory.mktemp("resv"), firmware_lib, micropython, KEYS):
        yield station


def expiry(seconds: float = 600) -> str:
    return utc_in(seconds)


async def reserve(st, connector=1, rid=1, tag="RES1", parent=None, seconds=600.0) -> str:
    res = await st.server.cp.call(call.ReserveNow(connector_id=connector, expiry_date=expiry(seconds),
                                                  id_tag=tag, reservation_id=rid, parent_id_tag=parent))
    return res.status


async def cancel(st, rid) -> str:
    return (await st.server.cp.call(call.CancelReservation(reservation_id=rid))).status


class Since:
    """The central system's messages from now on (the station is shared by the module)."""

    def __init__(self, st):
        self.st = st
        self.srv = st.server
        self.n = len(st.server.got)
        self.lines = len(st.fw.lines)

    async def log(self, pattern, timeout=10.0):
        """A firmware log line matching `pattern`, logged from now on."""
        rx = re.compile(pattern)
        lines = self.st.fw.lines

        def found():
            return next((x for x in lines[self.lines:] if rx.search(x)), None)
        return await self.srv.wait(found, timeout, f"log line /{pattern}/")

    async def confirmed(self):
        """The transactionId of the transaction started since (once the firmware knows it)."""
        await self.log(r"tx confirmed ref=\d+ transaction_id=")
        return self.srv.next_tx

    def msgs(self, action, **match):
        return [kw for a, kw in self.srv.got[self.n:]
                if a == action and all(kw.get(k) == v for k, v in match.items())]

    async def wait(self, action, timeout=10.0, **match):
        return (await self.srv.wait(lambda: self.msgs(action, **match), timeout, f"{action} {match}"))[0]

    async def status(self, connector, status, timeout=10.0):
        return await self.wait("StatusNotification", timeout, connector_id=connector, status=status)

    def statuses(self, connector=1):
        return [kw["status"] for kw in self.msgs("StatusNotification", connector_id=connector)]


async def card(st, tag, connector=1):
    await st.sim(cmd="idtag", connector=connector, id_tag=tag)


async def end_session(st, since, tid):
    """RemoteStop, unplug: the connector Available again."""
    assert await st.remote_stop(tid) == "Accepted"
    await since.wait("StopTransaction", transaction_id=tid)
    since = Since(st)
    await st.plug(plugged=False)
    await since.status(1, "Available")


async def test_tc046_1_reserved_connector_local_start(st):
    """TC_046_1. 5.13: "If the Charge Point accepts the reservation request, it SHALL ... send a
    StatusNotification.req ... with status Reserved"; "the Charge Point SHALL ... allow only the
    reserved idTag ... to start a transaction" on that connector, so another idTag is refused
    there without an Authorize.req; the reserved idTag's StartTransaction.req carries the
    reservationId: "If the transaction is started for the reserved idTag ... include the
    reservationId in the StartTransaction.req"; and the display says Reserved."""
    since = Since(st)
    assert await reserve(st, rid=461, tag="RES1") == "Accepted"
    await since.status(1, "Reserved")
    await since.log(r"display .*states=1:Reserved")
    await card(st, "OTHER1")
    await since.log(r"authorize connector=1 result=refused reserved")
    await st.plug()
    await card(st, "RES1")
    start = await since.wait("StartTransaction", id_tag="RES1")
    assert start["reservation_id"] == 461
    await since.status(1, "Charging")
    assert [kw["id_tag"] for kw in since.msgs("Authorize")] == ["RES1"]  # never OTHER1
    await end_session(st, since, await since.confirmed())


async def test_tc046_2_reserved_connector_remote_start(st):
    """TC_046_2. RemoteStartTransaction of another idTag on the reserved connector: Rejected;
    of the reserved idTag: Accepted, and its StartTransaction.req carries the reservationId
    ("include the reservationId in the StartTransaction.req")."""
    since = Since(st)
    assert await reserve(st, rid=462, tag="RES2") == "Accepted"
    await since.status(1, "Reserved")
    assert await st.remote_start("OTHER2") == "Rejected"
    assert await st.remote_start("RES2") == "Accepted"
    await since.status(1, "Preparing")
    await st.plug()
    start = await since.wait("StartTransaction", id_tag="RES2")
    assert start["reservation_id"] == 462
    await since.status(1, "Charging")
    await end_session(st, since, await since.confirmed())


async def test_tc047_reservation_expires(st):
    """TC_047. 5.13: "A reservation SHALL be terminated on the Charge Point when ... the
    expiryDate is reached": StatusNotification Available, nothing else."""
    since = Since(st)
    t0 = asyncio.get_running_loop().time()
    assert await reserve(st, rid=47, seconds=2) == "Accepted"
    await since.status(1, "Reserved")
    await since.status(1, "Available", timeout=6)
    assert asyncio.get_running_loop().time() - t0 >= 1.0  # not before its time
    assert since.statuses() == ["Reserved", "Available"]
    assert await cancel(st, 47) == "Rejected"  # it is over


async def test_tc048_1_reserve_faulted_connector(st):
    """TC_048_1. ReserveNow.conf "Faulted: Reservation has not been made, because connectors or
    specified connector are in a faulted state"."""
    since = Since(st)
    await st.sim(cmd="fault", connector=1, fault="welded")
    await since.status(1, "Faulted")
    assert await reserve(st, rid=481) == "Faulted"
    await st.sim(cmd="fault", connector=1, fault=None)
    await since.status(1, "Available")
    assert "Reserved" not in since.statuses()


async def test_tc048_2_reserve_occupied_connector(st):
    """TC_048_2. "Occupied: Reservation has not been made. All connectors or the specified
    connector are occupied" (a transaction runs there)."""
    since = Since(st)
    await st.plug()
    await since.status(1, "Preparing")
    assert await st.remote_start("TAG48") == "Accepted"
    await since.status(1, "Charging")
    tid = await since.confirmed()
    assert await reserve(st, rid=482) == "Occupied"
    await end_session(st, since, tid)
    assert "Reserved" not in since.statuses()


async def test_tc048_3_reserve_unavailable_connector(st):
    """TC_048_3. "Unavailable: Reservation has not been made, because connectors or specified
    connector are in an unavailable state"."""
    since = Since(st)
    srv = st.server
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))).status == "Accepted"
    await since.status(1, "Unavailable")
    assert await reserve(st, rid=483) == "Unavailable"
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=1, type="Operative"))).status == "Accepted"
    await since.status(1, "Available")


async def test_tc049_reserve_connector_zero_then_charge(st):
    """TC_049. 5.13: "If the connectorId in the reservation request is 0, then the Charge Point
    SHALL NOT reserve a specific connector, but SHALL make sure that at any time during the
    validity of the reservation, one connector remains available for the reserved id tag"; on a
    one-connector charger that connector is Reserved (what OCTT expects). The reserved idTag
    then charges, its StartTransaction.req carrying the reservationId."""
    since = Since(st)
    cfg = await st.server.cp.call(call.GetConfiguration(key=["ReserveConnectorZeroSupported",
                                                              "SupportedFeatureProfiles"]))
    values = {k["key"]: (k["value"], k["readonly"]) for k in cfg.configuration_key}
    assert values["ReserveConnectorZeroSupported"] == ("true", True)
    assert "Reservation" in values["SupportedFeatureProfiles"][0].split(",")
    assert await reserve(st, connector=0, rid=49, tag="RES49") == "Accepted"
    await since.status(1, "Reserved")
    assert await st.remote_start("OTHER49") == "Rejected"
    await card(st, "RES49")
    await since.status(1, "Preparing")
    await st.plug()
    start = await since.wait("StartTransaction", id_tag="RES49")
    assert start["reservation_id"] == 49 and start["connector_id"] == 1
    await since.status(1, "Charging")
    await end_session(st, since, await since.confirmed())
    assert await cancel(st, 49) == "Rejected"  # used by its transaction
    assert not since.msgs("StatusNotification", connector_id=0, status="Reserved")  # 0 never is


async def test_tc050_3_reserve_charge_point_while_unavailable(st):
    """TC_050_3. The whole charge point Inoperative (ChangeAvailability 0): ReserveNow for
    connector 0 is Unavailable."""
    since = Since(st)
    srv = st.server
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))).status == "Accepted"
    await since.status(0, "Unavailable")
    assert await reserve(st, connector=0, rid=503) == "Unavailable"
    assert (await srv.cp.call(call.ChangeAvailability(connector_id=0, type="Operative"))).status == "Accepted"
    await since.status(1, "Available")


async def test_tc051_cancel_reservation(st):
    """TC_051. 5.2: "If the Charge Point has a reservation matching the reservationId in the
    request PDU, it SHALL return status 'Accepted'" and the connector is Available again; a
    later start of the same idTag is an ordinary one (no reservationId)."""
    since = Since(st)
    assert await reserve(st, rid=51, tag="RES51") == "Accepted"
    await since.status(1, "Reserved")
    assert await cancel(st, 51) == "Accepted"
    await since.status(1, "Available")
    await st.plug()
    assert await st.remote_start("RES51") == "Accepted"
    start = await since.wait("StartTransaction", id_tag="RES51")
    assert "reservation_id" not in start or start["reservation_id"] is None
    await since.status(1, "Charging")
    await end_session(st, since, await since.confirmed())


async def test_tc052_cancel_unknown_reservation(st):
    """TC_052. 5.2: "If no reservation matching the reservationId is found, the Charge Point
    SHALL return status 'Rejected'"."""
    assert await cancel(st, 52) == "Rejected"


async def test_tc053_parent_id_tag_uses_the_reservation(st):
    """TC_053. 5.13: "If the parent id tag in the reservation has a value ... If it is not found
    in the Local Authorization List or Authorization Cache, then the Charge Point SHALL send an
    Authorize.req for the incoming id tag to the Central System"; an idTag with the same
    parentIdTag starts there, one with another parent does not."""
    since = Since(st)
    srv = st.server
    srv.parents.update({"CHILD1": "PARENT53", "STRANGER": "OTHERPARENT"})
    assert await reserve(st, rid=53, tag="RES53", parent="PARENT53") == "Accepted"
    await since.status(1, "Reserved")
    await card(st, "STRANGER")
    await since.wait("Authorize", id_tag="STRANGER")
    await since.log(r"authorize connector=1 result=refused reserved")
    await st.plug()
    await card(st, "CHILD1")
    await since.wait("Authorize", id_tag="CHILD1")
    start = await since.wait("StartTransaction", id_tag="CHILD1")
    assert start["reservation_id"] == 53
    await since.status(1, "Charging")
    await end_session(st, since, await since.confirmed())


async def test_reservation_replaced_by_its_id(st):
    """5.13: "If the reservationId in the request matches a reservation in the Charge Point,
    then the Charge Point SHALL replace that reservation with the new reservation in the
    request": the old idTag may no longer start, the new one may."""
    since = Since(st)
    assert await reserve(st, rid=60, tag="OLD60") == "Accepted"
    await since.status(1, "Reserved")
    assert await reserve(st, rid=60, tag="NEW60") == "Accepted"
    assert await reserve(st, rid=61, tag="NEW61") == "Occupied"  # one per connector
    assert await st.remote_start("OLD60") == "Rejected"
    assert await cancel(st, 60) == "Accepted"
    await since.status(1, "Available")
    assert since.statuses() == ["Reserved", "Available"]  # the replacement sent nothing


async def test_bad_input_over_the_wire(st):
    """Every field's malformed value is tests/firmware/test_reservations.py; here the CALLERRORs
    and the semantic refusals as the central system sees them. A connector the charge point
    does not have is Rejected, not PropertyConstraintViolation: the PDU allows any integer
    there, and OCPP answers what a charge point cannot do through the status, as for
    ChangeAvailability and RemoteStartTransaction. An expiryDate in the past is Rejected too:
    Accepted would promise a reservation that ends at once."""
    past = utc_in(-5)
    good = {"connectorId": 1, "expiryDate": expiry(), "idTag": "BAD", "reservationId": 70}
    cases = [({**good, "connectorId": 9}, [3, "Rejected"]),
             ({**good, "expiryDate": past}, [3, "Rejected"]),
             ({k: v for k, v in good.items() if k != "reservationId"}, [4, "OccurenceConstraintViolation"]),
             ({**good, "idTag": "X" * 21}, [4, "PropertyConstraintViolation"]),
             ({**good, "expiryDate": "soon"}, [4, "PropertyConstraintViolation"]),
             ({**good, "connectorId": "1"}, [4, "TypeConstraintViolation"])]
    for n, (payload, want) in enumerate(cases):
        ans = await st.raw(json.dumps([2, f"b{n}", "ReserveNow", payload]))
        got = [ans[0], ans[2]["status"]] if ans[0] == 3 else ans[0:3:2]
        assert got == want, (payload, ans)
    ans = await st.raw('[2, "c1", "CancelReservation", {"reservationId": "70"}]')
    assert ans[0] == 4 and ans[2] == "TypeConstraintViolation"
    assert (await st.server.cp.call(call.GetConfiguration(key=["NumberOfConnectors"]))).configuration_key


@pytest.mark.parametrize("build", ["unix64", "unix32"])
async def test_reservation_survives_a_power_cut(tmp_path, firmware_lib, build):
    """5.13 and the profile's persistence: a reservation held when the power goes is held after
    the boot (StatusNotification Reserved, only its idTag admitted) and still expires on time,
    by the central system's clock."""
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    station = Station(tmp_path, firmware_lib, binary)
    try:
        await station.start(ocpp_keys=KEYS)
        await station.booted()
        srv = station.server
        t0 = asyncio.get_running_loop().time()
        assert await reserve(station, rid=90, tag="RES90", seconds=8) == "Accepted"
        await srv.wait_status(1, "Reserved")
        # Available before the reservation only if the sender got to it first (a state not yet
        # sent is replaced by the next): counted, not assumed
        available = len([kw for kw in srv.actions("StatusNotification")
                         if kw.get("connector_id") == 1 and kw.get("status") == "Available"])
        station.fw.kill()
        await station.fw.wait_log(r"app started", n=2, timeout=15)
        await srv.wait_msg("BootNotification", n=2, timeout=15)
        await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Reserved")
        assert await station.remote_start("OTHER90") == "Rejected"
        await srv.wait_msg("StatusNotification", n=available + 1, connector_id=1, status="Available", timeout=12)
        assert asyncio.get_running_loop().time() - t0 >= 7.0  # not before its time
        assert json.loads((tmp_path / "data" / "resv.json").read_text()) == []
    finally:
        await station.close()
    assert frame_problems(station.server.frames) == []
    assert not [line for line in station.fw.lines if "crash" in line or "Traceback" in line]
