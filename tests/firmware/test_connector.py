# Every transition of the connector state machine, and every refused one, without I/O.
from evse.connector import (
    AVAILABLE,
    CHARGING,
    FAULTED,
    FINISHING,
    PREPARING,
    RESERVED,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    UNAVAILABLE,
    Connector,
)


def ev(c, name, arg=None, now=0):
    return c.event(name, arg, now)


def charging(stop_on_unplug=True):
    c = Connector(1, stop_on_unplug=stop_on_unplug)
    ev(c, "plug", True)
    ev(c, "authorize", "TAG")
    ev(c, "started")
    ev(c, "power", 7400)
    assert c.state == CHARGING and c.relay
    return c


def refused(c, name, arg=None, now=0):
    before = (c.state, c.relay, c.tx, c.id_tag, c.plugged, c.available, c.error)
    st, acts = c.event(name, arg, now)
    assert acts is None, (name, arg, acts)
    assert (c.state, c.relay, c.tx, c.id_tag, c.plugged, c.available, c.error) == before


def test_initial_available_and_unavailable():
    assert Connector(1).state == AVAILABLE
    assert Connector(2, available=False).state == UNAVAILABLE
    assert not Connector(1).relay


def test_plug_in_goes_preparing_and_out_back():
    c = Connector(1)
    assert ev(c, "plug", True) == (PREPARING, ["status"])
    assert ev(c, "plug", False) == (AVAILABLE, ["status"])


def test_plug_twice_refused():
    c = Connector(1)
    ev(c, "plug", True)
    refused(c, "plug", True)


def test_authorize_first_then_plug_starts():
    c = Connector(1)
    assert ev(c, "authorize", "TAG") == (PREPARING, ["status"])
    assert ev(c, "plug", True) == (PREPARING, ["start"])
    assert c.id_tag == "TAG"


def test_plug_first_then_authorize_starts():
    c = Connector(1)
    ev(c, "plug", True)
    assert ev(c, "authorize", "TAG") == (PREPARING, ["start"])


def test_relay_closes_only_after_started():
    c = Connector(1)
    ev(c, "plug", True)
    st, acts = ev(c, "authorize", "TAG")
    assert "close" not in acts and not c.relay
    st, acts = ev(c, "started")
    assert acts == ["close", "status"] and c.relay
    assert st == SUSPENDED_EV  # relay closed, EV not drawing yet


def test_started_refused_without_authorization_or_plug():
    c = Connector(1)
    refused(c, "started")
    ev(c, "plug", True)
    refused(c, "started")  # plugged but not authorised: the relay stays open
    c2 = Connector(1)
    ev(c2, "authorize", "TAG")
    refused(c2, "started")  # authorised but no cable


def test_started_twice_refused():
    c = charging()
    refused(c, "started")


def test_power_switches_charging_and_suspended_ev():
    c = Connector(1)
    ev(c, "plug", True)
    ev(c, "authorize", "TAG")
    ev(c, "started")
    assert ev(c, "power", 7400) == (CHARGING, ["status"])
    assert ev(c, "power", 0) == (SUSPENDED_EV, ["status"])
    assert ev(c, "power", None) == (SUSPENDED_EV, [])


def test_power_refused_outside_transaction():
    c = Connector(1)
    refused(c, "power", 7400)


def test_limit_zero_suspends_evse_and_opens_relay():
    """ocpp16-profiles.md, pilot: "below 6 A (0 too): no PWM, contactor open, SuspendedEVSE"."""
    c = charging()
    assert ev(c, "limit", 0) == (SUSPENDED_EVSE, ["open", "status"])
    assert not c.relay and c.tx  # the transaction is kept
    ev(c, "power", 0)  # SuspendedEVSE wins over SuspendedEV
    assert c.state == SUSPENDED_EVSE
    assert ev(c, "limit", 16) == (SUSPENDED_EV, ["close", "status"])
    assert c.relay
    assert ev(c, "limit", 5.9) == (SUSPENDED_EVSE, ["open", "status"])  # below 6 A: no offer
    refused(c, "limit", 3)  # still below 6 A: nothing changes
    assert ev(c, "limit", 6) == (SUSPENDED_EV, ["close", "status"])
    refused(c, "limit", 10)  # a current offered already: the relay stays as it is
    refused(c, "limit", None)  # no limit at all


