# TriggerMessage: queue the message asked for, (message, connector id or None), for the
# charge point's sender, which sends it before anything else, through send() below (also
# while BootNotification is Pending: the one kind of message allowed then).
from evse import ocpp


def answer(cp, p):
    what = p["requestedMessage"]  # one of the six the schema lists
    cid = p.get("connectorId")
    n = len(cp.ports)
    if cid is not None and not 0 <= cid <= n:
        return {"status": "Rejected"}
    if what == "StatusNotification":  # connector 0 too when none is given
        for c in range(n + 1) if cid is None else (cid,):
            cp.triggers.append((what, c))
    elif what == "MeterValues":  # every connector when none (or 0) is given
        for c in range(1, n + 1) if not cid else (cid,):
            cp.triggers.append((what, c))
    elif what in ("BootNotification", "Heartbeat", "FirmwareStatusNotification"):
        cp.triggers.append((what, None))
    else:
        return {"status": "NotImplemented"}
    cp.wake.set()
    return {"status": "Accepted"}


async def send(cp, rpc):
    # The oldest message a TriggerMessage asked for.
    what, cid = cp.triggers.pop(0)
    if what == "BootNotification":
        cp.operation("BootNotification").accept(cp, await cp.call(rpc, what, cp.boot_fields))
    elif what == "Heartbeat":
        await cp.heartbeat(rpc)
    elif what == "FirmwareStatusNotification":  # the update's last status, Idle when none runs
        from evse import drop
        from evse.ocpp import firmware
        drop("evse.ocpp.firmware")
        await cp.call(rpc, what, {"status": firmware.status()})
    elif what == "StatusNotification":  # the current status, even when unchanged
        av = cp.availability
        av.reported.pop(cid, None)
        if cid not in av.pending:
            c = cp.port(cid).machine if cid else None
            av.pending[cid] = [av.state(cid), c.error if c else "NoError", c.info if c else None,
                               ocpp.now(), 0]
        await av.send(rpc, cid, True)
    elif what in ("LogStatusNotification", "SignedFirmwareStatusNotification"):
        # ExtendedTriggerMessage's own: the status when it goes
        await cp.call(rpc, what, cp.operation("ExtendedTriggerMessage").status(cp, what))
    else:  # MeterValues now, with the transaction's id when one runs
        port = cp.port(cid)
        tr = cp.transactions
        mv = {"connectorId": cid, "meterValue": [tr.meter_value(
            port, cp.settings.measurands("MeterValuesSampledData"), "Trigger")]}
        if port.tx:
            mv["transactionId"] = tr.tx_id(port) or -1
        tr.extra.append(mv)
