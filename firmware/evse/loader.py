# The loader's part of main.py, always the factory copy (lib/evse, or frozen in the image): main.py
# imports it before any update is on sys.path, so no update replaces it. Loaded for that and
# dropped (its crash-time part is evse/guard.py, loaded only then). See evse/install.py for
# app/boot.json and the slots.
import sys

from evse import drop
from evse.files import load_json, save_json

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


def back(b, why):
    """Back to the code that ran before the update on trial, its failure recorded (for
    InstallationFailed). -> the new boot.json."""
    r = {"run": b.get("prev"), "prev": b.get("prev"), "version": None, "state": "kept", "boots": 0,
         "failed": {"version": b.get("version"), "why": str(why)[:60]}}
    if "requestId" in b:  # a signed update's requestId: its InstallationFailed carries it
        r["requestId"] = b["requestId"]
    save_json(BOOT, r)
    return r
