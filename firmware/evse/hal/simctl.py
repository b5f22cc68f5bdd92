# The sim control server's commands other than "state" (plug, power, fault, idtag, display,
# mem): imported per command and dropped after, so the checks and messages stay out of the heap.
from evse.log import log

FAULTS = ("welded", "meter_lost")


def handle(srv, msg):
    if not isinstance(msg, dict):
        return {"ok": False, "error": "expected a JSON object"}
    cmd = msg.get("cmd")
    if cmd == "display":
        d = srv.display
        if not hasattr(d, "buf"):
            return {"ok": False, "error": "this board has no display"}
        from binascii import hexlify
        return {"ok": True, "width": d.width, "height": d.height, "format": "MONO_HLSB",
                "data": hexlify(d.buf).decode()}
    if cmd == "mem":  # the heap after a full collection: a soak test's figure per session
        import gc
        gc.collect()
        return {"ok": True, "alloc": gc.mem_alloc(), "free": gc.mem_free()}
    if cmd not in ("plug", "power", "fault", "idtag"):
        return {"ok": False, "error": "unknown cmd %r (state, plug, power, fault, idtag, display, mem)" % (cmd,)}
    cid = msg.get("connector")
    if type(cid) is not int or not 1 <= cid <= len(srv.conns):
        return {"ok": False, "error": "connector must be 1..%d" % len(srv.conns)}
    conn = srv.conns[cid - 1]
    if cmd == "plug":
        v = msg.get("plugged")
        if type(v) is not bool:
            return {"ok": False, "error": "plugged must be true or false"}
        conn.set("plugged", v)
    elif cmd == "idtag":
        v = msg.get("id_tag")
        if type(v) is not str or not 1 <= len(v) <= 20:
            return {"ok": False, "error": "id_tag must be 1..20 characters"}
        conn.presented = v
    elif cmd == "power":
        v = msg.get("power_w")
        if type(v) not in (int, float) or not 0 <= v <= 100000:
            return {"ok": False, "error": "power_w must be a number 0..100000"}
        conn.set("ev_power_w", v)
    else:
        if "fault" not in msg:
            return {"ok": False, "error": "fault missing (welded, meter_lost or null)"}
        v = msg["fault"]
        if v is not None and v not in FAULTS:
            return {"ok": False, "error": "fault must be welded, meter_lost or null"}
        conn.set("fault", v)
    log("sim", cmd, cid, "value", msg.get("plugged", msg.get("power_w", msg.get("fault"))))
    return {"ok": True}


