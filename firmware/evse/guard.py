# main.py's crash guard and clean restarts, loaded only when they happen. After a crash main.py
# takes an update off sys.path first, so this is the factory's copy then (lib/evse, or frozen):
# no update can break the way back from itself.
import sys

from evse.files import load_json
from evse.loader import BOOT, back
from evse.log import log


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
    """main.py's crash guard, with the factory's evse: relays open, an update rolled back
    (undo), restart. `app`: the app module, None when it never imported."""
    open_relays(app)
    log("crash", "error", repr(e))
    sys.print_exception(e)
    try:
        v = undo(app, repr(e))
        if v:
            log("update", "rolled_back", v)
    except Exception as e2:  # noqa: BLE001 - flash failing: the boots counter rolls back
        log("crash", "rollback", repr(e2))
    restart(1)


def undo(app, why):
    """After a crash: an update on trial goes back to the code before it; a kept one whose app
    does not even import (a slot damaged since) goes back to the factory code, as the slot
    before it may be half-staged. -> the version rolled back, else None."""
    b = load_json(BOOT)
    if not isinstance(b, dict):
        return None
    if b.get("state") == "trial":
        back(b, why)
    elif app is None and b.get("run") in ("app/a", "app/b"):
        b["prev"] = "lib"
        back(b, why)
    else:
        return None
    return b.get("version") or b.get("run")


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
