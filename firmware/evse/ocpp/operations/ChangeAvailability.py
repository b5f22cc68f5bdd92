# ChangeAvailability: a connector (or, with 0, the whole charge point) becomes Operative or
# Inoperative, persisted in data/avail.json; Scheduled while a transaction runs there (the
# change then waits for its end).


def answer(cp, p):
    cid = p["connectorId"]  # the schema checked both fields
    kind = p["type"]
    if not 0 <= cid <= len(cp.ports):
        return {"status": "Rejected"}
    operative = kind == "Operative"
    scheduled = False
    av = cp.availability
    for port in cp.ports if cid == 0 else (cp.port(cid),):
        av.operative[port.id] = operative
        port.apply("availability", operative)
        scheduled = scheduled or port.machine.scheduled is not None
    if cid == 0:
        av.operative[0] = operative
        av.report(0, av.state(0))
    av.save()
    return {"status": "Scheduled" if scheduled else "Accepted"}
