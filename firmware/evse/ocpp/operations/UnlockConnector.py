# UnlockConnector: the session on the connector ends first; the socket has no lock actuator,
# so nothing holds the cable and the answer is Unlocked.
from evse.ocpp.rpc import field


def answer(cp, p):
    cid = field(p, "connectorId", int)
    if not 1 <= cid <= len(cp.ports):
        return {"status": "UnlockFailed"}
    port = cp.port(cid)
    if port.machine.tx:
        port.apply("stop", "UnlockCommand")
    return {"status": "Unlocked"}
