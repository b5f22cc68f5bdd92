# ReserveNow: hold a connector (or, with connectorId 0, one connector of the charge point) for
# an idTag until expiryDate (OCPP 1.6 5.13, 6.39): Accepted, and the connector Reserved; or why
# not: Faulted, Occupied, Unavailable, Rejected. Also here, as rare: who may use a reservation
# (admits: Authorize.py, RemoteStartTransaction.py), the one a starting transaction uses (find:
# transactions.start) and the reservations read back at boot (restore). What stays resident,
# the reservations held, is in authorization.py. Loaded per use (cp.operation from the others).
from evse.files import save_json
from evse.log import log
from evse import ocpp

_RESV = const("data/resv.json")  # as authorization.py reads it


def answer(cp, p):
    # The schema checked every field's type, idTag's and parentIdTag's length and expiryDate's
    # form; what is left is what only this charge point can judge.
    cid = p["connectorId"]
    rid = p["reservationId"]
    n = len(cp.ports)
    # Rejected, not a CALLERROR, for a connector this charge point does not have: the payload
    # keeps its PDU (connectorId is any integer there), and, as in ChangeAvailability,
    # TriggerMessage and RemoteStartTransaction, the charge point answers what it cannot do
    # through the status. Rejected is the 1.6 status of a reservation not made for a reason
    # other than the connectors' state (those have Faulted, Occupied and Unavailable).
    why = None
    if not 0 <= cid <= n:
        why = "no such connector"
    elif cid == 0 and not cp.settings["ReserveConnectorZeroSupported"]:
        why = "connector 0 not supported"
    else:
        expiry = ocpp.parse_iso(p["expiryDate"])
        # A reservation that has expired already would end at the next poll: Accepted would
        # promise what is not carried out.
        if expiry is None or expiry <= ocpp.now():
            why = "expiryDate not in the future"
    rs = cp.authorization
    old = None
    for r in rs.held:
        if r[0] == rid:
            old = r  # replaced by this one if it is Accepted; kept if not
    status = "Rejected" if why else _status(cp, rs, cid, old)
    if status != "Accepted":
        log("reservation refused", "id", rid, "connector", cid, "status", status, "why", why)
        return {"status": status}
    r = [rid, cid, p["idTag"], p.get("parentIdTag"), expiry]
    # The connector of the one replaced gives it up as at any end of a reservation; loaded
    # before anything changes, so that no heap for it leaves nothing half done.
    release = None if old is None else cp.operation("CancelReservation").release
    held = rs.held
    if not held:
        rs.mark = 0  # the first one held: authorization.py
    # Also any other of this connector: one it dropped (Faulted, Unavailable) that no poll has
    # tidied yet, when the connector is back already. One a connector at most (the bound).
    rs.held = [x for x in held if x is not old and (not cid or x[1] != cid)] + [r]
    try:
        save_json(_RESV, rs.held)
    except OSError:  # not persisted, so not made: InternalError, and nothing changed
        rs.held = held
        raise
    if release is not None:
        release(cp, old)
    if cid:
        cp.port(cid).apply("reserve", r[2])  # Reserved: StatusNotification
    cp.availability.due = 0  # the next poll tidies: connector 0's mark, the next expiry
    log("reservation", "id", rid, "connector", cid, "id_tag", r[2], "expiry", ocpp.iso(expiry))
    return {"status": "Accepted"}


def _state(rs, port, old):
    # The port's state with reservation `old` (about to be replaced) lifted.
    s = port.machine.state
    if s == "Reserved" and old is not None and (old[1] == port.id or (old[1] == 0 and rs.mark == port.id)):
        return "Available"
    return s


def _status(cp, rs, cid, old):
    if cid:
        s = _state(rs, cp.port(cid), old)
        if s == "Available":
            return "Accepted"
        # Occupied: in use (Preparing, Charging, Suspended*, Finishing) or held by another
        # reservation (Reserved).
        return s if s in ("Faulted", "Unavailable") else "Occupied"
    # Connector 0: one such reservation at a time (the bound of data/resv.json), and it needs a
    # connector that is free now; CancelReservation.tidy then keeps one free for it.
    for r in rs.held:
        if r[1] == 0 and r is not old:
            return "Occupied"
    if not cp.availability.operative[0]:
        return "Unavailable"
    faulted = occupied = False
    for port in cp.ports:
        s = _state(rs, port, old)
        if s == "Available":
            return "Accepted"
        if s == "Faulted":
            faulted = True
        elif s != "Unavailable":
            occupied = True
    return "Occupied" if occupied else "Faulted" if faulted else "Unavailable"


def find(cp, port, tag):
    """The reservation a transaction of `tag` starting on `port` uses (transactions.start), None
    if none: the connector's own (whoever was admitted to it), else connector 0's when that
    holds this connector or `tag` is its idTag. One already used (expiry 0) is none."""
    au = cp.authorization
    zero = None
    for r in au.held:
        if r[4]:
            if r[1] == port.id and port.machine.reserved is not None:
                return r
            if r[1] == 0 and (au.mark == port.id or r[2].lower() == tag.lower()):
                zero = r
    return zero


def admits(cp, cid, tag, parent=None):
    """May `tag` use connector cid? True when it is not reserved or reserved for `tag` or for
    `tag`'s parentIdTag; False when it is reserved for another one; None when only the
    parentIdTag can tell and it is not known (`parent` None): Authorize.req learns it."""
    # Asked only for a connector that holds a reservation (Reserved, or authorised and still
    # holding it): its own or, marked, connector 0's.
    # idTags are CiString20: compared case-insensitively.
    rs = cp.authorization
    for r in rs.held:
        if r[4] and (r[1] == cid or (r[1] == 0 and rs.mark == cid)):
            if tag.lower() == r[2].lower():
                return True
            if r[3] is None:
                return False
            return None if parent is None else parent.lower() == r[3].lower()
    return True


def restore(cp, rs, held):
    # At boot: the reservations of data/resv.json, each checked (a damaged entry is dropped and
    # the file rewritten), their connectors Reserved again. One that expired meanwhile ends at
    # the first poll whose clock says so; one whose connector is Unavailable now, too.
    n = len(cp.ports)
    keep = []
    seen = []
    for r in held if type(held) is list else ():
        if (type(r) is list and len(r) == 5 and type(r[0]) is int and type(r[1]) is int
                and 0 <= r[1] <= n and r[1] not in seen and type(r[2]) is str and r[2]
                and (r[3] is None or type(r[3]) is str) and type(r[4]) is int):
            seen.append(r[1])
            keep.append(r)
            if r[1]:
                cp.port(r[1]).apply("reserve", r[2])
    rs.held = keep
    rs.mark = 0
    if type(held) is not list or len(keep) != len(held):
        try:
            save_json(_RESV, keep)
        except OSError:  # the damaged entries are dropped again at the next boot, or written
            pass  # over by the next change; a boot must not fail on it
