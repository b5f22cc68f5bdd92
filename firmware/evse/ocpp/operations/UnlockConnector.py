# UnlockConnector: the session on the connector ends first; the socket has no lock actuator,
# so nothing holds the cable and the answer is Unlocked.


def answer(cp, p):
    cid = p["connectorId"]  # an integer: the schema checked it
    if not 1 <= cid <= len(cp.ports):
        return {"status": "UnlockFailed"}
    port = cp.port(cid)
    if port.machine.tx:
        port.apply("stop", "UnlockCommand")
    return {"status": "Unlocked"}
