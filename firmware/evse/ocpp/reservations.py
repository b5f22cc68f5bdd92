# Reservations (OCPP 1.6 Reservation profile): what must stay resident, the reservations held
# and what every poll and every start needs of them. ReserveNow and CancelReservation, the end
# of a reservation and who may use one are rare: operations/ReserveNow.py and
# operations/CancelReservation.py, loaded per use.
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
from evse.log import log
from evse import ocpp
from evse.ocpp.operations import load

_FILE = const("data/resv.json")


class Reservations:
    def __init__(self, cp):
        self.cp = cp
        self.held = []
        self.mark = 0  # connector Reserved for connector 0's reservation, 0: none
        self.failed = False  # the last pass's reservation work failed (logged once an episode)
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
        return load("ReserveNow").admits(self.cp, cid, tag, parent)  # rare: per use

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

    def used(self, r, port):
        # A transaction on `port` took reservation r (its StartTransaction, journaled, carries
        # the id): it ends. The port's state machine drops its `reserved` as the transaction
        # starts; connector 0's mark on another connector is lifted here.
        self.held.remove(r)
        m = self.mark
        if r[1] == 0 and m:
            self.mark = 0
            if m != port.id:
                self.cp.port(m).apply("unreserve")
        try:
            self.save()
        except OSError as e:  # the transaction runs on; the file still names it until the next save
            log("reservation error", "error", repr(e)[:60])

    def poll(self):
        # Each pass of the hardware loop, one test when nothing is held: expiry on the central
        # system's clock, a connector that dropped its reservation (Faulted, Unavailable), the
        # charge point made inoperative, connector 0's mark. At most one ends a pass.
        held = self.held
        if not held:
            return
        cp = self.cp
        try:
            t = ocpp.now()
            for r in held:
                cid = r[1]
                why = ("Expired" if t >= r[4] else
                       "Dropped" if (cp.port(cid).machine.reserved is None if cid else
                                     not cp.availability.operative[0]) else None)
                if why:
                    load("CancelReservation").end(cp, r, why)
                    break
            else:
                self._mark()
            self.failed = False
        except Exception as e:  # noqa: BLE001 - a failed write or load: the next pass tries again
            if not self.failed:
                log("reservation error", "error", repr(e)[:60])
            self.failed = True

    def _mark(self):
        # Connector 0's reservation: the last free (Available) connector is Reserved for it.
        zero = None
        for r in self.held:
            if r[1] == 0:
                zero = r
        if zero is None:
            return
        ports = self.cp.ports
        free = 0
        last = None
        for p in ports:
            if p.machine.state == "Available":
                free += 1
                last = p
        m = self.mark
        if m:
            c = ports[m - 1].machine
            if c.reserved is None:  # dropped (a fault, unavailable): choose again
                self.mark = m = 0
            elif free and c.id_tag is None:  # another one is free again: this one need not wait
                ports[m - 1].apply("unreserve")
                self.mark = 0
                return
        if not m and free == 1:
            last.apply("reserve", zero[2])
            self.mark = last.id
