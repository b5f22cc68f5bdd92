# Update slots and the switch between them (loaded per use: by the updater, and by the app's
# trial check while an update is on trial).
#
# The factory code stays where `chargerctl flash` put it (`lib/`, or frozen in the image). An
# update is staged into `app/a` or `app/b`, whichever does not run, a tree like lib/
# (`app/b/evse/...`). `app/boot.json` is the one commit point, written atomically (temp file +
# rename), read by main.py's loader before anything of evse is imported:
#
#   {"run": "app/b", "prev": "lib", "version": "0.2.0", "state": "trial" | "kept",
#    "boots": 0, "failed": null | {"version": "0.2.0", "why": "..."}}
#
# Absent or unreadable: the factory code runs. A power cut while staging leaves the slot half
# written and boot.json as it was; one during the switch leaves the old boot.json or the new.
# On trial, main.py counts the boots and rolls back a crash loop or a crash; check() below keeps
# the update once the central system accepted its BootNotification and it ran update_trial_s
# seconds, and rolls it back when no BootNotification was accepted within 3 x that time.
import os

from evse.files import load_json, save_json

BOOT = "app/boot.json"  # also in evse/loader.py (which main.py reads before evse is chosen)
_SLOTS = ("app/a", "app/b")


def status():
    """-> boot.json as a dict, or None (no update installed, or a file the loader ignores)."""
    b = load_json(BOOT)
    if isinstance(b, dict) and b.get("run") in ("lib",) + _SLOTS and b.get("state") in ("trial", "kept"):
        return b
    return None


def running():
    """-> where the code that runs comes from: "lib" (factory) or a slot."""
    b = status()
    return b["run"] if b else "lib"


def stage_dir():
    """-> the inactive slot, emptied, for evse.bundle.Stager. Refused (ValueError) while an
    update is on trial: the inactive slot then holds the code a rollback goes back to."""
    b = status()
    if b and b["state"] == "trial":
        raise ValueError("an update is on trial")
    slot = _other(running())
    clear(slot)
    for folder in ("app", slot):
        try:
            os.mkdir(folder)
        except OSError:
            pass  # there already
    return slot


def switch(version, image=False, request_id=None):
    """Run the staged slot from the next boot, on trial. The caller then raises
    evse.Reboot("firmware"). image=True: an ESP32 image was written instead (evse/hal/ota.py,
    set_boot() done): the same code path runs, on trial, and keep() tells the bootloader.
    `request_id`: a signed update's (SignedUpdateFirmware), whose outcome check() reports as
    SignedFirmwareStatusNotification with it."""
    run = running()
    slot = run if image else _other(run)
    if not image:
        try:
            os.stat(slot + "/evse")
        except OSError:
            raise ValueError("nothing staged") from None
    b = {"run": slot, "prev": run, "version": version, "state": "trial", "boots": 0, "failed": None,
         "image": image}
    if request_id is not None:
        b["requestId"] = request_id
    save_json(BOOT, b)


def keep():
    """The update on trial is good: it stays (no more boot counting, no rollback)."""
    b = status()
    if b and b["state"] == "trial":
        if b.get("image"):  # else ESP-IDF's bootloader boots the old image at the next reset
            from evse.hal import ota
            ota.keep()
        b["state"] = "kept"
        b["boots"] = 0
        save_json(BOOT, b)


def rollback(why):
    """Back to the code that ran before the update on trial, the failure recorded for the
    central system (InstallationFailed). The caller then raises evse.Reboot("firmware")."""
    b = status()
    if b and b["state"] == "trial":
        from evse.loader import back
        back(b, why)  # keeps the rest of boot.json: a signed update's requestId too


def reported():
    """InstallationFailed went to the central system: forget the failure."""
    b = status()
    if b and b.get("failed"):
        b["failed"] = None
        save_json(BOOT, b)


def clear(path):
    """Remove the tree at `path` (a slot), if there is one. Recursive: a slot's depth is bounded
    by evse/bundle.py's paths (at most 8 parts); a loop over a stack costs the 16 KB staging
    heap more code than these few frames."""
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return
    for e in entries:
        p = path + "/" + e[0]
        if e[1] == 0x4000:  # a folder
            clear(p)
        else:
            os.remove(p)
    os.rmdir(path)


def free_space():
    """Bytes free on the flash filesystem (os.statvfs: f_frsize x f_bavail)."""
    s = os.statvfs(".")
    return s[1] * s[4]


def _other(run):
    return "app/b" if run == "app/a" else "app/a"


# ---- the app's check while an update is on trial, or a failure is still to be reported -----
def watching(cfg):
    """At start-up: None when there is nothing to watch, else the state check() carries."""
    b = status()
    if not b or (b["state"] != "trial" and not b.get("failed")):
        return None
    import time
    return [cfg.get("update_trial_s", 300), time.ticks_ms(), None]


def _notify(cp, b, status):
    # The outcome of the update in boot.json, signed (its requestId kept there) or not.
    if "requestId" in b:
        cp.notify("SignedFirmwareStatusNotification", {"status": status, "requestId": b["requestId"]})
    else:
        cp.notify("FirmwareStatusNotification", {"status": status})


def check(cp, w):
    """Every few seconds while watching(): -> w, or None when done. After a rollback it sets
    cp.reset: the charge point's poll then stops the transactions and reboots."""
    import time
    b = status()
    if not b:
        return None
    up = cp.reg == "Accepted"
    if b.get("failed") and up:
        from evse.log import log
        f = b["failed"]
        log("update failed", "version", f.get("version"), "why", f.get("why"))
        _notify(cp, b, "InstallationFailed")
        reported()
    if b["state"] != "trial":
        return None
    now = time.ticks_ms()
    if up and w[2] is None:
        w[2] = now
    ms = w[0] * 1000
    if w[2] is not None and time.ticks_diff(now, w[2]) >= ms:
        keep()
        from evse.log import log
        log("update kept", "version", b["version"])
        _notify(cp, b, "Installed")
        from evse.ocpp.security_events import event
        event(cp, "FirmwareUpdated", b["version"])  # critical (whitepaper): queued till delivered
        return None
    if w[2] is None and time.ticks_diff(now, w[1]) >= 3 * ms:
        rollback("no boot accepted")
        # The reboot goes the way of a Reset (operations/Reset.py's poll, as the install's):
        # a transaction charging offline meanwhile is stopped and journaled, not cut.
        cp.reset = ("firmware", now)
        return None
    return w
