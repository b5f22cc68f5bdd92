# Port.offer, where smart charging's limit reaches a connector, on the simulated board without a
# network: the relay, the connector's status, the simulated EV's power as the meter reads it, and
# the Current.Offered / Power.Offered measurands. The limits come in as SetChargingProfile's
# effective limit would (A per phase, 0 included, None for none).
import asyncio

from evse.hal.sim import build
from evse.ocpp.chargepoint import ChargePoint
from evse.ocpp.journal import Journal
from evse.ocpp.settings import Settings
from test_handlers import BOARD, call, done, flash

EVCC = "Energy.Active.Import.Register,Current.Offered,Current.Import,Voltage"


def charge_point(config=None, keys=None):
    board = build(BOARD, dict({"sim": {"ev_plugged": True, "power_w": 7400}, "connectors": 2},
                              **(config or {})))
    cp = ChargePoint(Settings(keys, 2), board.outlets, Journal("data/journal.log"),
                     {"chargePointVendor": "V", "chargePointModel": "M"})
    cp.reg = "Accepted"
    return cp, board.sim


def poll(cp, n=1):
    for _ in range(n):
        asyncio.run(cp.poll())


def start(cp, cid):
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": cid}) == {"status": "Accepted"}
    poll(cp)
    return cp.port(cid)


def offered(cp, port, measurands=("Current.Offered", "Power.Offered")):
    mv = cp.transactions.meter_value(port, measurands, "Sample.Periodic")
    return {s["measurand"]: (s["value"], s["unit"]) for s in mv["sampledValue"]}


def test_limit_mid_session_lowers_suspends_and_resumes():
    """ocpp16-profiles.md, pilot (IEC 61851-1): "below 6 A (0 too): no PWM, contactor open,
    SuspendedEVSE"; raising the limit again resumes charging in the same transaction. The
    simulated EV draws min(its power, A x 230 V x phases), which the meter shows."""
    d = flash()
    cp, sim = charge_point()
    poll(cp)
    port = start(cp, 1)
    relay = port.outlet.relay
    assert relay.is_closed and port.machine.state == "Charging"
    assert port.reading[1] == 7360  # no limit: the virtual board's 32 A rating caps 7.4 kW
    tx = port.tx
    port.offer(6.0)
    poll(cp)
    assert relay.is_closed and port.machine.state == "Charging" and port.reading[1] == 1380
    assert sim[0].status()["offered_a"] == 6.0
    port.offer(0.0)
    assert not relay.is_closed and port.machine.state == "SuspendedEVSE"
    poll(cp, 2)
    assert port.tx is tx and port.machine.tx  # the transaction goes on
    assert port.reading[1] == 0 and port.machine.state == "SuspendedEVSE"
    assert offered(cp, port) == {"Current.Offered": ("0.0", "A"), "Power.Offered": ("0", "W")}
    port.offer(16.0)
    assert relay.is_closed
    poll(cp)
    assert port.machine.state == "Charging" and port.reading[1] == 3680
    assert offered(cp, port) == {"Current.Offered": ("16.0", "A"), "Power.Offered": ("3680", "W")}
    port.offer(5.9)  # below 6 A: nothing can be offered
    assert port.machine.state == "SuspendedEVSE" and not relay.is_closed
    port.offer(None)  # no limit: the hardware's maximum
    poll(cp)
    assert port.machine.state == "Charging" and port.reading[1] == 7360
    assert offered(cp, port) == {"Current.Offered": ("32.0", "A"), "Power.Offered": ("7360", "W")}
    port.offer(100)  # above the hardware's maximum: capped by it
    assert offered(cp, port)["Current.Offered"] == ("32.0", "A") and port.offered == 100
    assert cp.port(2).machine.state == "Preparing"  # the other connector is not touched
    done(d)


def test_limit_without_transaction_applies_to_the_next_one():
    """A limit that arrives with no transaction: the next transaction starts SuspendedEVSE with
    the relay open (0 A), or charges at the limit (6 A or more)."""
    d = flash()
    cp, sim = charge_point()
    poll(cp)
    p1 = cp.port(1)
    p1.offer(0)
    assert p1.machine.state == "Preparing" and not p1.outlet.relay.is_closed
    start(cp, 1)
    assert p1.machine.tx and p1.machine.state == "SuspendedEVSE" and not p1.outlet.relay.is_closed
    assert p1.tx is not None  # StartTransaction journaled: the transaction exists
    p1.offer(10)
    poll(cp)
    assert p1.machine.state == "Charging" and p1.reading[1] == 2300
    p2 = cp.port(2)
    p2.offer(8)
    start(cp, 2)
    poll(cp)
    assert p2.machine.state == "Charging" and p2.reading[1] == 8 * 230
    done(d)


