# Smart charging inside MicroPython: the composite computation (GetCompositeSchedule.at, a pure
# function of the profiles, the time and the transaction) with the clock given by each test, and
# on the simulated two-connector board without a network: SetChargingProfile's rules and refusals,
# ClearChargingProfile's matching, GetCompositeSchedule's answers, the limit each connector is
# offered (Port.offer) at changes and period boundaries, the TxProfile of a RemoteStart, the
# profiles read back after a reboot, and every field's malformed value.
import asyncio
import gc
import json
import sys

from evse import ocpp
from evse.ocpp import rpc
from evse.ocpp.operations import GetCompositeSchedule as G
from evse.hal.sim import SimPin
from test_handlers import call, charge_point, code_of, done, flash

T0 = 1767225600  # 2026-01-01T00:00:00Z, a Thursday
WORD = 8 if sys.maxsize > 2**32 else 4
H = 3600
DAY = 86400
WEEK = 7 * DAY


def rec(pid=1, cid=0, stack=0, purpose=1, kind=0, every=0, vf=None, vt=None, start=T0, dur=None,
        unit=0, periods=((0, 160),), tx=None):
    """A profile as data/profiles.jsonl holds it; limits x 10."""
    flat = []
    for q in periods:
        flat += (q[0], q[1], q[2] if len(q) > 2 else 0)
    return [pid, cid, stack, purpose, kind, every, vf, vt, start, dur, unit, flat, tx]


def lim(ps, cid, t, ref=None, start=None):
    """(mA or None, next change) of connector cid at t."""
    got, nxt = G.at(ps, cid, t, ref, start)
    return (got[0] if got else None), nxt


# -- the computation, on an injected clock --------------------------------------------------

def test_stacked_profiles_highest_stack_wins_then_the_lower_one():
    """3.13.2: "if more than one charging profile of the same purpose is valid at a given time,
    the profile with the highest stackLevel ... will be used"; 3.13.1 (duration): past it "the
    profile with the next lower stack level will be used" again."""
    ps = [rec(1, stack=0, periods=((0, 160),)), rec(2, stack=1, dur=600, periods=((0, 100),))]
    assert lim(ps, 1, T0) == (10000, T0 + 600)
    assert lim(ps, 1, T0 + 599) == (10000, T0 + 600)
    assert lim(ps, 1, T0 + 600) == (16000, None)  # its duration over: stack 0 again
    # the order in the file does not matter
    assert lim(list(reversed(ps)), 1, T0 + 1) == (10000, T0 + 600)


def test_period_boundary_crossed():
    """3.13.1: "startPeriod: Start of the period, in seconds from the start of schedule. The
    value of StartPeriod also defines the stop time of the previous period"."""
    ps = [rec(periods=((0, 160), (H, 60), (2 * H, 0)))]
    assert lim(ps, 1, T0 + H - 1) == (16000, T0 + H)
    assert lim(ps, 1, T0 + H) == (6000, T0 + 2 * H)
    assert lim(ps, 1, T0 + 2 * H) == (0, None)  # 0 A is a limit, and the last period runs on
    assert lim(ps, 1, T0 - 1) == (None, T0)  # an Absolute schedule not begun yet


def test_recurring_daily_across_the_recurrence_boundary():
    """3.13.1: Recurring: "The schedule restarts periodically at the first schedule period";
    Daily: "The schedule restarts every 24 hours, at the same time as in the startSchedule";
    startSchedule: "Starting point of an absolute schedule": before it the profile is not in
    force, Recurring too (no earlier recurrence)."""
    ps = [rec(kind=1, every=DAY, periods=((0, 100), (8 * H, 60), (20 * H, 160)))]
    day3 = T0 + 3 * DAY
    assert lim(ps, 1, day3 + 8 * H - 1) == (10000, day3 + 8 * H)
    assert lim(ps, 1, day3 + 8 * H) == (6000, day3 + 20 * H)
    assert lim(ps, 1, day3 + DAY - 1) == (16000, day3 + DAY)  # the boundary is the next day's 00:00
    assert lim(ps, 1, day3 + DAY) == (10000, day3 + DAY + 8 * H)
    assert lim(ps, 1, T0 - H) == (None, T0)  # the hour before startSchedule: not in force yet
    assert lim(ps, 1, T0 - 3 * DAY) == (None, T0)
    assert lim(ps, 1, T0) == (10000, T0 + 8 * H)
    # with a duration shorter than the day: no limit from its end to the next recurrence
    ps = [rec(kind=1, every=DAY, dur=12 * H, periods=((0, 100),))]
    assert lim(ps, 1, day3 + 11 * H) == (10000, day3 + 12 * H)
    assert lim(ps, 1, day3 + 12 * H) == (None, day3 + DAY)
    assert lim(ps, 1, day3 + DAY) == (10000, day3 + DAY + 12 * H)


