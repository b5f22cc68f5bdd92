# Authorize, sent by the charge point: for a card at a connector's reader (card, present) and
# for RemoteStartTransaction when AuthorizeRemoteTxRequests is set (authorization.ask queues
# the idTag, send() below asks the central system). Rare on a public charger, so loaded per use.
# On a reserved connector only the reservation's idTag, or one with its parentIdTag, may start
# (ReserveNow.admits): another is refused here without an Authorize.req, unless the reservation
# has a parentIdTag and the idTag's own is known neither to the local list nor to the cache:
# then Authorize.req learns it.
from evse.log import log
from evse.ocpp.authorization import local


def card(cp, cid, id_tag):
    # A card at connector cid's reader: the idTag that started the transaction stops it
    # (idTags compare case-insensitively); any other starts one.
    port = cp.port(cid)
    tx = port.tx
    if tx and tx["tag"].lower() == id_tag.lower():
        port.apply("stop", "Local")
    elif not tx:
        present(cp, cid, id_tag)


def present(cp, cid, id_tag):
    """A local idTag (card) at connector cid. What is known here of it (localauth.lookup: the
    local list before the cache) decides offline, and online with LocalPreAuthorize; else
    Authorize.req. Blocked, Expired, Invalid and ConcurrentTx never start here: online they are
    asked about again, offline refused (AllowOfflineTxForUnknownId is for unknown ids only)."""
    s = cp.settings
    known = local().lookup(cp, id_tag)  # [listed, status, expiry, parent] or None
    valid = known is not None and known[1] == "Accepted"
    port = cp.port(cid)
    ok = True
    if port.machine.reserved is not None:
        # A known entry knows the parentIdTag too, none ("") included: only an unknown idTag's
        # parent needs Authorize.req.
        ok = cp.operation("ReserveNow").admits(cp, cid, id_tag, (known[3] or "") if valid else None)
    if ok is False:
        log("authorize", "connector", cid, "result", "refused reserved")
        return False
    if cp.rpc is not None and cp.reg == "Accepted":
        if ok and valid and s["LocalPreAuthorize"]:
            return port.apply("authorize", id_tag)
        cp.authorization.ask(cid, id_tag)
        return True
    if ok and valid and s["LocalAuthorizeOffline"]:
        return port.apply("authorize", id_tag)
    if ok and known is None and s["AllowOfflineTxForUnknownId"]:
        return port.apply("authorize", id_tag)
    log("authorize", "connector", cid, "result", "refused offline")
    return False


async def send(cp, rpc):
    # The oldest idTag waiting for Authorize; an Accepted one authorises its connector.
    cid, tag = cp.authorization.queue.pop(0)
    res = await cp.call(rpc, "Authorize", {"idTag": tag})
    info = res.get("idTagInfo") or {}
    cp.authorization.remember(tag, info)
    log("authorize", "connector", cid, "status", info.get("status"))
    if info.get("status") == "Accepted":
        port = cp.port(cid)
        if port.machine.reserved is not None and not cp.operation("ReserveNow").admits(
                cp, cid, tag, info.get("parentIdTag")):
            log("authorize", "connector", cid, "result", "refused reserved")
            return
        port.apply("authorize", tag)

