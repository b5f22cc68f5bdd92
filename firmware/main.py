# Boot entry: the loader, then the app behind a crash guard; no update replaces this file or
# the loader (firmware/README.md, "Updates"). The loader (evse/loader.py, the factory's copy:
# lib/evse or frozen) reads app/boot.json and puts an update's slot first on sys.path. On any
# unhandled exception, an update's code that does not import included, the factory's crash guard
# (evse/guard.py) opens every relay, logs the error, rolls back an update on trial and restarts
# the board.
import sys

from evse import loader

loader.choose()
del loader
try:
    from evse import Reboot  # the update's own when one runs: what its app raises
    try:
        import asyncio

        from evse import app
        asyncio.run(app.main())
    except KeyboardInterrupt:  # Ctrl-C from mpremote: stay in the REPL with every relay open
        from evse import guard
        guard.open_relays(sys.modules.get("evse.app"))
    except Reboot as e:  # a Reset, an update switched or rolled back: relays open, restart
        from evse import guard
        guard.reboot(sys.modules.get("evse.app"), e)
except Exception as e:  # noqa: BLE001 - any failure: relays open, restart
    app = sys.modules.get("evse.app")  # the code that ran, for its relays
    try:
        app.board.open_all()  # first, before anything is loaded (a MemoryError...)
    except Exception:  # noqa: BLE001 - no app, or its relays failed: the guard tries again
        pass
    if sys.path[0][:4] == "app/":  # an update: the factory's crash guard takes over
        sys.path.pop(0)
        for name in list(sys.modules):
            if name[:4] == "evse":
                del sys.modules[name]
    from evse import guard
    guard.crashed(app, e)