def test_recurring_not_in_force_before_its_start_schedule():
    """The composite over a window that begins before a Recurring profile's startSchedule: no
    limit until it, then its schedule (the connector's offer follows the same computation)."""
    d = flash()
    cp = charge_point()
    at_time(T0 - H)
    assert setp(cp, 1, profile(1, 0, kind="Recurring", recurrencyKind="Daily", start=T0,
                               periods=((0, 10), (12 * H, 16)))) == "Accepted"
    sch = composite(cp, 1, 2 * H)["chargingSchedule"]
    assert sch["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 32}, {"startPeriod": H, "limit": 10}]
    poll(cp)
    assert cp.port(1).offered is None and cp.smart == T0
    at_time(T0)
    poll(cp)
    assert cp.port(1).offered == 10.0 and cp.smart == T0 + 12 * H
    done(d)


def test_recurring_weekly_across_the_recurrence_boundary():
    """Weekly: "The schedule restarts every 7 days, at the same time and day-of-the-week as in
    the startSchedule"."""
    ps = [rec(kind=1, every=WEEK, periods=((0, 320), (DAY, 80)))]
    assert lim(ps, 1, T0 + WEEK - 1) == (8000, T0 + WEEK)  # the Wednesday after: 8 A
    assert lim(ps, 1, T0 + WEEK) == (32000, T0 + WEEK + DAY)  # Thursday again: 32 A
    assert lim(ps, 1, T0 + 5 * WEEK + DAY) == (8000, T0 + 6 * WEEK)


def test_relative_counts_from_the_transaction_start():
    """3.13.1 Relative: "Schedule periods are relative to a situation-specific start point (such
    as the start of a Transaction)"; a TxProfile belongs to its transaction only."""
    s = T0 + 1234
    ps = [rec(cid=1, purpose=2, kind=2, start=None, periods=((0, 60), (300, 160)), tx=7)]
    assert lim(ps, 1, s + 299, 7, s) == (6000, s + 300)
    assert lim(ps, 1, s + 300, 7, s) == (16000, None)
    assert lim(ps, 1, s + 1, 8, s) == (None, None)  # another transaction: not its profile
    # a Relative TxDefaultProfile with no transaction: its first period, no boundary
    ps = [rec(kind=2, start=None, periods=((0, 60), (300, 160)))]
    assert lim(ps, 1, T0) == (6000, None)
    assert lim(ps, 1, s + 400, 3, s) == (16000, None)


def test_valid_from_and_valid_to_edges():
    """3.13.1: validFrom "Point in time at which the profile starts to be valid", validTo "Point
    in time at which the profile stops to be valid": valid on [validFrom, validTo)."""
    ps = [rec(vf=T0 + 100, vt=T0 + 200, stack=1, periods=((0, 100),)), rec(2, stack=0, periods=((0, 200),))]
    assert lim(ps, 1, T0 + 99) == (20000, T0 + 100)
    assert lim(ps, 1, T0 + 100) == (10000, T0 + 200)
    assert lim(ps, 1, T0 + 199) == (10000, T0 + 200)
    assert lim(ps, 1, T0 + 200) == (20000, None)


def test_watts_to_amps_and_the_purposes():
    """A = W / (230 V x numberPhases), three phases when not given; limit = min(ChargePointMax,
    TxProfile if one is in force, else TxDefaultProfile); a TxDefaultProfile on the connector
    replaces connector 0's for it."""
    assert lim([rec(unit=1, periods=((0, 110000),))], 1, T0)[0] == 15942  # 11 kW, 3 phases
    assert lim([rec(unit=1, periods=((0, 23000, 1),))], 1, T0)[0] == 10000  # 2.3 kW, 1 phase
    cpmax = rec(10, purpose=0, periods=((0, 200),))
    dflt = rec(11, purpose=1, periods=((0, 320),))
    txp = rec(12, cid=1, purpose=2, periods=((0, 100),), tx=5)
    assert lim([cpmax, dflt], 1, T0)[0] == 20000
    assert lim([cpmax, dflt, txp], 1, T0, 5, T0)[0] == 10000
    txp[11][1] = 250
    assert lim([dflt, txp], 1, T0, 5, T0)[0] == 25000  # the TxProfile beats a higher default
    assert lim([cpmax, dflt, txp], 0, T0)[0] == 20000  # connector 0: the ChargePointMax
    own = rec(13, cid=2, purpose=1, stack=0, periods=((0, 60),))
    assert lim([dflt, own], 2, T0)[0] == 6000 and lim([dflt, own], 1, T0)[0] == 32000
    # the W profile's own value in W, floored to 0.1 in A; capped by the hardware's most (x 10,
    # in the unit asked), which is also "no limit"
    got, _ = G.at([rec(unit=1, periods=((0, 110000),))], 1, T0)
    assert G.value(got, True, 320 * 690) == (110000, 0) and G.value(got, False, 320) == (159, 0)
    assert G.value(got, True, 73600) == (73600, 0) and G.value(got, False, 100) == (100, 0)
    assert G.value(None, False, 320) == (320, 0) and G.value(None, True, 73600) == (73600, 0)


# -- on the simulated board -------------------------------------------------------------------

def poll(cp):
    asyncio.run(cp.poll())


def at_time(t):
    """The central system's clock (evse.ocpp.now, which every part reads) stopped at unix
    time t: injected, so no second ticks over between two steps of a test."""
    ocpp.now = lambda: t


def unplug(cp, cid):
    # the simulated EV of connector cid leaves for good: the polls read its plug as out
    cp.port(cid).outlet.plug._pin = SimPin(0)


def profile(pid=1, stack=0, purpose="TxDefaultProfile", kind="Absolute", start=None, periods=((0, 16),),
            unit="A", **extra):
    sch = {"chargingRateUnit": unit,
           "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods]}
    if start is not None:
        sch["startSchedule"] = ocpp.iso(start)
    p = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": sch}
    p.update(extra)
    return p


def setp(cp, cid, prof):
    return call(cp, "SetChargingProfile", {"connectorId": cid, "csChargingProfiles": prof})["status"]


def composite(cp, cid, duration, unit=None):
    p = {"connectorId": cid, "duration": duration}
    if unit:
        p["chargingRateUnit"] = unit
    return call(cp, "GetCompositeSchedule", p)


def stored():
    with open("data/profiles.jsonl") as f:
        return [json.loads(line) for line in f]


def test_set_charging_profile_refusals_say_why():
    """3.13 and the keys: ChargePointMaxProfile only on connector 0, a TxProfile only on a
    connector with a transaction, stackLevel within ChargeProfileMaxStackLevel, at most
    ChargingScheduleMaxPeriods periods and MaxChargingProfilesInstalled profiles: Rejected,
    with a log line, nothing stored; the heap is intact after."""
    d = flash()
    cp = charge_point()
    at_time(T0)
    big = [(i * 60, 16) for i in range(24)]
    assert setp(cp, 1, profile(purpose="ChargePointMaxProfile")) == "Rejected"
    assert setp(cp, 0, profile(purpose="TxProfile")) == "Rejected"
    assert setp(cp, 1, profile(purpose="TxProfile")) == "Rejected"  # no transaction
    assert setp(cp, 1, profile(stack=9)) == "Rejected" and setp(cp, 1, profile(stack=-1)) == "Rejected"
    assert setp(cp, 1, profile(periods=big + [(24 * 60, 6)])) == "Rejected"
    assert setp(cp, 1, profile(periods=((5, 16),))) == "Rejected"  # the first starts at 0
    assert setp(cp, 1, profile(periods=((0, 16), (60, 8), (60, 6)))) == "Rejected"
    assert setp(cp, 1, profile(periods=((0, -1),))) == "Rejected"
    assert setp(cp, 1, profile(periods=())) == "Rejected"
    assert setp(cp, 1, profile(kind="Recurring", start=T0)) == "Rejected"  # no recurrencyKind
    assert setp(cp, 1, profile(kind="Recurring", recurrencyKind="Daily")) == "Rejected"  # no start
    assert setp(cp, 1, profile(validTo=ocpp.iso(T0 - 1))) == "Rejected"
    assert setp(cp, 1, profile(transactionId=5)) == "Rejected"
    p = profile()
    p["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"] = 4
    assert setp(cp, 1, p) == "Rejected"
    del p["chargingSchedule"]["chargingSchedulePeriod"][0]["numberPhases"]
    p["chargingSchedule"]["duration"] = -5
    assert setp(cp, 1, p) == "Rejected"
    try:
        open("data/profiles.jsonl")
        raise AssertionError("a refused profile was stored")
    except OSError:
        pass
    assert cp.smart == 0
    for i in range(8):  # MaxChargingProfilesInstalled, each of ChargingScheduleMaxPeriods
        assert setp(cp, 1 + i % 2, profile(100 + i, stack=i // 2, periods=big)) == "Accepted", i
    assert setp(cp, 1, profile(200, stack=8, periods=big)) == "Rejected"  # a ninth
    assert len(stored()) == 8
    assert setp(cp, 1, profile(100, stack=8, periods=big)) == "Accepted"  # id 100 replaced
    assert setp(cp, 2, profile(201, stack=0, periods=((0, 10),))) == "Accepted"  # (2, 0, TxDefault) replaced
    assert sorted(p[0] for p in stored()) == [100, 102, 103, 104, 105, 106, 107, 201]
    poll(cp)
    assert [p.offered for p in cp.ports] == [16.0, 16.0]  # stack 8 on 1, stack 3 on 2
    # the largest set, as read per use (each boundary, each CALL): flat lists of small ints
    gc.collect()
    before = gc.mem_alloc()
    ps = G.profiles(cp)
    gc.collect()
    size = gc.mem_alloc() - before
    assert len(ps) == 8
    assert size < (7168 if WORD == 8 else 4096), size  # measured: 5696, 3104
    done(d)


def test_bad_input_answers_the_right_callerror():
    """Every field of SetChargingProfile.req, ClearChargingProfile.req and
    GetCompositeSchedule.req: the schema check answers the CALLERROR before anything runs; a
    connector this charge point does not have is PropertyConstraintViolation in
    SetChargingProfile, Rejected in GetCompositeSchedule (5.7: "If the ChargePoint is not able
    to report the requested schedule, for instance if the connectorId is unknown, it SHALL
    respond with a status Rejected")."""
    d = flash()
    cp = charge_point()
    good = profile()
    P, T, OC, F = rpc.PROPERTY, rpc.TYPE, rpc.OCCURENCE, "FormationViolation"

    def sp(cid=1, **change):
        p = json.loads(json.dumps(good))
        for k, v in change.items():
            if k.startswith("s_"):
                p["chargingSchedule"][k[2:]] = v
            elif k.startswith("p_"):
                p["chargingSchedule"]["chargingSchedulePeriod"][0][k[2:]] = v
            else:
                p[k] = v
        return code_of(cp, "SetChargingProfile", {"connectorId": cid, "csChargingProfiles": p})

    assert code_of(cp, "SetChargingProfile", {"connectorId": 1}) == OC
    assert code_of(cp, "SetChargingProfile", {"csChargingProfiles": good}) == OC
    assert sp(cid="1") == T and sp(cid=3) == P and sp(cid=-1) == P and sp(cid=None) == T
    for field, bad, want in (("chargingProfileId", "1", T), ("stackLevel", 1.5, T),
                             ("chargingProfilePurpose", "Tx", P), ("chargingProfileKind", "Once", P),
                             ("recurrencyKind", "Monthly", P), ("validFrom", "soon", P),
                             ("validTo", 5, T), ("transactionId", "5", T), ("chargingSchedule", [], T),
                             ("s_chargingRateUnit", "kW", P), ("s_duration", "60", T),
                             ("s_startSchedule", "2026-13-01T00:00:00Z", P), ("s_minChargingRate", "6", T),
                             ("s_minChargingRate", 6.05, P), ("s_chargingSchedulePeriod", {}, T),
                             ("p_startPeriod", 0.5, T), ("p_limit", "16", T), ("p_limit", 16.05, P),
                             ("p_numberPhases", "3", T), ("p_x", 1, F), ("x", 1, F), ("s_x", 1, F)):
        assert sp(**{field: bad}) == want, (field, bad)
    for field in ("chargingProfileId", "stackLevel", "chargingProfilePurpose", "chargingProfileKind",
                  "chargingSchedule"):
        p = dict(good)
        del p[field]
        assert code_of(cp, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": p}) == OC, field
    for bad, want in (({"id": "1"}, T), ({"connectorId": 1.5}, T), ({"chargingProfilePurpose": "Tx"}, P),
                      ({"stackLevel": "0"}, T), ({"id": None}, T), ({"x": 1}, F)):
        assert code_of(cp, "ClearChargingProfile", bad) == want, bad
    for bad, want in (({"connectorId": 1}, OC), ({"duration": 60}, OC), ({"connectorId": "1", "duration": 60}, T),
                      ({"connectorId": 1, "duration": 6.5}, T), ({"connectorId": 1, "duration": 60, "chargingRateUnit": "kW"}, P),
                      ({"connectorId": 1, "duration": 60, "x": 1}, F)):
        assert code_of(cp, "GetCompositeSchedule", bad) == want, bad
    assert composite(cp, 3, 60) == {"status": "Rejected"}
    assert composite(cp, -1, 60) == {"status": "Rejected"}
    assert composite(cp, 1, -1) == {"status": "Rejected"}
    assert cp.smart == 0
    done(d)


def test_clear_charging_profile_matching():
    """5.5 / 6.11: "The Central System can use this message to clear (remove) either a specific
    charging profile (denoted by id) or a selection of charging profiles that match with the
    values of the optional connectorId, stackLevel and chargingProfilePurpose fields"; id alone
    decides; stackLevel 0 is a value; none matched: Unknown."""
    d = flash()
    cp = charge_point()
    at_time(T0)

    def fill():
        for pid, cid, stack, purpose in ((1, 0, 0, "ChargePointMaxProfile"), (2, 0, 0, "TxDefaultProfile"),
                                         (3, 1, 0, "TxDefaultProfile"), (4, 1, 1, "TxDefaultProfile"),
                                         (5, 2, 0, "TxDefaultProfile")):
            assert setp(cp, cid, profile(pid, stack, purpose)) == "Accepted"

    def clear(**p):
        return call(cp, "ClearChargingProfile", p)["status"]

    def ids():
        try:
            return sorted(p[0] for p in stored())
        except OSError:
            return []

    fill()
    assert clear(id=9) == "Unknown"
    assert clear(id=4, connectorId=2, stackLevel=7) == "Accepted" and ids() == [1, 2, 3, 5]  # id alone
    assert clear(connectorId=1, stackLevel=1) == "Unknown"
    assert clear(stackLevel=0, chargingProfilePurpose="TxDefaultProfile", connectorId=0) == "Accepted"
    assert ids() == [1, 3, 5]
    assert clear(stackLevel=0, chargingProfilePurpose="TxDefaultProfile") == "Accepted" and ids() == [1]
    assert clear(chargingProfilePurpose="TxProfile") == "Unknown"
    assert clear() == "Accepted" and ids() == []
    assert clear() == "Unknown"
    poll(cp)
    assert cp.smart == 0 and ids() == []  # no file left: the next boot loads nothing
    done(d)


def test_composite_schedule_answers():
    """5.7 / 3.13.5: the composite over [now, now + duration]: scheduleStart now, the requested
    duration, periods from 0, equal neighbours merged, a period beginning inside the window
    from its start, the requested unit (else A), floored to 0.1; no profile: one period at the
    connector's most; connector 0: the charge point's own limit."""
    d = flash()
    cp = charge_point()
    at_time(T0)
    res = composite(cp, 1, 600)
    assert res["status"] == "Accepted" and res["connectorId"] == 1 and res["scheduleStart"] == ocpp.iso(T0)
    assert res["chargingSchedule"] == {"duration": 600, "chargingRateUnit": "A",
                                       "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32}]}
    assert composite(cp, 0, 60)["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 64}]
    assert setp(cp, 0, profile(1, 0, "TxDefaultProfile", start=T0 + 100,
                               periods=((0, 10), (100, 10), (200, 20.5), (300, 8)))) == "Accepted"
    assert setp(cp, 0, profile(2, 0, "ChargePointMaxProfile", start=T0, periods=((0, 16),))) == "Accepted"
    sch = composite(cp, 1, 350)["chargingSchedule"]
    assert sch["duration"] == 350 and sch["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16}, {"startPeriod": 100, "limit": 10}, {"startPeriod": 300, "limit": 16}]
    sch = composite(cp, 1, 1000)["chargingSchedule"]
    assert sch["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16}, {"startPeriod": 100, "limit": 10},
                                             {"startPeriod": 300, "limit": 16}, {"startPeriod": 400, "limit": 8}]
    assert composite(cp, 0, 1000)["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16}]
    at_time(T0 + 150)  # inside the window: counted from now
    sch = composite(cp, 1, 300, "W")["chargingSchedule"]
    assert sch["chargingRateUnit"] == "W"
    # 16 A is 11040 W at three phases, more than the virtual board's 32 A single phase: 7360 W
    assert sch["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6900}, {"startPeriod": 150, "limit": 7360},
                                             {"startPeriod": 250, "limit": 5520}]
    assert setp(cp, 1, profile(3, 0, unit="W", periods=((0, 11000),))) == "Accepted"
    sch = composite(cp, 1, 60)["chargingSchedule"]
    assert sch["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 15.9}]
    assert composite(cp, 1, 60, "W")["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 7360}]
    assert composite(cp, 1, 0)["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 15.9}]
    # bounded: a daily profile over ten years is one period, answered for the days computed
    assert call(cp, "ClearChargingProfile", {}) == {"status": "Accepted"}
    assert setp(cp, 0, profile(4, 0, kind="Recurring", recurrencyKind="Daily", start=T0, periods=((0, 10),))) == "Accepted"
    sch = composite(cp, 1, 3650 * DAY)["chargingSchedule"]
    assert sch["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10}]
    assert 300 * DAY < sch["duration"] < 3650 * DAY
    # ... and one alternating twice a day: at most 32 periods
    assert setp(cp, 0, profile(4, 0, kind="Recurring", recurrencyKind="Daily", start=T0,
                               periods=((0, 10), (12 * H, 16)))) == "Accepted"
    sch = composite(cp, 1, 3650 * DAY)["chargingSchedule"]
    assert len(sch["chargingSchedulePeriod"]) == 32 and sch["duration"] == 16 * DAY - 150  # now: T0 + 150
    done(d)


def test_composite_no_limit_is_the_outlets_rating_and_caps_every_period():
    """ocpp16-profiles.md: no profile -> one period at the hardware maximum: the outlet's rating
    (config.json's max_current_a 16 A, 3 phases: 16 A, 11040 W), connector 0 the sum over its
    connectors; a profile above the rating is the rating in the composite, as Current.Offered
    says (Port.offering)."""
    from test_offer import charge_point as rated

    d = flash()
    cp = rated({"max_current_a": 16, "phases": 3})[0]
    at_time(T0)

    def periods(cid, unit=None):
        return composite(cp, cid, 60, unit)["chargingSchedule"]["chargingSchedulePeriod"]

    assert periods(1) == [{"startPeriod": 0, "limit": 16}]
    assert periods(1, "W") == [{"startPeriod": 0, "limit": 11040}]
    assert periods(0) == [{"startPeriod": 0, "limit": 32}]
    assert periods(0, "W") == [{"startPeriod": 0, "limit": 22080}]
    assert setp(cp, 1, profile(1, 0, start=T0, periods=((0, 40),))) == "Accepted"
    assert periods(1) == [{"startPeriod": 0, "limit": 16}]
    assert periods(1, "W") == [{"startPeriod": 0, "limit": 11040}]
    assert setp(cp, 0, profile(2, 0, "ChargePointMaxProfile", start=T0, periods=((0, 50000),), unit="W")) == "Accepted"
    assert periods(0, "W") == [{"startPeriod": 0, "limit": 22080}]
    assert periods(0) == [{"startPeriod": 0, "limit": 32}]
    done(d)


def test_limit_offered_at_changes_and_boundaries_and_after_a_reboot():
    """The effective limit reaches the connector (Port.offer) at every change (the clock set by
    BootNotification too) and at every period boundary, from the one resident time cp.smart; the
    profiles are in flash and the limit comes back after a reboot (a new ChargePoint on the same
    flash), damaged lines dropped."""
    d = flash()
    cp = charge_point()
    at_time(T0)
    poll(cp)
    assert cp.smart == 0 and cp.port(1).offered is None
    assert setp(cp, 0, profile(1, 0, start=T0, periods=((0, 16), (600, 6)))) == "Accepted"
    poll(cp)
    assert [p.offered for p in cp.ports] == [16.0, 16.0]
    assert cp.smart == T0 + 600
    at_time(T0 + 599)
    poll(cp)
    assert cp.port(1).offered == 16.0
    at_time(T0 + 600)
    poll(cp)
    assert [p.offered for p in cp.ports] == [6.0, 6.0]
    assert cp.smart == T0 + 600 + DAY  # no boundary left: a daily look all the same
    with open("data/profiles.jsonl", "a") as f:  # a damaged file: lines that are no profile
        f.write('garbage\n[1, 2]\n[1, 9, 0, 1, 0, 0, null, null, 0, null, 0, [0, 60, 0], null]\n')
    cp.operation("BootNotification").accept(cp, {"status": "Accepted", "currentTime": ocpp.iso(T0 + 700), "interval": 60})
    assert cp.smart == 1  # the central system's clock: the limits again at the next poll
    cp2 = charge_point()  # the reboot
    assert cp2.smart == 1
    poll(cp2)
    assert [p.offered for p in cp2.ports] == [6.0, 6.0]
    assert [p[0] for p in stored()] == [1]  # the damaged ones dropped (connector 9: none here)
    with open("data/profiles.jsonl") as f:
        last = f.read().rstrip("\n")
    with open("data/profiles.jsonl", "w") as f:  # its last line without a line break
        f.write(last)
    assert setp(cp2, 2, profile(2, 0, start=T0, periods=((0, 10),))) == "Accepted"
    assert [p[0] for p in stored()] == [1, 2]
    assert call(cp2, "ClearChargingProfile", {}) == {"status": "Accepted"}
    poll(cp2)
    assert [p.offered for p in cp2.ports] == [None, None] and cp2.smart == 0
    done(d)


def test_remote_start_tx_profile_bound_then_deleted_at_the_end():
    """RemoteStartTransaction.req chargingProfile: "Charging Profile to be used by the Charge
    Point for the requested transaction. ChargingProfilePurpose MUST be set to TxProfile";
    3.13.4: a TxProfile applies to its transaction and ends with it; another purpose, or a
    transactionId, is Rejected (TC_060)."""
    d = flash()
    cp = charge_point(plugged=True)
    at_time(T0)
    poll(cp)
    tx = profile(5, 1, "TxProfile", "Relative", periods=((0, 10), (60, 12)))
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1,
                                               "chargingProfile": profile(6, 1, "TxDefaultProfile")}) == {"status": "Rejected"}
    with_id = dict(tx)
    with_id["transactionId"] = 3
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1,
                                               "chargingProfile": with_id}) == {"status": "Rejected"}
    bad = profile(5, 1, "TxProfile", "Relative", periods=((0, 10),) * 2)
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1,
                                               "chargingProfile": bad}) == {"status": "Rejected"}
    assert not cp.port(1).machine.tx
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1, "chargingProfile": tx}) == {"status": "Accepted"}
    port = cp.port(1)
    assert port.machine.tx and port.offered == 10.0  # before the relay closed, at the start
    assert stored()[0][12] == port.tx["r"]
    at_time(T0 + 60)
    poll(cp)
    assert port.offered == 12.0 and cp.port(2).offered is None
    # SetChargingProfile of a TxProfile for this transaction: by its transactionId once known
    assert setp(cp, 1, profile(7, 2, "TxProfile", transactionId=99)) == "Rejected"
    cp.transactions.ids[str(port.tx["r"])] = 99
    assert setp(cp, 1, profile(7, 2, "TxProfile", transactionId=99, periods=((0, 8),))) == "Accepted"
    poll(cp)
    assert port.offered == 8.0
    assert setp(cp, 2, profile(8, 0, "TxProfile")) == "Rejected"  # no transaction on 2
    port.apply("stop")  # the transaction ends
    poll(cp)
    assert port.offered is None and cp.smart == 0
    # a RemoteStart's TxProfile whose transaction never starts goes too
    unplug(cp, 2)
    poll(cp)
    assert call(cp, "RemoteStartTransaction", {"idTag": "B", "connectorId": 2, "chargingProfile": tx}) == {"status": "Accepted"}
    assert stored()[0][12] == "B" and not cp.port(2).machine.tx
    poll(cp)
    assert stored()[0][12] == "B"  # waiting for the cable
    cp.port(2).apply("stop")  # the authorisation is withdrawn
    poll(cp)
    assert cp.smart == 0
    done(d)


def test_a_limit_that_failed_at_a_start_offers_nothing_until_one_works():
    """A transaction's limit cannot be computed at its start (no heap, here a MemoryError from a
    stand-in of the computation's module): the relay does not close at the connector's old
    offer, the transaction starts SuspendedEVSE with nothing offered; the next poll's
    computation that works offers the limit and the relay closes."""
    d = flash()
    cp = charge_point(plugged=True)
    at_time(T0)
    poll(cp)
    assert setp(cp, 1, profile(1, 0, start=T0, periods=((0, 16),))) == "Accepted"
    poll(cp)
    port = cp.port(1)
    assert port.offered == 16.0 and not port.machine.tx

    class Failing:
        @staticmethod
        def apply(cp):
            raise MemoryError

    sys.modules["evse.ocpp.operations.GetCompositeSchedule"] = Failing  # dropped after one load
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1}) == {"status": "Accepted"}
    assert port.tx is not None and port.machine.tx  # the transaction began (journaled)
    assert not port.outlet.relay.is_closed and port.machine.state == "SuspendedEVSE"
    assert port.offered == 0 and cp.smart == 1
    poll(cp)
    assert port.offered == 16.0 and port.outlet.relay.is_closed
    assert port.machine.state != "SuspendedEVSE"
    done(d)


def test_limits_hold_offline_before_the_clock_is_set():
    """A power cut on the ESP32: its clock restarts at 2000-01-01 and the central system's
    offset was in RAM, so every Absolute profile would look not begun and the connectors would
    charge at full current offline. Until a currentTime sets the clock (ocpp.clock_set) each
    connector is offered the most restrictive period of its profiles (ChargePointMax, its
    TxDefault and connector 0's); the clock set (BootNotification), the schedules again."""
    d = flash()
    cp = charge_point(plugged=True)
    at_time(T0)
    assert setp(cp, 0, profile(1, 0, start=T0, periods=((0, 16), (H, 10)))) == "Accepted"
    assert setp(cp, 0, profile(2, 0, "ChargePointMaxProfile", start=T0, periods=((0, 20),))) == "Accepted"
    assert setp(cp, 2, profile(3, 0, start=T0, periods=((0, 8),))) == "Accepted"
    ocpp.clock_set = False  # the reboot after the power cut, offline
    try:
        at_time(946684800 + 60)  # the board's own clock: 2000-01-01T00:01:00Z
        cp2 = charge_point(plugged=True)
        poll(cp2)
        assert [p.offered for p in cp2.ports] == [10.0, 8.0]
        assert call(cp2, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1}) == {"status": "Accepted"}
        poll(cp2)
        assert cp2.port(1).offered == 10.0 and cp2.port(1).outlet.relay.is_closed
        cp2.operation("BootNotification").accept(cp2, {"status": "Accepted", "currentTime": ocpp.iso(T0 + 60),
                                                       "interval": 60})
        assert ocpp.clock_set and cp2.smart == 1
        at_time(T0 + 60)
        poll(cp2)
        assert [p.offered for p in cp2.ports] == [16.0, 8.0]
    finally:
        ocpp.clock_set = True
    done(d)


def test_charge_point_max_is_shared_by_running_transactions():
    """ChargePointMaxProfile: "the overall maximum power or current available for the whole
    Charge Point": two transactions share it equally; one running takes it all."""
    d = flash()
    cp = charge_point(plugged=True)
    at_time(T0)
    poll(cp)
    assert setp(cp, 0, profile(1, 0, "ChargePointMaxProfile", start=T0, periods=((0, 32),))) == "Accepted"
    assert call(cp, "RemoteStartTransaction", {"idTag": "A", "connectorId": 1}) == {"status": "Accepted"}
    poll(cp)
    assert [p.offered for p in cp.ports] == [32.0, 32.0]
    assert call(cp, "RemoteStartTransaction", {"idTag": "B", "connectorId": 2}) == {"status": "Accepted"}
    poll(cp)
    assert [p.offered for p in cp.ports] == [16.0, 16.0]
    done(d)


def test_heartbeat_clock_correction_rearms_the_limits():
    """A Heartbeat's currentTime corrects the clock (3.9 / 4.6): the limits are computed again
    on it at the next poll, as after a BootNotification."""
    d = flash()
    cp = charge_point()
    at_time(T0)
    assert setp(cp, 0, profile(1, 0, start=T0, periods=((0, 16), (600, 6)))) == "Accepted"
    poll(cp)
    assert cp.smart == T0 + 600

    class Rpc:
        async def call(self, action, payload):
            return {"currentTime": ocpp.iso(T0 + 700)}

    asyncio.run(cp.heartbeat(Rpc()))
    assert cp.smart == 1
    done(d)


def test_charge_point_max_below_two_shares_of_6_a_charges_one():
    """An equal share below 6 A would suspend both transactions (the pilot offers nothing below
    6 A) though the cap allows one: 10 A for two is 10 A to connector 1 and 0 A to connector 2;
    12 A is 6 A each again."""
    d = flash()
    cp = charge_point(plugged=True)
    at_time(T0)
    poll(cp)
    assert setp(cp, 0, profile(1, 0, "ChargePointMaxProfile", start=T0, periods=((0, 10),))) == "Accepted"
    for tag, cid in (("A", 1), ("B", 2)):
        assert call(cp, "RemoteStartTransaction", {"idTag": tag, "connectorId": cid}) == {"status": "Accepted"}
        poll(cp)
    assert [p.offered for p in cp.ports] == [10.0, 0.0]
    assert [p.machine.state for p in cp.ports] == ["Charging", "SuspendedEVSE"]
    assert setp(cp, 0, profile(1, 0, "ChargePointMaxProfile", start=T0, periods=((0, 12),))) == "Accepted"
    poll(cp)
    assert [p.offered for p in cp.ports] == [6.0, 6.0]
    poll(cp)  # the EV draws again: SuspendedEV first, Charging once the meter shows it
    assert [p.machine.state for p in cp.ports] == ["Charging", "Charging"]
    done(d)
