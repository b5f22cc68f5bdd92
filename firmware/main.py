# Boot entry, in two parts, neither replaced by an update (firmware/README.md, "Updates"):
# - the loader: app/boot.json chooses the code that runs, the factory copy (/lib/evse, or frozen
#   in the image) or an update's slot (app/a, app/b) put first on sys.path, before anything of
#   evse is imported. An update on trial has its boots counted; more than _TRIES (a crash loop,
#   a power cut at each boot) rolls it back. Any fault reading the file runs the factory code.
# - the crash guard: on any unhandled exception every relay opens, the error is logged, an
#   update on trial is rolled back, and the board restarts (the unix port exits so the virtual
#   board boots it again).
import sys

_BOOT = "app/boot.json"
_TRIES = const(3)


def _read():
    import json
    with open(_BOOT) as f:
        return json.load(f)


def _save(b):
    import json
    import os
    with open(_BOOT + ".tmp", "w") as f:
        json.dump(b, f)
    try:
        os.rename(_BOOT + ".tmp", _BOOT)
    except OSError:  # FAT cannot rename over a file; without boot.json the factory code runs
        os.remove(_BOOT)
        os.rename(_BOOT + ".tmp", _BOOT)


def _back(b, why):
    # The update on trial failed: the code that ran before it runs from the next boot.
    b.update(run=b["prev"], version=None, state="kept", boots=0,
             failed={"version": b["version"], "why": why[:60]})
    _save(b)


def _load():
    try:
        b = _read()
        if b["state"] == "trial":
            b["boots"] += 1
            if b["boots"] > _TRIES:
                _back(b, "crash loop")
            else:
                _save(b)
        if b["run"] in ("app/a", "app/b"):
            sys.path.insert(0, b["run"])
    except Exception:  # noqa: BLE001 - absent or bad: the factory code, never a stopped boot
        pass


def _log(event, key, value):
    try:
        from evse.log import log
        log(event, key, value)
    except Exception:  # noqa: BLE001 - an update whose evse does not import
        print(event, key + "=" + str(value))


def _open_relays():
    try:
        from evse import app
        if app.board is not None:
            app.board.open_all()
    except Exception as e:  # noqa: BLE001 - last line of defence: keep going to the restart
        _log("crash", "open_all", repr(e))


def _restart(code):
    if sys.platform == "linux":
        # Under `micropython -i` sys.exit() in main.py only drops to the REPL: end the process,
        # the virtual board boots it again (see host_tools/virtual_board.py).
        import os
        os.system("kill -TERM $PPID")
        sys.exit(code)
    import time
    time.sleep(2)  # a crash loop must not hammer the flash and the CSMS
    try:
        from evse.hal import reset
    except Exception:  # noqa: BLE001 - an update that does not import: the factory's reset
        sys.path.pop(0)
        for name in [n for n in sys.modules if n.startswith("evse")]:
            del sys.modules[name]
        from evse.hal import reset
    reset()


_load()
try:
    from evse import Reboot  # the update's own, when one runs: what its app raises
    try:
        import asyncio

        from evse import app
        asyncio.run(app.main())
    except KeyboardInterrupt:
        _open_relays()  # Ctrl-C from mpremote: stay in the REPL with every relay open
    except Reboot as e:  # a Reset, or an update switched or rolled back: a clean restart
        _open_relays()
        _log("reboot", "reason", e.args[0] if e.args else "")
        _restart(0)
except Exception as e:  # noqa: BLE001 - any failure (an update's import too): relays open, restart
    _open_relays()
    _log("crash", "error", repr(e))
    sys.print_exception(e)
    try:
        b = _read()  # read again: the app may have kept the update since the boot
        if b["state"] == "trial":
            _back(b, repr(e))
            _log("update", "rolled_back", b["failed"]["version"])
    except Exception:  # noqa: BLE001 - no update on trial
        pass
    _restart(1)
