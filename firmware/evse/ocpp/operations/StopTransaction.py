# StopTransaction, sent by the charge point. Every stop of a running transaction is built by
# transactions.py (resident: it ends every session); this module holds the rare one: at boot,
# the stop of a transaction a power loss cut, loaded only when data/tx<n>.json is still there,
# and again at the first meter reading after that boot.
from evse.files import load_json, remove
from evse.log import log
from evse import ocpp


def recover(cp):
    # Stop it with the last meter value we persisted. The meter went on counting until the
    # power went (our copy is saved once a sample interval), so the first reading after boot
    # raises meterStop to the register (raise_meter, before anything is sent).
    for port in cp.ports:
        path = "data/tx%d.json" % port.id  # as transactions.py writes it
        tx = load_json(path, None)
        if tx:
            p = {"idTag": tx["tag"], "meterStop": int(tx["m"]), "timestamp": ocpp.iso(tx["mt"]),
                 "reason": "PowerLoss", "_r": tx["r"]}
            port.lost = (cp.journal.append("StopTransaction", p), p)
            log("tx stop", "connector", port.id, "ref", tx["r"], "reason", "PowerLoss",
                "meter_wh", int(tx["m"]))
            remove(path)


def raise_meter(cp, port, lost):
    # The first reading after the boot: the meter's register is the energy up to the power
    # loss, so it becomes meterStop of the PowerLoss stop still queued (lost: (seq, payload)).
    seq, p = lost
    wh = int(port.reading[0])
    if wh > p["meterStop"]:
        p["meterStop"] = wh
        cp.journal.update(seq, p)
        log("tx stop", "connector", port.id, "ref", p["_r"], "meter_wh", wh)
