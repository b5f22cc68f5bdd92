# Reservations inside MicroPython on the simulated two-connector board, without a network:
# ReserveNow's answers, who may use a reservation, connector 0's mark, expiry on the central
# system's clock, the StartTransaction that uses one, and the file read back at boot.
import asyncio
import json

from evse import ocpp
from evse.files import save_json
from evse.ocpp import rpc
from evse.ocpp.operations import ReserveNow
from flashdir import done, flash
from test_handlers import call, charge_point, code_of

SOON = 600  # s


def later(s=SOON):
    return ocpp.iso(ocpp.now() + s)


def reserve(cp, cid, rid, tag="R1", parent=None, s=SOON):
    p = {"connectorId": cid, "expiryDate": later(s), "idTag": tag, "reservationId": rid}
    if parent is not None:
        p["parentIdTag"] = parent
    return call(cp, "ReserveNow", p)["status"]


def states(cp):
    return [p.machine.state for p in cp.ports]


def poll(cp):
    asyncio.run(cp.poll())


def stored():
    with open("data/resv.json") as f:
        return json.load(f)


def test_reserve_now_answers_by_connector_state():
    """ReserveNow.conf: Accepted, Faulted, Occupied, Rejected, Unavailable; a connector this
    charge point does not have and an expiryDate already past are Rejected."""
    d = flash()
    cp = charge_point()
    poll(cp)
    assert reserve(cp, 3, 1) == "Rejected" and reserve(cp, -1, 1) == "Rejected"
    assert reserve(cp, 1, 1, s=-5) == "Rejected" and reserve(cp, 1, 1, s=0) == "Rejected"
    assert states(cp) == ["Available", "Available"] and cp.authorization.held == []
    assert reserve(cp, 1, 1) == "Accepted"
    assert states(cp) == ["Reserved", "Available"]
    assert reserve(cp, 1, 2, tag="OTHER") == "Occupied"  # held by another reservation
    cp.port(2).apply("plug", True)
    assert reserve(cp, 2, 2) == "Occupied"  # in use: an EV is plugged in
    cp.port(2).apply("plug", False)
    cp.port(2).apply("fault", ("OtherError", "relay welded"))
    assert reserve(cp, 2, 2) == "Faulted"
    cp.port(2).apply("clear")
    call(cp, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert reserve(cp, 2, 2) == "Unavailable"
    assert [r[0] for r in stored()] == [1]
    done(d)


def test_reserve_now_bad_input():
    """Every field of ReserveNow.req and CancelReservation.req: the schema check answers the
    CALLERROR before anything runs (a missing field, a wrong type, a too long idTag, a bad
    date, an extra property)."""
    d = flash()
    cp = charge_point()
    ok = {"connectorId": 1, "expiryDate": later(), "idTag": "R1", "reservationId": 1}
    for field, value, code in (("connectorId", "1", rpc.TYPE), ("connectorId", 1.5, rpc.TYPE),
                               ("expiryDate", "tomorrow", rpc.PROPERTY), ("expiryDate", 5, rpc.TYPE),
                               ("idTag", "X" * 21, rpc.PROPERTY), ("idTag", None, rpc.TYPE),
                               ("parentIdTag", "P" * 21, rpc.PROPERTY), ("parentIdTag", 7, rpc.TYPE),
                               ("reservationId", "1", rpc.TYPE), ("reservationId", True, rpc.TYPE)):
        p = dict(ok)
        p[field] = value
        assert code_of(cp, "ReserveNow", p) == code, (field, value)
    for field in ("connectorId", "expiryDate", "idTag", "reservationId"):
        p = dict(ok)
        del p[field]
        assert code_of(cp, "ReserveNow", p) == rpc.OCCURENCE, field
    p = dict(ok)
    p["x"] = 1
    assert code_of(cp, "ReserveNow", p) == "FormationViolation"
    assert code_of(cp, "CancelReservation", {}) == rpc.OCCURENCE
    assert code_of(cp, "CancelReservation", {"reservationId": "1"}) == rpc.TYPE
    assert code_of(cp, "CancelReservation", {"reservationId": 1, "x": 1}) == "FormationViolation"
    assert cp.authorization.held == [] and states(cp) == ["Available", "Available"]
    done(d)


def test_replace_by_id_and_cancel():
    """5.13: "If the reservationId matches a reservation in the Charge Point, then the Charge
    Point SHALL replace the reservation"; 5.2: CancelReservation of an unknown id is Rejected."""
    d = flash()
    cp = charge_point()
    assert reserve(cp, 1, 7) == "Accepted"
    assert reserve(cp, 1, 7, tag="R2") == "Accepted"  # same id, same connector: replaced
    assert cp.authorization.held[0][2] == "R2" and len(cp.authorization.held) == 1
    assert reserve(cp, 2, 7, tag="R3") == "Accepted"  # same id, another connector: moved
    assert states(cp) == ["Available", "Reserved"]
    assert [(r[0], r[1], r[2]) for r in stored()] == [(7, 2, "R3")]
    cp.port(1).apply("plug", True)
    assert reserve(cp, 1, 7, tag="R4") == "Occupied"  # refused: the old one stays
    assert states(cp) == ["Preparing", "Reserved"] and stored()[0][1] == 2
    assert call(cp, "CancelReservation", {"reservationId": 8}) == {"status": "Rejected"}
    assert call(cp, "CancelReservation", {"reservationId": 7}) == {"status": "Accepted"}
    assert states(cp) == ["Preparing", "Available"] and stored() == []
    assert call(cp, "CancelReservation", {"reservationId": 7}) == {"status": "Rejected"}
    done(d)


def test_who_may_use_a_reservation():
    """5.13: "If the parent id tag in the reservation has a value (it is optional), then in
    order to determine the parent id tag that is associated with an incoming id tag, the Charge
    Point MAY look it up in its Local Authorization List or Authorization Cache. If it is not
    found in the Local Authorization List or Authorization Cache, then the Charge Point SHALL
    send an Authorize.req for the incoming id tag to the Central System.\""""
    d = flash()
    cp = charge_point()
    reserve(cp, 1, 1, tag="A")
    reserve(cp, 2, 2, tag="B", parent="P")
    admits = ReserveNow.admits
    assert admits(cp, 1, "A") is True and admits(cp, 1, "X") is False
    assert admits(cp, 1, "X", "P") is False  # no parent in that reservation
    assert admits(cp, 2, "B") is True and admits(cp, 2, "X") is None  # ask the central system
    assert admits(cp, 2, "X", "P") is True and admits(cp, 2, "X", "Q") is False
    # RemoteStartTransaction by another idTag on a reserved connector: Rejected
    assert call(cp, "RemoteStartTransaction", {"idTag": "X", "connectorId": 1}) == {"status": "Rejected"}
    assert call(cp, "RemoteStartTransaction", {"idTag": "X"}) == {"status": "Rejected"}
    # without a connector: the one reserved for the idTag
    assert call(cp, "RemoteStartTransaction", {"idTag": "B"}) == {"status": "Accepted"}
    assert cp.port(2).machine.id_tag == "B" and states(cp) == ["Reserved", "Preparing"]
    done(d)


def test_start_carries_reservation_id_and_ends_it():
    """5.13: "the Charge Point SHALL ... include the reservationId in the StartTransaction.req";
    "A reservation SHALL be terminated on the Charge Point when a transaction is started for the
    reserved idTag"; a later start carries no reservationId."""
    d = flash()
    cp = charge_point(plugged=True)
    poll(cp)
    cp.port(1).apply("plug", False)
    assert reserve(cp, 1, 42, tag="A") == "Accepted"
    cp.port(1).apply("plug", True)
    assert states(cp)[0] == "Reserved"
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1}) == {"status": "Accepted"}
    seq, action, p = cp.journal.peek()
    assert action == "StartTransaction" and p["reservationId"] == 42 and p["idTag"] == "A"
    assert cp.port(1).machine.reserved is None
    assert call(cp, "CancelReservation", {"reservationId": 42}) == {"status": "Rejected"}  # used
    poll(cp)  # and forgotten
    assert cp.authorization.held == [] and stored() == []
    assert call(cp, "RemoteStartTransaction", {"idTag": "B", "connectorId": 2}) == {"status": "Accepted"}
    starts = [p for _s, a, p in cp.journal.items() if a == "StartTransaction"]
    assert "reservationId" not in starts[1]
    done(d)


