# Authorization, who may start and where: idTags waiting for Authorize and the reservations
# held (data/resv.json). What is known of an idTag without asking, the local authorization list
# and the authorization cache, is in flash and read per use (localauth.py, through local()).
# Cards at the reader and the Authorize request itself are in operations/Authorize.py.
#
# Reservations (OCPP 1.6 Reservation profile): only their state is resident, here; ChargePoint.poll
# has them tidied after a connector's state changed or when an expiry is due. The rest is per
# use: ReserveNow, who may use a reservation (admits), the one a start uses (find) and the list
# read back at boot in operations/ReserveNow.py; CancelReservation, every other end of a
# reservation and connector 0's mark (tidy) in operations/CancelReservation.py. Not a module and
# class of their own: on an .mpy build that cost ~1 KB more heap for as long as the charger runs,
# and the session of tests/ocpp/test_memory.py had no such room at its 116k limit.
#   data/resv.json  [[reservationId, connectorId, idTag, parentIdTag or null, expiry (unix s,
#                   central system's clock)], ...]: one per connector at most plus one for
#                   connector 0 (the whole charge point), so NumberOfConnectors + 1 (9) at most.
# A connector's reservation is its state machine's `reserved` (Reserved while nobody is
# authorised there). It ends when a transaction starts for it (transactions.start: the
# StartTransaction carries its reservationId, and its expiry becomes 0, "used": the next tidy
# ends it), when it expires, when it is cancelled, and when the connector becomes Faulted or
# Unavailable (the machine drops `reserved`). A reservation of connector 0 holds no connector
# while two or more are free; when only one is, that one is Reserved for it (`mark`), so one
# connector always stays for its idTag.
from evse import drop
from evse.files import load_json
from evse.log import log

_RESV = const("data/resv.json")  # written by operations/ReserveNow.py and CancelReservation.py


class Authorization:
    def __init__(self, cp):
        self.cp = cp
        self.queue = []  # (connector id, idTag) waiting for Authorize
        self.held = []  # the reservations, as in data/resv.json
        # mark, the connector Reserved for connector 0's reservation (0: none), is set with the
        # first reservation held (ReserveNow.answer, restore) and read only while one is: not
        # here, so a charger without reservations has no heap for it. When they are tidied:
        # availability.due.
        held = load_json(_RESV, None)
        if held:  # checked, and the connectors Reserved again: rare, so per use
            cp.operation("ReserveNow").restore(cp, self, held)
        # Loaded once now, while start-up interns names anyway: its names are not interned by
        # the first card or answer of a session, into a heap that may be fragmented by then.
        local()

    def ask(self, cid, id_tag):
        # Authorize id_tag with the central system; connector cid acts on the answer.
        self.queue.append((cid, id_tag))
        self.cp.wake.set()

    def remember(self, id_tag, info, start=False):
        """An idTagInfo from the central system (Authorize, Start/StopTransaction) into the
        cache; that of a StartTransaction.conf (`start`) also checked against the local list."""
        s = self.cp.settings
        if type(info) is not dict or type(info.get("status")) is not str:
            return  # none to learn (StopTransaction.conf may have no idTagInfo)
        if not (s["AuthorizationCacheEnabled"] or (start and s["LocalAuthListEnabled"])):
            return
        # The cache only saves an Authorize.req later: a write that fails (no heap for the
        # module, flash full) loses this entry and nothing else, and never the answer's own
        # bookkeeping (transactions.py calls this before its journal moves on).
        try:
            local().remember(self.cp, id_tag, info, start)
        except (MemoryError, OSError) as e:
            log("cache not written", "error", repr(e)[:40])


def local():
    """localauth.py (the local list and the cache), loaded for one use: the caller's reference
    keeps it until the caller is done."""
    from evse.ocpp import localauth
    drop("evse.ocpp.localauth")
    return localauth