def test_limit_without_transaction_applies_to_the_next_one():
    """A limit that arrives with no transaction running is kept: the next transaction starts
    in SuspendedEVSE with the relay open, until a limit of 6 A or more."""
    c = Connector(1)
    st, acts = ev(c, "limit", 0)
    assert (st, acts, c.relay) == (AVAILABLE, [], False)
    ev(c, "plug", True)
    ev(c, "authorize", "TAG")
    assert ev(c, "started") == (SUSPENDED_EVSE, ["status"])
    assert not c.relay
    assert ev(c, "limit", 16) == (SUSPENDED_EV, ["close", "status"])
    # and a transaction's end keeps it for the one after
    ev(c, "limit", 0)
    ev(c, "stop", "Remote")
    ev(c, "plug", False)
    ev(c, "plug", True)
    ev(c, "authorize", "TAG")
    assert ev(c, "started") == (SUSPENDED_EVSE, ["status"]) and not c.relay


def test_a_raised_limit_does_not_undo_a_deauthorisation():
    """StartTransaction.conf said the idTag is not valid: the EVSE withholds energy for the rest
    of the transaction, whatever smart charging allows."""
    c = charging()
    ev(c, "deauthorize")
    ev(c, "limit", 0)
    assert ev(c, "limit", 16) == (SUSPENDED_EVSE, [])
    assert not c.relay and c.state == SUSPENDED_EVSE


def test_deauthorize_suspends_evse():
    c = charging()
    assert ev(c, "deauthorize") == (SUSPENDED_EVSE, ["open", "status"])
    refused(Connector(1), "deauthorize")


def test_remote_stop_goes_finishing_then_available():
    c = charging()
    st, acts = ev(c, "stop", "Remote")
    assert (st, acts) == (FINISHING, ["open", "stop", "status"])
    assert c.stop_reason == "Remote" and not c.tx and not c.relay
    assert ev(c, "plug", False) == (AVAILABLE, ["status"])


def test_stop_without_reason_is_local():
    c = charging()
    ev(c, "stop")
    assert c.stop_reason == "Local"


def test_stop_refused_when_idle():
    refused(Connector(1), "stop", "Remote")


def test_stop_cancels_authorization_without_transaction():
    c = Connector(1)
    ev(c, "authorize", "TAG")
    assert ev(c, "stop", "Remote") == (AVAILABLE, ["status"])
    assert c.id_tag is None


def test_unplug_stops_with_ev_disconnected():
    c = charging()
    st, acts = ev(c, "plug", False)
    assert st == AVAILABLE and acts == ["open", "stop", "status"]
    assert c.stop_reason == "EVDisconnected"


def test_unplug_keeps_transaction_when_configured():
    c = charging(stop_on_unplug=False)
    st, acts = ev(c, "plug", False)
    assert (st, acts) == (SUSPENDED_EV, ["open", "status"]) and c.tx
    assert ev(c, "plug", True) == (SUSPENDED_EV, ["close"])


def test_finishing_then_new_authorization_prepares_again():
    c = charging()
    ev(c, "stop", "Local")
    assert c.state == FINISHING
    st, acts = ev(c, "authorize", "OTHER")
    assert (st, acts) == (PREPARING, ["start", "status"])


def test_authorize_refused_while_busy_unavailable_or_faulted():
    refused(charging(), "authorize", "X")
    c = Connector(1, available=False)
    refused(c, "authorize", "X")
    c = Connector(1)
    ev(c, "fault", ("OtherError", "x"))
    refused(c, "authorize", "X")
    c = Connector(1)
    refused(c, "authorize", "")
    ev(c, "authorize", "A")
    refused(c, "authorize", "B")


def test_connection_timeout_back_to_available():
    c = Connector(1, timeout_s=30)
    ev(c, "authorize", "TAG", now=1000)
    refused(c, "tick", None, now=30999)
    assert ev(c, "tick", None, now=31000) == (AVAILABLE, ["status"])
    assert c.id_tag is None


def test_connection_timeout_refused_when_plugged_or_in_transaction():
    c = Connector(1, timeout_s=1)
    ev(c, "plug", True)
    refused(c, "tick", None, now=99999)
    c = charging()
    refused(c, "tick", None, now=10**6)


def test_welded_relay_faults_with_other_error_and_stops():
    c = charging()
    st, acts = ev(c, "fault", ("OtherError", "relay welded"))
    assert st == FAULTED and acts == ["open", "stop", "status"]
    assert c.error == "OtherError" and c.info == "relay welded" and c.stop_reason == "Other"


def test_meter_lost_is_power_meter_failure():
    c = Connector(1)
    assert ev(c, "fault", ("PowerMeterFailure", None)) == (FAULTED, ["status"])
    assert c.error == "PowerMeterFailure"


def test_fault_noerror_refused_and_clear_refused_when_healthy():
    c = Connector(1)
    refused(c, "fault", ("NoError", None))
    refused(c, "clear")


def test_clear_fault_returns_to_derived_state():
    c = Connector(1)
    ev(c, "plug", True)
    ev(c, "fault", ("PowerMeterFailure", None))
    refused(c, "started")
    assert ev(c, "clear") == (PREPARING, ["status"])
    assert c.error == "NoError"


