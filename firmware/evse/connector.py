# The connector state machine: pure logic, no I/O. Events in, (state, actions) out.
# The state is derived from a few facts (plugged, authorised, transaction, fault...) so every
# transition of the OCPP 1.6 table follows from one rule instead of a table of pairs.
# Actions are strings the caller carries out in order:
#   "start"  plugged and authorised: begin a transaction, then call started()
#   "close"  / "open"  the relay (close only ever inside a started transaction; "open" always
#            comes first, before "stop", so the relay never waits for a flash write)
#   "stop"   end the transaction with self.stop_reason
#   "status" the state changed: send StatusNotification
# A refused event returns (state, None) and changes nothing.

from time import ticks_diff

AVAILABLE = "Available"
PREPARING = "Preparing"
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
FINISHING = "Finishing"
RESERVED = "Reserved"
UNAVAILABLE = "Unavailable"
FAULTED = "Faulted"

_MIN_DRAW_W = const(50)
_MIN_OFFER_A = const(6)  # IEC 61851-1: the pilot offers nothing below 6 A


class Connector:
    def __init__(self, cid, available=True, timeout_s=60, stop_on_unplug=True):
        self.id = cid
        self.available = available  # operative as the central system last set it (persisted by caller)
        self.timeout_s = timeout_s  # ConnectionTimeOut
        self.stop_on_unplug = stop_on_unplug  # StopTransactionOnEVSideDisconnect
        self.plugged = False
        self.id_tag = None  # authorised idTag waiting for (or owning) a transaction
        self.tx = False  # a transaction is running
        self.drawing = False
        self.evse_limit = False  # idTag invalidated: EVSE withholds energy for this transaction
        self.no_offer = False  # smart charging's limit is below 6 A: EVSE withholds energy
        self.finishing = False
        self.reserved = None  # idTag the connector is reserved for (Reserved while none authorised)
        self.error = "NoError"
        self.info = None
        self.stop_reason = None
        self.scheduled = None  # availability waiting for the transaction to end
        self.since = 0  # ms when authorisation began waiting for the cable
        self.relay = False
        self.state = self._derive()

    def _derive(self):
        if self.error != "NoError":
            return FAULTED
        if self.tx:
            if not self.plugged:
                return SUSPENDED_EV
            if self.evse_limit or self.no_offer:
                return SUSPENDED_EVSE
            return CHARGING if self.drawing else SUSPENDED_EV
        if not self.available:
            return UNAVAILABLE
        if self.finishing:
            return FINISHING
        if self.reserved is not None and self.id_tag is None:
            return RESERVED
        if self.plugged or self.id_tag is not None:
            return PREPARING
        return AVAILABLE

    def _settle(self, acts):
        # After any accepted event: start if ready, relay follows the facts, report the state.
        if (not self.tx and self.plugged and self.id_tag is not None and self.available
                and self.error == "NoError" and "start" not in acts):
            acts.append("start")
        want = (self.tx and self.plugged and not self.evse_limit and not self.no_offer
                and self.error == "NoError")
        if want != self.relay:
            self.relay = want
            if want:
                acts.append("close")
            else:
                acts.insert(0, "open")  # safety first: the relay opens before a stop is journaled
        s = self._derive()
        if s != self.state:
            self.state = s
            acts.append("status")
        return self.state, acts

    def _stop(self, reason, acts):
        self.tx = False
        self.drawing = False
        self.evse_limit = False
        self.id_tag = None
        self.stop_reason = reason
        self.finishing = self.plugged
        acts.append("stop")
        if self.scheduled is not None:
            self.available = self.scheduled
            self.scheduled = None

    def event(self, name, arg=None, now=0):
        # One method for every event (a method each would cost a function object apiece).
        acts = []
        if self._on(name, arg, now, acts) is False:
            return self.state, None
        return self._settle(acts)

    def _on(self, name, arg, now, acts):
        if name == "plug":
            plugged = bool(arg)
            if plugged == self.plugged:
                return False
            self.plugged = plugged
            if plugged:
                return
            self.finishing = False
            self.drawing = False
            if self.tx and self.stop_on_unplug:
                self._stop("EVDisconnected", acts)
                self.finishing = False
        elif name == "authorize":
            # The caller decided the idTag is accepted (Authorize.conf, cache, remote start...)
            # and, on a reserved connector, that it may use the reservation (its idTag or one
            # with the same parentIdTag: only the caller learns a parent). The reservation holds
            # until the transaction starts: an authorisation that times out leaves it Reserved.
            if (self.tx or self.id_tag is not None or not self.available
                    or self.error != "NoError" or not arg):
                return False
            self.id_tag = arg
            self.finishing = False
            self.since = now
        elif name == "started":
            # The caller has begun the transaction it was asked to start: the relay may now close.
            if self.tx or self.id_tag is None or not self.plugged or self.error != "NoError":
                return False
            self.tx = True
            self.reserved = None  # its transaction has begun: the reservation is used
        elif name == "stop":
            if self.tx:
                self._stop(arg or "Local", acts)
                return
            if self.id_tag is None:
                return False
            self.id_tag = None  # authorised but never started: cancel
        elif name == "deauthorize":
            # StartTransaction.conf said the idTag is not valid and the transaction goes on
            # (StopTransactionOnInvalidId false): withhold energy.
            if not self.tx:
                return False
            self.evse_limit = True
        elif name == "power":
            if not self.tx:
                return False
            self.drawing = arg is not None and arg >= _MIN_DRAW_W
        elif name == "limit":
            # Smart charging's offer, A per phase (None: no limit). A fact of the connector,
            # not of a transaction: one set with none running applies to the next, and a
            # transaction's end keeps it. Its own flag: raising it never undoes a deauthorize.
            off = arg is not None and arg < _MIN_OFFER_A
            if off == self.no_offer:
                return False
            self.no_offer = off
        elif name == "fault":
            # arg = (errorCode, info); every relay opens, a running transaction stops.
            code, info = arg
            if code == "NoError":
                return False
            self.error = code
            self.info = info
            self.reserved = None  # a faulted connector cannot keep a reservation (OCPP 1.6 5.13)
            if self.tx:
                self._stop("Other", acts)
            self.id_tag = None
        elif name == "clear":
            if self.error == "NoError":
                return False
            self.error = "NoError"
            self.info = None
        elif name == "reserve":
            if self.state != AVAILABLE or not arg:
                return False
            self.reserved = arg
        elif name == "unreserve":
            if self.reserved is None:
                return False
            self.reserved = None
        elif name == "availability":
            # Returns the answer for ChangeAvailability through self.scheduled: set while busy.
            operative = bool(arg)
            if self.tx:
                self.scheduled = operative
                return
            self.scheduled = None
            self.available = operative
            if not operative:
                self.id_tag = None
                self.reserved = None
        elif name == "tick":
            # ConnectionTimeOut: authorised but the cable never came.
            if (self.tx or self.id_tag is None or self.plugged
                    or ticks_diff(now, self.since) < self.timeout_s * 1000):
                return False
            self.id_tag = None
        else:
            return False
