# The console's one question, so that a host tool can look before it interrupts: Ctrl-C ends
# the app, every relay opens and an open transaction is stopped as PowerLoss at the next boot.
# The host sends "#evse? NONCE" (a comment, should it reach a plain REPL); the app prints one
# line "#evse {json}": identity, connector states, the open transactions (from their flash
# files), the digest of the deploy record host tools write (deploy.json) and, on a virtual
# board, its simulated hardware's settings. Stdin is read a
# byte at a time, so a partial line never blocks the app; nothing is kept between questions.
import sys

import asyncio

_MAX_LINE = const(48)
_DEPLOY = const("deploy.json")


async def serve(cfg, fields, shown):
    # Runs on the unix port and on a UART/USB REPL alike (as micropython-lib's aiorepl does).
    s = asyncio.StreamReader(sys.stdin)
    line = ""
    while True:
        ch = await s.read(1)
        if not ch:
            return  # stdin closed: nobody can ask any more
        if ch == "\r" or ch == "\n":
            if line.startswith("#evse?"):
                print("#evse " + answer(cfg, fields, shown, line[6:].strip()))
            line = ""
        elif len(line) < _MAX_LINE:
            line += ch


def answer(cfg, fields, shown, nonce=""):
    import json

    from evse.files import load_json
    txs = []
    for cid, _state in shown:
        tx = load_json("data/tx%d.json" % cid)
        if tx:
            txs.append({"connector": cid, "ref": tx["r"], "id_tag": tx["tag"],
                        "start_wh": tx["s"], "meter_wh": tx["m"]})
    return json.dumps({"q": nonce, "version": fields.get("firmwareVersion"),
                       "board": fields.get("chargePointModel"),
                       "charge_point_id": cfg.get("charge_point_id"), "csms_url": cfg.get("csms_url"),
                       "public_code": cfg.get("public_code"), "sim": cfg.get("sim"),
                       "connectors": shown,
                       "transactions": txs, "deploy": digest(_DEPLOY)})


def digest(path):
    # sha256 of a file, hex; None when it is missing.
    import binascii
    import hashlib
    try:
        f = open(path, "rb")
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(128)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(b if n == len(b) else b[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