def test_connector_zero_keeps_one_connector_free():
    """5.13: "If the connectorId in the reservation request is 0, then the Charge Point SHALL
    NOT reserve a specific connector, but SHALL make sure that at any time during the validity
    of the reservation, one connector remains available for the reserved id tag"; OCTT wants the
    last free one Reserved (TC_049)."""
    d = flash()
    cp = charge_point()
    poll(cp)
    assert reserve(cp, 0, 5, tag="Z") == "Accepted"
    poll(cp)
    assert states(cp) == ["Available", "Available"]  # two free: none needs to wait
    assert reserve(cp, 0, 6, tag="Y") == "Occupied"  # one connector 0 reservation at a time
    assert call(cp, "RemoteStartTransaction", {"idTag": "X", "connectorId": 1}) == {"status": "Accepted"}
    poll(cp)
    assert states(cp) == ["Preparing", "Reserved"]  # the last free one is held for Z
    assert call(cp, "RemoteStartTransaction", {"idTag": "W", "connectorId": 2}) == {"status": "Rejected"}
    assert reserve(cp, 2, 9, tag="V") == "Occupied"
    call(cp, "RemoteStopTransaction", {"transactionId": 1})  # no such transaction: nothing
    cp.port(1).apply("stop")  # X's authorisation cancelled: two free again
    poll(cp)
    assert states(cp) == ["Available", "Available"]
    cp.port(1).apply("authorize", "X")
    poll(cp)
    cp.port(2).apply("plug", True)
    assert call(cp, "RemoteStartTransaction", {"idTag": "Z"}) == {"status": "Accepted"}
    seq, action, p = cp.journal.peek()
    assert action == "StartTransaction" and p["connectorId"] == 2 and p["reservationId"] == 5
    poll(cp)
    assert cp.authorization.held == [] and stored() == []
    assert cp.authorization.mark == 0 and cp.port(2).machine.reserved is None
    done(d)


