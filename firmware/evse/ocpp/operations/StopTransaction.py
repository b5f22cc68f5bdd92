# StopTransaction, sent by the charge point. Every stop of a running transaction is built by
# transactions.py (resident: it ends every session); this module holds the rare one: at boot,
# the stop of a transaction a power loss cut, loaded only when data/tx<n>.json is still there,
# and again at the first meter reading after that boot.
from evse.files import load_json, remove, save_json
from evse.log import log
from evse import ocpp


def recover(cp):
    # Stop it with the last meter value we persisted. The meter went on counting until the
    # power went (our copy is saved once a sample interval), so the first reading after boot
    # raises meterStop to the register (raise_meter, before anything is sent). data/tx<n>.json
    # stays until that raise: a power cut between the two must not lose it. Marked "q" once
    # the stop is queued, so a boot after such a cut finds the queued stop again (the journal)
    # or, if an earlier boot already delivered it, just removes the file: one stop, never two.
    for port in cp.ports:
        path = _path(port)
        tx = load_json(path, None)
        if not tx:
            continue
        lost = _queued(cp.journal, tx["r"])
        if lost:  # a boot cut before the raise: this one raises it
            port.lost = lost
            log("tx stop", "connector", port.id, "ref", tx["r"], "still_queued", 1)
        elif tx.get("q"):
            remove(path)
        else:
            p = {"idTag": tx["tag"], "meterStop": int(tx["m"]), "timestamp": ocpp.iso(tx["mt"]),
                 "reason": "PowerLoss", "_r": tx["r"]}
            port.lost = (cp.journal.append("StopTransaction", p), p)
            tx["q"] = 1
            save_json(path, tx)
            log("tx stop", "connector", port.id, "ref", tx["r"], "reason", "PowerLoss",
                "meter_wh", int(tx["m"]))


def _path(port):
    return "data/tx%d.json" % port.id  # as transactions.py writes it


def _queued(journal, ref):
    # (seq, payload) of the PowerLoss stop of transaction `ref` still in the journal, or None.
    for seq, action, p in journal.items():
        if action == "StopTransaction" and p.get("_r") == ref:
            return seq, p
    return None


def raise_meter(cp, port, lost):
    # The first reading after the boot: the meter's register is the energy up to the power
    # loss, so it becomes meterStop of the PowerLoss stop still queued (lost: (seq, payload)).
    # Then the transaction's file goes: its stop is final.
    seq, p = lost
    wh = int(port.reading[0])
    if wh > p["meterStop"]:
        p["meterStop"] = wh
        cp.journal.update(seq, p)
        log("tx stop", "connector", port.id, "ref", p["_r"], "meter_wh", wh)
    remove(_path(port))
