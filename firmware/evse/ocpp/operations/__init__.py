# One module per OCPP operation, named after its action (Reset.py answers Reset). For a CALL of
# the central system the module has `answer(cp, payload)`, called by answer() below only once
# the payload has kept its official 1.6 schema (schema.py, with schemas/<Action>.py generated
# from the `ocpp` package's schemas: types, required, enums, lengths, no extra properties, null
# is not absent), so it checks only what a schema cannot (a connector id in range, a key that
# exists...). It answers at once and leaves follow-up messages to the charge point's sender: an
# answer never waits for a CALL of our own. For a message the charge point sends, the module
# holds its rare part (Authorize.py: a card at the reader; StartTransaction.py: an idTag the
# answer refuses; StopTransaction.py: the stop of a transaction a power loss cut); the messages
# of every session are built by their feature (transactions.py...) and the boot by
# chargepoint.py. The state an operation acts on lives with its feature (transactions,
# availability, authorization, settings), reached through `cp`.
import sys

from evse import drop
from evse.ocpp import schema
from evse.ocpp.rpc import NOT_IMPLEMENTED, NOT_SUPPORTED, CallError

# The route table: each operation of OCPP 1.6 we know, and how its module is held on an .mpy
# build, where code lives in the heap:
#   keep  resident: imported at start-up while the heap is still in one piece, never dropped,
#         and so is its schema. RemoteStopTransaction: ending a session must never depend on
#         free heap.
#   use   loaded per use: imported for the call and dropped after (evse.drop), so its code does
#         not sit in the heap for the whole session; its names stay interned (qstrs are never
#         freed); its schema module likewise. A load that fails (MemoryError) answers that one
#         CALL InternalError and leaves nothing behind: the next CALL loads it again. `use`
#         is for what every session needs, whose names are interned at start-up (intern()
#         below): RemoteStartTransaction (a public session starts with it; a failed load only
#         refuses a start) and BootNotification (each power-up).
#   rare  loaded per use like `use`, but not interned at start-up: what a session may never see
#         (the central system's other CALLs, a card, a refused idTag, a power loss). Their
#         names (~15 to ~40 an operation, 0.1-0.6 KB of heap on an .mpy build, module paths
#         included) are interned at their first CALL instead, into the qstr pools that
#         start-up and intern() have grown (beyond the first five's 620 entries: see
#         intern()), so no pool is allocated then. Interning them all at start-up cost ~2 KB
#         of heap on a 32-bit .mpy build, for names most sessions never use.
#   no    a CALL of a feature profile not supported here: NotSupported
# "cp" marks a message the charge point sends. A CALL of any other action, or of one the
# charge point sends, is NotImplemented. A frozen build holds every module in flash; there the
# column only decides what is imported when. The schemas of the `keep`/`use`/`rare` rows
# without "cp" are generated (`make schemas`): a row turned from `no` to `use` needs that run.
_ROUTES = const(
    # Core
    "\nChangeAvailability rare"
    "\nChangeConfiguration rare"
    "\nClearCache rare"
    "\nDataTransfer rare"
    "\nGetConfiguration rare"
    "\nRemoteStartTransaction use"
    "\nRemoteStopTransaction keep"
    "\nReset rare"
    "\nUnlockConnector rare"
    "\nAuthorize rare cp"
    "\nBootNotification use cp"
    "\nStartTransaction rare cp"
    "\nStopTransaction rare cp"
    # RemoteTrigger
    "\nTriggerMessage rare"
    # Reservation
    "\nCancelReservation rare"
    "\nReserveNow rare"
    # LocalAuthListManagement
    "\nGetLocalListVersion rare"
    "\nSendLocalList rare"
    # SmartCharging: rare, as Reservation is: a charger no central system sends a profile to
    # never loads nor interns them (GetCompositeSchedule.py holds the limit's computation)
    "\nClearChargingProfile rare"
    "\nGetCompositeSchedule rare"
    "\nSetChargingProfile rare"
    # FirmwareManagement
    "\nGetDiagnostics rare"
    "\nUpdateFirmware rare"
    # Security whitepaper (edition 2): no profile name of its own (the SecurityProfile key)
    "\nDeleteCertificate rare"
    "\nExtendedTriggerMessage rare"
    "\nGetInstalledCertificateIds rare"
    "\nGetLog rare"
    "\nInstallCertificate rare"
    "\nSignedUpdateFirmware rare"
    "\nSecurityEventNotification rare cp"
    "\n")
_PACKAGE = const("evse.ocpp.operations.")


def route(action):
    """The table's row of `action` as a list (action, how[, "cp"]); None if not there."""
    if not action or " " in action or "\n" in action:
        return None
    i = _ROUTES.find("\n" + action + " ")
    if i < 0:
        return None
    return _ROUTES[i + 1:_ROUTES.find("\n", i + 1)].split(" ")


def load(action):
    """The module of a listed operation. A per-use one is dropped at once: the caller's
    reference keeps it until the caller is done, then the next collection frees it."""
    name = _PACKAGE + action
    __import__(name)
    m = sys.modules[name]
    if route(action)[1] != "keep":
        drop(name)
    return m


def answer(cp, action, payload):
    """The answer to a CALL of the central system (ChargePoint.dispatch): NotImplemented or
    NotSupported first, then the schema check, and only a payload that keeps its schema
    reaches the operation, which is loaded only then: a failed check runs nothing of it."""
    r = route(action)
    if r is None or len(r) > 2:
        raise CallError(NOT_IMPLEMENTED, action)
    if r[1] == "no":
        raise CallError(NOT_SUPPORTED, action)
    f = schema.fault(action, payload, r[1] == "keep")
    if f is not None:
        raise CallError(f[0], f[1])
    return load(action).answer(cp, payload)


def preload():
    # The resident modules and their schemas, imported once at start-up.
    for line in _ROUTES.split("\n"):
        if " keep" in line:
            action = line[:line.find(" ")]
            load(action)
            schema.load(action, True)


def intern():
    """Load and drop each `use` module (and schema) once, at start-up (ChargePoint(), before the
    app's tasks and the first connection): their names are interned now. qstrs are never freed and every
    session interns these anyway; on an .mpy build the names of start-up fill the qstr pools to
    about their 620 entries (~610 on the unix port's 32-bit build), so the next pool (640
    entries, one block: ~4.5 KB on 32-bit, ~7 KB on 64-bit) is allocated here, at a known
    point, and not at whichever rare CALL of a session, in a fragmented heap, happens to need
    one name more."""
    import gc
    for line in _ROUTES.split("\n"):
        if " use" in line:
            action = line[:line.find(" ")]
            try:
                load(action)
                if " cp" not in line:
                    schema.load(action)  # its names (enums, fields) are interned now too
            except MemoryError:  # only a head start: the CALL loads its module when it comes
                drop(_PACKAGE + action)
            gc.collect()