def test_connector_zero_refusals_and_the_key():
    """ReserveConnectorZeroSupported false: connector 0 is Rejected. All connectors Faulted ->
    Faulted, the charge point Unavailable -> Unavailable (TC_050_3)."""
    d = flash()
    cp = charge_point(keys={"ReserveConnectorZeroSupported": False})
    assert reserve(cp, 0, 1) == "Rejected"
    done(d)
    d = flash()
    cp = charge_point()
    for p in cp.ports:
        p.apply("fault", ("OtherError", "relay welded"))
    assert reserve(cp, 0, 1) == "Faulted"
    cp.port(1).apply("clear")
    cp.port(1).apply("plug", True)
    assert reserve(cp, 0, 1) == "Occupied"
    call(cp, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert reserve(cp, 0, 1) == "Unavailable"
    done(d)


def test_expiry_fault_and_unavailability_end_it():
    """5.13: expired -> the connector Available again; a connector Faulted or Unavailable loses
    its reservation (only that state is reported)."""
    d = flash()
    cp = charge_point()
    reserve(cp, 1, 1, s=2)
    reserve(cp, 0, 3, tag="Z")
    poll(cp)
    assert states(cp) == ["Reserved", "Reserved"] and cp.authorization.mark == 2
    ocpp.state[0] += 3  # the central system's clock moves on
    try:
        poll(cp)
    finally:
        ocpp.state[0] -= 3
    assert [r[0] for r in cp.authorization.held] == [3] and states(cp)[0] == "Available"
    poll(cp)  # two free again: connector 0's reservation need not hold one
    assert states(cp) == ["Available", "Available"] and cp.authorization.mark == 0
    reserve(cp, 2, 2)
    poll(cp)
    assert states(cp) == ["Reserved", "Reserved"] and cp.authorization.mark == 1
    cp.port(2).apply("fault", ("OtherError", "test"))  # a poll clears only faults it knows
    poll(cp)
    assert [r[0] for r in stored()] == [3] and states(cp) == ["Reserved", "Faulted"]
    call(cp, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    poll(cp)
    assert stored() == [] and cp.authorization.mark == 0
    assert states(cp) == ["Unavailable", "Faulted"]
    done(d)


def test_reservations_survive_a_reboot_and_damage_is_dropped():
    d = flash()
    cp = charge_point()
    reserve(cp, 2, 11, tag="A", parent="P")
    reserve(cp, 0, 12, tag="Z")
    cp = charge_point()  # a reboot
    assert states(cp) == ["Available", "Reserved"]
    poll(cp)
    assert states(cp) == ["Reserved", "Reserved"]
    assert ReserveNow.admits(cp, 2, "B", "P") is True
    held = stored()
    save_json("data/resv.json", held + [[13, 2, "B", None, held[0][4]], [14, 9, "C", None, 1],
                                        "junk", [15, 1, "", None, 1], [16, 1, "D", None, "x"]])
    cp = charge_point()
    assert [r[0] for r in cp.authorization.held] == [11, 12] and [r[0] for r in stored()] == [11, 12]
    save_json("data/resv.json", {"not": "a list"})
    cp = charge_point()
    assert cp.authorization.held == [] and stored() == []
    done(d)


def test_one_reservation_a_connector_even_before_a_tidy():
    """The bound (NumberOfConnectors + 1): a connector that dropped its reservation (Faulted)
    and is back before any poll tidied it takes a new one in place of the old."""
    d = flash()
    cp = charge_point()
    reserve(cp, 1, 1)
    cp.port(1).apply("fault", ("OtherError", "test"))
    cp.port(1).apply("clear")
    assert reserve(cp, 1, 2, tag="R2") == "Accepted"
    assert [(r[0], r[1]) for r in stored()] == [(2, 1)]
    poll(cp)
    assert states(cp)[0] == "Reserved" and [r[0] for r in cp.authorization.held] == [2]
    done(d)
