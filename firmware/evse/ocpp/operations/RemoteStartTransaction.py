# RemoteStartTransaction: authorise the idTag on a connector (the given one, or the first free
# one with a cable in it); the transaction starts when the cable is in, or after Authorize when
# AuthorizeRemoteTxRequests is set. How it is held (per use): the route table in __init__.py.


def answer(cp, p):
    # The schema checked every field, the charging profile's inside included.
    tag = p["idTag"]
    prof = p.get("chargingProfile")
    cid = p.get("connectorId")
    if cp.reg != "Accepted" or (cid is not None and not 1 <= cid <= len(cp.ports)):
        return {"status": "Rejected"}
    # A profile must be a TxProfile (1.6: RemoteStartTransaction.req). A valid one is accepted
    # and then not applied: this firmware has no smart charging yet (the SmartCharging rows
    # of the route table are `no`), so the transaction runs at the outlet's full current, as
    # the central system learns from SupportedFeatureProfiles.
    if prof is not None and prof["chargingProfilePurpose"] != "TxProfile":
        return {"status": "Rejected"}
    if cid is None:  # any free connector, the first one with a cable in preference
        port = None
        for q in cp.ports:
            c = q.machine
            if c.state in ("Available", "Preparing") and c.id_tag is None:
                if port is None or (c.plugged and not port.machine.plugged):
                    port = q
        if port is None:
            return {"status": "Rejected"}
    else:
        port = cp.port(cid)
    if cp.settings["AuthorizeRemoteTxRequests"]:
        c = port.machine
        if c.tx or c.id_tag is not None or c.state in ("Unavailable", "Faulted"):
            return {"status": "Rejected"}
        cp.authorization.ask(port.id, tag)
        return {"status": "Accepted"}
    return {"status": "Accepted" if port.apply("authorize", tag) else "Rejected"}
