# GetCompositeSchedule: the limit a connector (0: the whole charge point) will have over the
# next `duration` seconds (OCPP 1.6 5.7, 3.13.5). Also here, because both are the same
# computation: the effective limit of every connector now (apply), which ChargePoint.poll runs
# at each period boundary and after each change (cp.smart, the one resident number of smart
# charging: 0 without profiles, else the unix time of the next boundary). The profiles are
# stored by SetChargingProfile.py in data/profiles.jsonl, read per use: nothing of them stays in
# the heap. at() is a pure function of (profiles, connector, time, transaction): tests give it
# any clock.
#
# data/profiles.jsonl holds one profile a line, so SetChargingProfile and ClearChargingProfile
# rewrite it holding one at a time (the CALL's payload is in the heap then); only the
# computation holds them all (profiles(), its periods as a tuple: ~0.4 KB on 32 bits at 24
# periods). A profile as stored, one flat list of small ints, no dicts:
#   [id, connectorId, stackLevel, purpose 0 ChargePointMax 1 TxDefault 2 Tx,
#    kind 0 Absolute 1 Recurring 2 Relative, recurrence s (0, 86400, 604800),
#    validFrom, validTo (unix s or null), startSchedule (unix s, null for Relative),
#    duration (s or null), unit 0 A 1 W, [startPeriod, limit x 10, numberPhases or 0, ...],
#    tx: a TxProfile's transaction (our reference, transactions.py), or the idTag of the
#    RemoteStartTransaction it came with until that transaction starts; null otherwise]
import json
import os

from evse.files import replace
from evse.log import log
from evse import ocpp

_FILE = const("data/profiles.jsonl")
_CPMAX = const(0)
_TXDEFAULT = const(1)
_TX = const(2)
_RELATIVE = const(2)
_W = const(1)
_VOLTS = const(230)  # nominal, per phase: A = W / (230 x numberPhases)
_PHASES = const(3)  # a W limit without numberPhases is three-phase
_MIN_MA = const(6000)  # IEC 61851-1: the pilot offers nothing below 6 A (mA per phase)
_DAY = const(86400)  # a charger with profiles recomputes at least daily (clock corrections)
# A composite answer holds at most this many periods (~2 KB of frame, ~3 KB of heap on 32
# bits), from at most _MAX_STEPS boundaries (a daily profile over a window of years merges into
# one period, but each day is a step); a window that needs more is answered up to there, its
# duration cut to what it covers.
_MAX_OUT = const(32)
_MAX_STEPS = const(400)