def test_config_rating_and_phases_cap_the_offer():
    """config.json's max_current_a lowers the hardware's maximum; phases multiply Power.Offered
    and the simulated EV's draw (3 x 230 V per A)."""
    d = flash()
    cp, sim = charge_point({"max_current_a": 16, "phases": 3})
    poll(cp)
    port = start(cp, 1)
    poll(cp)
    assert port.reading[1] == 7400  # 16 A x 3 phases = 11 kW: the EV's own 7.4 kW
    assert offered(cp, port) == {"Current.Offered": ("16.0", "A"), "Power.Offered": ("11040", "W")}
    port.offer(32)
    assert offered(cp, port)["Current.Offered"] == ("16.0", "A")
    port.offer(6)
    poll(cp)
    assert port.reading[1] == 6 * 230 * 3
    done(d)


def test_evcc_measurands_are_accepted_and_sampled():
    """plugchoice-operator-api.md: evcc asks operators to set MeterValuesSampledData =
    Energy.Active.Import.Register,Current.Offered,Current.Import,Voltage; Current.Offered is
    "the current the charger offers the EV (the effective charging limit)"."""
    d = flash()
    cp, sim = charge_point(keys={"MeterValueSampleInterval": 1})
    assert call(cp, "ChangeConfiguration", {"key": "MeterValuesSampledData", "value": EVCC}) == \
        {"status": "Accepted"}
    assert call(cp, "ChangeConfiguration", {"key": "StopTxnSampledData",
                                            "value": "Current.Offered,Power.Offered"}) == {"status": "Accepted"}
    for bad in ("Current.Offered,Current.Offered", "current.offered", "Current.Offered.L1",
                "Power.Offered,Frequency", EVCC + ",Power.Offered,Power.Active.Import,Frequency"):
        assert call(cp, "ChangeConfiguration", {"key": "MeterValuesSampledData", "value": bad}) == \
            {"status": "Rejected"}, bad
    poll(cp)
    port = start(cp, 1)
    port.offer(10)
    mv = cp.transactions.meter_value(port, cp.settings.measurands("MeterValuesSampledData"), "Sample.Periodic")
    got = [(s["measurand"], s["unit"]) for s in mv["sampledValue"]]
    assert got == [("Energy.Active.Import.Register", "Wh"), ("Current.Offered", "A"),
                   ("Current.Import", "A"), ("Voltage", "V")]
    assert mv["sampledValue"][1]["value"] == "10.0"
    done(d)


def test_an_offer_that_raised_is_offered_again():
    """Port.offer records the limit only once the pilot and the state machine took it: a pilot
    that raised trips the connector (GetCompositeSchedule.apply), and the next computation of
    the limits offers it again instead of taking it for done."""
    from evse.ocpp import operations  # noqa: F401 - the route table loads the computation
    d = flash()
    cp, sim = charge_point()
    poll(cp)
    port = cp.port(1)
    pilot = port.outlet.pilot

    def broken(amps):
        raise OSError("pwm")

    pilot.offer = broken
    assert call(cp, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}}}) == \
        {"status": "Accepted"}
    poll(cp)
    assert port.offered is None and port.machine.error == "InternalError"
    assert not port.outlet.relay.is_closed
    del pilot.offer  # the driver works again
    cp.smart = 1  # any later computation of the limits (a clear, a boundary, a change)
    poll(cp)
    assert port.offered == 10.0 and sim[0].status()["offered_a"] == 10.0
    done(d)


def test_a_relay_that_will_not_open_is_not_kept_back_by_the_limits():
    """trip()'s rule holds in the limits' path too: an offer that fails on a connector whose
    relay will not open goes on out of the poll (to main.py's crash guard), not into the
    retry of a computation that failed."""
    from evse import RelayStuck
    d = flash()
    cp, sim = charge_point()
    poll(cp)
    port = cp.port(1)

    def broken(amps):
        raise OSError("pwm")

    def stuck():
        raise OSError("relay driver")

    port.outlet.pilot.offer = broken
    port.outlet.relay.open = stuck
    assert call(cp, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}}}) == \
        {"status": "Accepted"}
    try:
        poll(cp)
    except RelayStuck:
        pass
    else:
        raise AssertionError("a relay that will not open was kept back")
    done(d)


def test_outlet_without_pilot_offers_all_or_nothing():
    """An outlet without a control pilot (a board file without `pwm_pin`, the Olimex EVB) cannot
    tell the EV a current: a limit of 6 A or more leaves it drawing the outlet's full rating,
    so Current.Offered / Power.Offered say the rating; below 6 A the relay opens and they say
    0 (ocpp16-profiles.md: "below 6 A ... contactor open, SuspendedEVSE")."""
    d = flash()
    cp, sim = charge_point()
    port = cp.port(1)
    port.outlet.pilot = None  # the virtual board's pilot is its simulated EV: none here
    poll(cp)
    start(cp, 1)
    port.offer(10)
    poll(cp)
    assert port.reading[1] == 7360  # the EV is told nothing: it still draws 32 A
    assert offered(cp, port) == {"Current.Offered": ("32.0", "A"), "Power.Offered": ("7360", "W")}
    port.offer(5)
    assert not port.outlet.relay.is_closed and port.machine.state == "SuspendedEVSE"
    assert offered(cp, port) == {"Current.Offered": ("0.0", "A"), "Power.Offered": ("0", "W")}
    port.offer(6)
    assert port.outlet.relay.is_closed
    assert offered(cp, port)["Current.Offered"] == ("32.0", "A")
    done(d)
