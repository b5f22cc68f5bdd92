# The loader's part of main.py, always the factory copy (lib/evse, or frozen in the image): main.py
# imports it before any update is on sys.path, and again after a crash with the update taken
# off it, so no update replaces it. Loaded for that and dropped. See evse/install.py for
# app/boot.json and the slots.
import sys

from evse import drop
from evse.files import load_json, save_json
from evse.log import log

BOOT = "app/boot.json"
_TRIES = const(3)  # boots of an update on trial, then it is a crash loop (power cuts, faults)


def choose():
    """At boot: count a boot of an update on trial (a 4th goes back: a crash loop), put the slot
    that runs first on sys.path, and forget the factory's evse so that the slot's is imported.
    Any fault in app/boot.json (absent, unreadable, torn) runs the factory code."""
    b = load_json(BOOT)
    try:
        if b["state"] == "trial":
            b["boots"] += 1
            if b["boots"] > _TRIES:
                b = back(b, "crash loop")
            else:
                save_json(BOOT, b)
        run = b["run"]
    except Exception:  # noqa: BLE001 - not a dict, a key missing, flash failing: factory code
        run = None
    if run in ("app/a", "app/b"):
        sys.path.insert(0, run)
        for name in [n for n in sys.modules if n[:4] == "evse"]:
            del sys.modules[name]
    else:
        drop("evse.loader")  # its code is not needed again


def open_relays(app):
    try:
        if app is not None and app.board is not None:
            app.board.open_all()
    except Exception as e:  # noqa: BLE001 - last line of defence: keep going to the restart
        log("crash", "open_all", repr(e))


def reboot(app, e):
    """A Reset or an update's switch (evse.Reboot): relays open, then a clean restart."""
    open_relays(app)
    log("reboot", "reason", e.args[0] if e.args else "")
    restart(0)


def crashed(app, e):
    """main.py's crash guard, with the factory's evse: relays open, an update on trial rolled
    back, restart."""
    open_relays(app)
    log("crash", "error", repr(e))
    sys.print_exception(e)
    b = load_json(BOOT)
    if isinstance(b, dict) and b.get("state") == "trial":
        try:
            back(b, repr(e))
            log("update", "rolled_back", b.get("version"))
        except Exception as e2:  # noqa: BLE001 - flash failing: the boots counter rolls back
            log("crash", "rollback", repr(e2))
    restart(1)


def restart(code):
    if sys.platform == "linux":
        # Under `micropython -i` sys.exit() in main.py only drops to the REPL: end the process,
        # the virtual board boots it again (see host_tools/virtual_board.py).
        import os
        os.system("kill -TERM $PPID")
        sys.exit(code)
    import time

    from evse.hal import reset
    time.sleep(2)  # a crash loop must not hammer the flash and the CSMS
    reset()


def back(b, why):
    """Back to the code that ran before the update on trial, its failure recorded (for
    InstallationFailed). -> the new boot.json."""
    r = {"run": b.get("prev"), "prev": b.get("prev"), "version": None, "state": "kept", "boots": 0,
         "failed": {"version": b.get("version"), "why": str(why)[:60]}}
    if "requestId" in b:  # a signed update's requestId: its InstallationFailed carries it
        r["requestId"] = b["requestId"]
    save_json(BOOT, r)
    return r