def test_reserve_and_unreserve():
    # Who may use a reservation (its idTag, or one with its parentIdTag) is the caller's to
    # decide (ReserveNow.admits): only it learns a parent. The reservation holds while its
    # driver is authorised and ends when the transaction starts.
    c = Connector(1)
    assert ev(c, "reserve", "R1") == (RESERVED, ["status"])
    refused(c, "reserve", "R2")
    ev(c, "plug", True)
    assert c.state == RESERVED
    assert ev(c, "authorize", "R1") == (PREPARING, ["start", "status"])
    assert c.reserved == "R1"
    assert ev(c, "started") == (SUSPENDED_EV, ["close", "status"])
    assert c.reserved is None
    c = Connector(1)
    ev(c, "reserve", "R1")
    assert ev(c, "unreserve") == (AVAILABLE, ["status"])
    refused(c, "unreserve")


def test_reservation_outlives_an_authorisation_that_times_out():
    """OCPP 1.6 5.13: the reservation ends when a transaction starts for it (or it expires), not
    when its driver is authorised: ConnectionTimeOut without a cable leaves it Reserved."""
    c = Connector(1, timeout_s=1)
    ev(c, "reserve", "R1")
    assert ev(c, "authorize", "R1", now=0) == (PREPARING, ["status"])
    assert ev(c, "tick", None, now=1000) == (RESERVED, ["status"])
    assert ev(c, "authorize", "R1", now=2000) == (PREPARING, ["status"])
    assert ev(c, "stop") == (RESERVED, ["status"])


def test_fault_and_unavailability_end_a_reservation():
    """OCPP 1.6 5.13: a reserved connector that becomes Faulted or Unavailable loses its
    reservation; it reports that state, not Available first, and is Available after."""
    c = Connector(1)
    ev(c, "reserve", "R1")
    assert ev(c, "fault", ("OtherError", "relay welded")) == (FAULTED, ["status"])
    assert c.reserved is None
    assert ev(c, "clear") == (AVAILABLE, ["status"])
    ev(c, "reserve", "R1")
    assert ev(c, "availability", False) == (UNAVAILABLE, ["status"])
    assert c.reserved is None


def test_reserve_refused_unless_available():
    c = Connector(1)
    ev(c, "plug", True)
    refused(c, "reserve", "R1")


def test_change_availability_idle_and_scheduled_when_busy():
    c = Connector(1)
    assert ev(c, "availability", False) == (UNAVAILABLE, ["status"])
    assert c.scheduled is None
    refused(c, "plug", False)
    ev(c, "plug", True)
    assert c.state == UNAVAILABLE
    refused(c, "authorize", "TAG")
    assert ev(c, "availability", True) == (PREPARING, ["status"])
    c = charging()
    st, acts = ev(c, "availability", False)
    assert st == CHARGING and c.scheduled is False and c.available
    st, acts = ev(c, "stop", "Remote")
    assert st == UNAVAILABLE and not c.available and c.scheduled is None


def test_unknown_event_refused():
    refused(Connector(1), "explode")


def test_invariants_hold_for_random_event_sequences():
    # 3000 seeded random events: the relay is closed only inside a started transaction with the
    # cable in and no fault; "close" never comes without a transaction; the state always matches
    # the facts it is derived from.
    import random

    random.seed(16)
    events = [("plug", True), ("plug", False), ("authorize", "A"), ("authorize", "B"),
              ("started", None), ("stop", "Remote"), ("power", 0), ("power", 7400),
              ("limit", 0), ("limit", 16), ("limit", None), ("fault", ("OtherError", "relay welded")),
              ("fault", ("PowerMeterFailure", None)), ("clear", None), ("reserve", "A"),
              ("unreserve", None), ("availability", False), ("availability", True),
              ("deauthorize", None), ("tick", None)]
    c = Connector(1, timeout_s=1)
    now = 0
    for _ in range(3000):
        name, arg = events[random.getrandbits(8) % len(events)]
        now += random.getrandbits(10)
        was_tx = c.tx
        st, acts = c.event(name, arg, now)
        if c.relay:
            assert (c.tx and c.plugged and c.error == "NoError" and not c.evse_limit
                    and not c.no_offer), (name, st)
        if acts and "close" in acts:
            assert c.tx and (was_tx or name == "started")
        if c.error != "NoError":
            assert st == FAULTED and not c.relay
        if c.tx and c.plugged and c.error == "NoError":
            assert st in (CHARGING, SUSPENDED_EV, SUSPENDED_EVSE)
        if not c.tx and c.error == "NoError" and not c.available:
            assert st == UNAVAILABLE
