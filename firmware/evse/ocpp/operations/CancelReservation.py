# CancelReservation: a reservation the charge point holds ends (Accepted), its connector
# Available again; an id it does not hold is Rejected (OCPP 1.6 5.2). Also here, as rare as the
# cancel: the end of a reservation for any other reason (reservations.py polls: expiry, its
# connector Faulted or Unavailable). Loaded per use.
from evse.log import log


def answer(cp, p):
    rid = p["reservationId"]  # an integer: the schema checked it
    for r in cp.reservations.held:
        if r[0] == rid:
            end(cp, r, "Cancelled")
            return {"status": "Accepted"}
    return {"status": "Rejected"}


def end(cp, r, why):
    """Reservation r ends: forgotten (data/resv.json) before its connector is Available again, so
    a failed write leaves it held and the next poll tries again. A connector that dropped it
    (Faulted, Unavailable) reports only that state (libocpp #998): nothing to undo there."""
    rs = cp.reservations
    held = rs.held
    rs.held = [x for x in held if x is not r]
    try:
        rs.save()
    except OSError:  # still held, as the file says: the caller answers or the next poll retries
        rs.held = held
        raise
    cid = r[1]
    if cid == 0:
        cid = rs.mark
        rs.mark = 0
    if cid:
        cp.port(cid).apply("unreserve")  # refused (no change) when it dropped it already
    log("reservation end", "id", r[0], "connector", r[1], "reason", why)
