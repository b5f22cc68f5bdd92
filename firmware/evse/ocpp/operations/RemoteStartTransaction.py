# RemoteStartTransaction: authorise the idTag on a connector (the given one, or the first free
# one with a cable in it); the transaction starts when the cable is in, or after Authorize when
# AuthorizeRemoteTxRequests is set. How it is held (per use): the route table in __init__.py.
# A reserved connector takes only its reservation's idTag, or one whose parentIdTag the local
# list or the cache knows to be the reservation's: another is Rejected (a remote start does not
# send Authorize.req to learn a parentIdTag).
# A chargingProfile is the transaction's TxProfile (SetChargingProfile.pend): stored before the
# authorisation, since the transaction may start inside it (cable in already), and bound to that
# transaction when it starts (GetCompositeSchedule.apply), deleted if it never does.


def answer(cp, p):
    # The schema checked every field, the charging profile's inside included.
    tag = p["idTag"]
    prof = p.get("chargingProfile")
    cid = p.get("connectorId")
    if cp.reg != "Accepted" or (cid is not None and not 1 <= cid <= len(cp.ports)):
        return {"status": "Rejected"}
    # 1.6 RemoteStartTransaction.req: "The Charging Profile SHALL have the purpose TxProfile";
    # 3.13.4: "the transactionId SHALL NOT be set" (there is no transaction yet).
    if prof is not None and (prof["chargingProfilePurpose"] != "TxProfile"
                             or prof.get("transactionId") is not None):
        return {"status": "Rejected"}
    admits = parent = None
    if cp.authorization.held:
        admits = cp.operation("ReserveNow").admits
        from evse.ocpp.authorization import local
        known = local().lookup(cp, tag)
        parent = (known[3] or "") if known is not None and known[1] == "Accepted" else None
    if cid is None:  # any free connector: one reserved for this idTag, else one with a cable in
        port = None
        best = -1
        for q in cp.ports:
            c = q.machine
            if (c.state in ("Available", "Preparing", "Reserved") and c.id_tag is None
                    and (c.reserved is None or admits(cp, q.id, tag, parent) is True)):
                rank = (c.reserved is not None) * 2 + c.plugged
                if rank > best:
                    port = q
                    best = rank
        if port is None:
            return {"status": "Rejected"}
    else:
        port = cp.port(cid)
        if port.machine.reserved is not None and admits(cp, cid, tag, parent) is not True:
            return {"status": "Rejected"}
    c = port.machine
    if prof is not None:
        if c.tx or c.id_tag is not None:  # its TxProfile would go to the one running there
            return {"status": "Rejected"}
        if not cp.operation("SetChargingProfile").pend(cp, port.id, prof, tag):
            return {"status": "Rejected"}
    if cp.settings["AuthorizeRemoteTxRequests"]:
        if c.tx or c.id_tag is not None or c.state in ("Unavailable", "Faulted"):
            return {"status": "Rejected"}
        cp.authorization.ask(port.id, tag)
        return {"status": "Accepted"}
    return {"status": "Accepted" if port.apply("authorize", tag) else "Rejected"}


