# Reservations (OCPP 1.6 Reservation profile): only what must stay resident, the reservations
# held and what every poll and every start needs of them. The rest is rare and per use:
# ReserveNow and who may use a reservation (operations/ReserveNow.py), CancelReservation and
# every other end of a reservation, connector 0's mark (operations/CancelReservation.py: tidy).
#
#   data/resv.json   the reservations held, [[reservationId, connectorId, idTag, parentIdTag
#                    or null, expiry (unix s, central system's clock)], ...]: at most one per
#                    connector plus one for connector 0 (the whole charge point), so at most
#                    NumberOfConnectors + 1 (9); a ReserveNow beyond that is Occupied.
#
# A connector's reservation is its state machine's `reserved` (Reserved while nobody is
# authorised there); it ends when a transaction starts there (transactions.start: the
# StartTransaction carries its reservationId), when it expires, when the central system cancels
# it, and when the connector becomes Faulted or Unavailable (its machine drops `reserved`).
# A reservation of connector 0 marks no connector while two or more are free; when only one
# is, that one is Reserved for it (`mark`), so one connector always stays for its idTag.
from evse.files import load_json, save_json
from evse import ocpp
from evse.ocpp.operations import load

_FILE = const("data/resv.json")


class Reservations:
    def __init__(self, cp):
        self.cp = cp
        self.held = []
        self.mark = 0  # connector Reserved for connector 0's reservation, 0: none
        self.due = 0  # unix time of the next expiry (tidy)
        self.seen = -1  # availability.changes when tidy last ran: -1, run at the first poll
        held = load_json(_FILE, None)
        if held:  # rare: the check and the connectors' Reserved state are per use
            load("ReserveNow").restore(cp, self, held)

    def save(self):
        save_json(_FILE, self.held)

    def admits(self, cid, tag, parent=None):
        """May `tag` (whose parentIdTag, if the central system told it, is `parent`) use
        connector cid? True, False, or None: only its parentIdTag, not known yet, can tell."""
        if self.cp.port(cid).machine.reserved is None:
            return True
        return load("ReserveNow").admits(self.cp, cid, tag, parent)

    def find(self, port, tag):
        """The reservation a transaction of `tag` starting on `port` uses, None if none: the
        connector's own (whoever was admitted to it: ReserveNow.admits), else connector 0's
        when it marks this connector or `tag` is its idTag."""
        zero = None
        for r in self.held:
            cid = r[1]
            if cid == port.id and port.machine.reserved is not None:
                return r
            if cid == 0 and (self.mark == port.id or r[2] == tag):
                zero = r
        return zero

    def used(self, r):
        # A transaction took reservation r (its StartTransaction, journaled, carries the id): it
        # ends. The connector's machine drops `reserved` as the transaction starts; a mark of
        # connector 0's left on another connector is lifted by the next tidy.
        self.held.remove(r)
        try:
            self.save()
        except OSError:  # the transaction runs on; the file names r until the next save
            pass

    def poll(self):
        # Each pass of the hardware loop; one test when nothing is held. A connector's state
        # changed (it may have dropped its reservation, connector 0's mark may have to move) or
        # the next expiry is due on the central system's clock: tidy, per use.
        if (self.held or self.mark) and (self.seen != self.cp.availability.changes
                                         or ocpp.now() >= self.due):
            try:
                load("CancelReservation").tidy(self.cp)
            except MemoryError:  # no heap to load it now: the next pass tries again
                pass
