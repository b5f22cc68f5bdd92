# CancelReservation: a reservation the charge point holds ends (Accepted), its connector
# Available again; an id it does not hold is Rejected (OCPP 1.6 5.2). Also here, as rare as a
# cancel: every other end of a reservation and connector 0's mark (tidy, which ChargePoint.poll
# runs when a connector's state changed or an expiry is due), and a connector's release of one
# (release, also ReserveNow's). The reservations are held by authorization.py. Loaded per use.
from evse.files import save_json
from evse.log import log
from evse import ocpp

_RESV = const("data/resv.json")  # as authorization.py reads it

_RETRY_S = const(10)  # a tidy that failed (flash) is tried again this much later


def answer(cp, p):
    rid = p["reservationId"]  # an integer: the schema checked it
    for r in cp.authorization.held:
        if r[0] == rid and r[4]:  # not one its transaction used already
            end(cp, r, "Cancelled")
            return {"status": "Accepted"}
    return {"status": "Rejected"}


def end(cp, r, why):
    """Reservation r ends: forgotten (data/resv.json) before its connector is Available again, so
    a failed write leaves it held. A connector that dropped it (Faulted, Unavailable) reports only
    that state (libocpp #998): its "unreserve" is refused and changes nothing."""
    rs = cp.authorization
    held = rs.held
    rs.held = [x for x in held if x is not r]
    try:
        save_json(_RESV, rs.held)
    except OSError:  # still held, as the file says: CancelReservation answers InternalError
        rs.held = held
        raise
    release(cp, r)
    log("reservation end", "id", r[0], "connector", r[1], "reason", why)


def release(cp, r):
    """The connector that held reservation r gives it up: its own, or the one connector 0's
    had marked (the mark goes too). Also for the one a ReserveNow of the same id replaces."""
    rs = cp.authorization
    cid = r[1]
    if cid == 0:
        cid = rs.mark
        rs.mark = 0
    if cid:
        cp.port(cid).apply("unreserve")


def tidy(cp):
    # Expired reservations end (5.13: Available again), so do those whose connector dropped
    # them and connector 0's once the whole charge point is Unavailable; then connector 0's
    # mark, and the next expiry. Never raises: a failure is logged and tried again later.
    rs = cp.authorization
    av = cp.availability
    t = ocpp.now()
    try:
        for r in list(rs.held):
            cid = r[1]
            if not r[4]:  # its transaction started (transactions.start)
                end(cp, r, "Used")
            elif t >= r[4]:
                end(cp, r, "Expired")
            elif cid and cp.port(cid).machine.reserved is None:
                end(cp, r, "Dropped")
            elif not cid and not av.operative[0]:
                end(cp, r, "Dropped")
        _mark(cp, rs)
        due = 0
        for r in rs.held:
            if not due or r[4] < due:
                due = r[4]
        av.due = due  # after its own changes, which set it to 0
    except Exception as e:  # noqa: BLE001 - a failed write (flash), or worse: log, retry later
        log("reservation error", "error", repr(e)[:60])
        av.due = t + _RETRY_S


def _mark(cp, rs):
    # Connector 0's reservation holds a connector only when one free (Available) connector is
    # left: that one is Reserved for it, OCTT's reading of 5.13 (TC_049, MicroOcpp PR #434).
    zero = None
    for r in rs.held:
        if r[1] == 0:
            zero = r
    ports = cp.ports
    m = rs.mark
    if m:
        c = ports[m - 1].machine
        if c.reserved is None:  # dropped (a fault, unavailable) or used by its transaction
            rs.mark = m = 0
        elif zero is None:  # used on another connector: this one is free again
            ports[m - 1].apply("unreserve")
            rs.mark = m = 0
    if zero is None:
        return
    free = 0
    last = None
    for p in ports:
        if p.machine.state == "Available":
            free += 1
            last = p
    if m:
        if free and ports[m - 1].machine.id_tag is None:  # another is free: this one need not wait
            ports[m - 1].apply("unreserve")
            rs.mark = 0
    elif free == 1:
        last.apply("reserve", zero[2])
        rs.mark = last.id