def answer(cp, p):
    cid = p["connectorId"]
    dur = p["duration"]
    # Rejected, not a CALLERROR, for a connector this charge point does not have (the 1.6
    # status "Rejected: Request has been rejected"), and for a negative window.
    if not 0 <= cid <= len(cp.ports) or dur < 0:
        return {"status": "Rejected"}
    w = p.get("chargingRateUnit") == "W"
    t0 = ocpp.now()
    ref = start = None
    if cid:
        tx = cp.port(cid).tx
        if tx is not None:
            ref = tx["r"]
            start = tx.get("t")
    # The hardware's most, in the unit answered: "no limit" is one period at it, and no period
    # says more than it (as Current.Offered: Port.offering). An outlet's rating (board file,
    # config.json) x 230 V x its phases; connector 0: the sum over the connectors.
    most = 0
    for port in (cp.port(cid),) if cid else cp.ports:
        o = port.outlet
        most += o.max_a * 10 * (_VOLTS * o.phases if w else 1)
    ps = profiles(cp, cid)
    out = []  # startPeriod, limit x 10, numberPhases, ...: small ints while the profiles are held
    lv = lph = None
    end = t0 + dur
    t = t0
    steps = 0
    while True:
        steps += 1
        lim, nxt = at(ps, cid, t, ref, start if start is not None else t0)
        v, ph = value(lim, w, most)
        if v != lv or ph != lph:  # equal neighbours merged
            if len(out) == 3 * _MAX_OUT:
                dur = t - t0
                break
            out.append(t - t0)
            out.append(v)
            out.append(ph)
            lv = v
            lph = ph
        if nxt is None or nxt <= t or nxt >= end:
            break
        t = nxt
        if steps == _MAX_STEPS:
            dur = t - t0
            break
    ps = lim = None  # the profiles go before the answer's dicts come (32-bit frozen 36k: both
    periods = []  # at once did not fit beside a transaction)
    for i in range(0, len(out), 3):
        v = out[i + 1]
        d = {"startPeriod": out[i], "limit": v // 10 if v % 10 == 0 else v / 10}
        if out[i + 2]:
            d["numberPhases"] = out[i + 2]
        periods.append(d)
    out = None
    return {"status": "Accepted", "connectorId": cid, "scheduleStart": ocpp.iso(t0),
            "chargingSchedule": {"duration": dur, "chargingRateUnit": "W" if w else "A",
                                 "chargingSchedulePeriod": periods}}


def value(lim, w, most):
    """(limit x 10 in W if w else A, numberPhases or 0) of at()'s limit, at most `most` (x 10,
    the same unit); None: `most`."""
    if lim is None:
        return most, 0
    p, i = lim[1], lim[2]
    ps = p[11]
    v = ps[i + 1]
    ph = ps[i + 2]
    if (p[10] == _W) != w:  # floored to 0.1 in the other unit
        v = v * _VOLTS * (ph or _PHASES) if w else v // (_VOLTS * (ph or _PHASES))
    return v if v < most else most, ph


def _min(a, b):
    return b if a is None or (b is not None and b < a) else a


def _period(p, t, start):
    """(index in p[11] of the period in force at t, -1 if none; the next time that may change,
    None if never)."""
    vf = p[6]
    vt = p[7]
    if vt is not None and t >= vt:
        return -1, None
    if vf is not None and t < vf:
        return -1, vf
    rec = p[5]
    d = p[9]
    if p[4] == _RELATIVE:
        if start is None:  # no transaction to count from: its first period, and no boundary
            return 0, vt
        s0 = start
    else:
        s0 = p[8]
        # The latest recurrence begun at t. None before startSchedule: OCPP 1.6 3.13.1 has the
        # schedule start there, so a Recurring profile is not in force before it either.
        if rec and t > s0:
            s0 += (t - s0) // rec * rec
            if d is None or d > rec:
                d = rec
    e = t - s0
    if e < 0:
        return -1, _min(s0, vt)
    if d is not None and e >= d:  # past its duration: the next recurrence, if any
        return -1, _min(s0 + rec, vt) if rec else None
    ps = p[11]
    i = 0
    n = len(ps)
    while i + 3 < n and ps[i + 3] <= e:
        i += 3
    nxt = s0 + ps[i + 3] if i + 3 < n else None
    if d is not None:
        nxt = _min(nxt, s0 + d)
    return i, _min(nxt, vt)


def _ma(p, i):
    # A period's limit as whole mA per phase, for comparing A with W
    ps = p[11]
    v = ps[i + 1] * 100
    return v if p[10] != _W else v // (_VOLTS * (ps[i + 2] or _PHASES))


def _best(ps, purpose, cid, t, ref, start, nxt):
    # The profile of `purpose` on connector cid with the highest stackLevel in force at t:
    # (profile, period index) or None, and the earliest boundary seen.
    best = None
    for p in ps:
        if p[3] != purpose or p[1] != cid or (purpose == _TX and p[12] != ref):
            continue
        i, n = _period(p, t, start)
        nxt = _min(nxt, n)
        if i >= 0 and (best is None or p[2] > best[0][2]):
            best = (p, i)
    return best, nxt


def at(ps, cid, t, ref=None, start=None):
    """The limit of connector cid (0: the charge point) at unix time t, with its transaction's
    reference and start time (None, None: no transaction): ((mA per phase, profile, period
    index) or None for no limit, the next time it may change or None). Limit = min(the
    ChargePointMaxProfile, the connector's TxProfile if one is in force, else its
    TxDefaultProfile, else connector 0's); per purpose the highest stackLevel in force wins."""
    lim = None
    got, nxt = _best(ps, _CPMAX, 0, t, None, start, None)
    if got:
        lim = (_ma(got[0], got[1]), got[0], got[1])
    if cid:
        got = None
        if ref is not None:
            got, nxt = _best(ps, _TX, cid, t, ref, start, nxt)
        if got is None:
            got, nxt = _best(ps, _TXDEFAULT, cid, t, None, start, nxt)
        if got is None:
            got, nxt = _best(ps, _TXDEFAULT, 0, t, None, start, nxt)
        if got:
            ma = _ma(got[0], got[1])
            if lim is None or ma < lim[0]:
                lim = (ma, got[0], got[1])
    return lim, nxt


def _lowest(ps, cid, ref):
    # Before the clock is set this boot (ocpp.clock_set: after a power cut, offline) no schedule
    # can be placed in time, and the profiles must hold all the same: the most restrictive
    # period any profile of connector cid holds (ChargePointMax, the TxDefaults of cid and of
    # connector 0, the TxProfile of its transaction `ref`), as at()'s limit, None if none.
    lim = None
    for p in ps:
        if p[1] != 0 and p[1] != cid or p[3] == _TX and (ref is None or p[12] != ref):
            continue
        for i in range(0, len(p[11]), 3):
            ma = _ma(p, i)
            if lim is None or ma < lim[0]:
                lim = (ma, p, i)
    return lim


def profiles(cp, cid=None):
    """The stored profiles (only those of connectors 0 and cid if given), each checked against
    the form above; a damaged one is dropped."""
    n = len(cp.ports)
    ok = []
    bad = 0
    try:
        with open(_FILE) as f:
            for line in f:
                try:
                    p = json.loads(line)
                except ValueError:
                    p = None
                if not _valid(p, n):
                    bad += 1
                elif cid is None or p[1] == 0 or p[1] == cid:
                    # its periods as a tuple: the parser's list holds up to twice the room
                    # (~1.7 KB more for the largest set on 32 bits)
                    p[11] = tuple(p[11])
                    ok.append(p)
    except OSError:  # none stored
        return []
    if bad and cid is None:
        log("charging profiles", "dropped", bad)
        save(ok)
    return ok


def _valid(p, n):
    if type(p) is not list or len(p) != 13:
        return False
    for k in (0, 1, 2, 3, 4, 5, 10):
        if type(p[k]) is not int:
            return False
    for k in (6, 7, 8, 9):
        if p[k] is not None and type(p[k]) is not int:
            return False
    ps = p[11]
    if (not 0 <= p[1] <= n or not 0 <= p[3] <= 2 or not 0 <= p[4] <= 2 or type(ps) is not list
            or not ps or len(ps) % 3 or (p[4] != _RELATIVE and p[8] is None)):
        return False
    for v in ps:
        if type(v) is not int:
            return False
    return p[12] is None or type(p[12]) in (int, str)


def save(ps):
    """data/profiles.jsonl, atomically; no file at all without profiles (the boot's test:
    ChargePoint.__init__)."""
    if ps:
        tmp = _FILE + ".tmp"
        with open(tmp, "w") as f:
            for p in ps:
                f.write(json.dumps(p))
                f.write("\n")
        replace(tmp, _FILE)
    else:
        try:
            os.remove(_FILE)
        except OSError:
            pass  # none there


def apply(cp):
    """Each connector's limit now, offered (Port.offer) where it changed. First the TxProfiles
    are tidied: one whose transaction ended is deleted (OCPP 1.6 3.13.4: "valid ... for the
    duration of the transaction"), a RemoteStartTransaction's is bound to the transaction its
    idTag started, or deleted once that idTag is no longer waiting at its connector. The
    ChargePointMaxProfile caps the connectors together: each running transaction gets an equal
    share of it, or, when that is below 6 A, the first ones that can have 6 A do and the rest
    0 A. Sets cp.smart: 0 without profiles, else the next boundary."""
    t = ocpp.now()
    ps = profiles(cp)
    keep = []
    bound = False
    for p in ps:
        b = p[12]
        if p[3] == _TX:
            port = cp.port(p[1]) if p[1] else None
            tx = port and port.tx
            if type(b) is str:  # a RemoteStart's
                if tx:
                    if tx["tag"] != b:
                        continue
                    p[12] = tx["r"]
                    bound = True
                elif port is None or (port.machine.id_tag != b
                                      and (p[1], b) not in cp.authorization.queue):
                    continue
            elif not tx or tx["r"] != b:
                continue
        keep.append(p)
    if bound or len(keep) != len(ps) or not keep:
        try:
            save(keep)
        except OSError:  # the limits below are right all the same; the next apply tidies again
            log("charging profiles", "error", "not saved")
    ps = keep
    running = 0
    for port in cp.ports:
        running += port.tx is not None
    grid = at(ps, 0, t)
    nxt = grid[1]
    cap = grid[0][0] if grid[0] else None
    # An equal share below 6 A would stop every transaction (the pilot offers nothing below
    # it) though the cap allows some: then only as many as get 6 A or more share it, in
    # connector order, and the rest get 0 A (10 A for two: 10 A and 0 A, not 5 A and 5 A).
    k = max(running, 1)
    if cap is not None and cap // k < _MIN_MA:
        k = max(cap // _MIN_MA, 1)
    share = cap // k if cap is not None else None
    for port in cp.ports:
        tx = port.tx
        ref = tx["r"] if tx else None
        if ocpp.clock_set:
            lim, n = at(ps, port.id, t, ref, tx.get("t") if tx else None)
        else:  # no time known (above): the set_time that ends it re-arms cp.smart
            lim, n = _lowest(ps, port.id, ref), None
        nxt = _min(nxt, n)
        ma = lim[0] if lim else None
        if tx is not None and share is not None:
            if k == 0:
                share = 0
            k -= 1
            if ma is None or share < ma:
                ma = share
        amps = None if ma is None else ma // 100 / 10  # floored to 0.1 A
        if amps != port.offered:
            log("charging limit", "connector", port.id, "amps", amps)
            try:
                port.offer(amps)
            except Exception as e:  # noqa: BLE001 - a limit that cannot be carried out: relay open
                port.trip(e)
    cp.smart = 0 if not ps else _min(nxt, t + _DAY)
