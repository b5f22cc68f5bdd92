# Boot entry: the loader, then the app behind a crash guard; no update replaces this file or
# the loader (firmware/README.md, "Updates"). The loader (evse/loader.py, the factory's copy:
# lib/evse or frozen) reads app/boot.json and puts an update's slot first on sys.path. On any
# unhandled exception, an update's code that does not import included, the factory's loader
# opens every relay, logs the error, rolls back an update on trial and restarts the board.
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
        from evse import loader
        loader.open_relays(sys.modules.get("evse.app"))
    except Reboot as e:  # a Reset, an update switched or rolled back: relays open, restart
        from evse import loader
        loader.reboot(sys.modules.get("evse.app"), e)
except Exception as e:  # noqa: BLE001 - any failure: relays open, restart
    app = sys.modules.get("evse.app")  # the code that ran, for its relays
    if sys.path[0][:4] == "app/":  # an update: the factory's loader takes over
        sys.path.pop(0)
        for name in [n for n in sys.modules if n[:4] == "evse"]:
            del sys.modules[name]
    from evse import loader
    loader.crashed(app, e)
