# The answer to a host tool's "#evse?" (evse.console reads the question): identity, connector
# states, the open transactions (from their flash files), the connectors authorised and
# waiting for the cable, and the digest flash compares before
# it calls a board up to date. Loaded per question and dropped: none of it stays resident.
_DEPLOY = "deploy.json"
_CODE = "lib/evse"
_INSTALLED = "app/boot.json"


def answer(cfg, fields, shown, nonce="", held=None):
    # held(): [(connector, idTag)] authorised (RemoteStart, a card) and waiting for the cable:
    # Preparing like a plugged connector without one, but a restart would drop the idTag.
    import json

    from evse.files import load_json
    txs = []
    for cid, _state in shown:
        tx = load_json("data/tx%d.json" % cid)
        if tx and not tx.get("q"):  # "q": ended by a power loss, its stop queued
            txs.append({"connector": cid, "ref": tx["r"], "id_tag": tx["tag"],
                        "start_wh": tx["s"], "meter_wh": tx["m"]})
    return json.dumps({"q": nonce, "version": fields.get("firmwareVersion"),
                       "board": fields.get("chargePointModel"),
                       "charge_point_id": cfg.get("charge_point_id"), "csms_url": cfg.get("csms_url"),
                       "public_code": cfg.get("public_code"), "sim": cfg.get("sim"),
                       "connectors": shown,
                       "transactions": txs,
                       "authorised": [{"connector": c, "id_tag": t} for c, t in (held() if held else ())],
                       "deploy": deploy_digest()})


def deploy_digest(record=_DEPLOY, code=_CODE):
    # What flash compares before it calls a board up to date: sha256 of the deploy record,
    # then of what really is under lib/evse, one line per entry, depth first, names sorted:
    # "lib/evse/ocpp/\n" for a folder, "lib/evse/app.mpy 1234\n" for a file. A stray or a
    # missing file (an app.py copied beside app.mpy shadows it) changes the digest, so flash
    # compares every file and removes what is not its own. None without a record. An update
    # installed over the air (app/boot.json, evse/install.py) runs instead of lib/evse: never
    # up to date, so flash removes it and the code it deploys is what runs.
    import binascii
    import hashlib
    import os
    h = hashlib.sha256()
    if not _hash_file(h, record):
        return None
    _hash_tree(h, code)
    try:
        os.stat(_INSTALLED)
        h.update("%s\n" % _INSTALLED)
    except OSError:
        pass
    return binascii.hexlify(h.digest()).decode()


def _hash_tree(h, path):
    import os
    try:
        entries = sorted(os.ilistdir(path))
    except OSError:
        return  # no lib/evse: firmware frozen into the image
    for e in entries:
        p = path + "/" + e[0]
        if e[1] == 0x4000:
            h.update(p + "/\n")
            _hash_tree(h, p)
        else:
            h.update("%s %d\n" % (p, e[3] if len(e) > 3 and e[3] >= 0 else os.stat(p)[6]))


def digest(path):
    # sha256 of a file, hex; None when it is missing.
    import binascii
    import hashlib
    h = hashlib.sha256()
    if not _hash_file(h, path):
        return None
    return binascii.hexlify(h.digest()).decode()


def _hash_file(h, path):
    try:
        f = open(path, "rb")
    except OSError:
        return False
    b = bytearray(128)
    with f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b if n == len(b) else b[:n])
    return True
