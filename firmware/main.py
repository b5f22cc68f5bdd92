# Boot entry: run the charger app. On any unhandled exception every relay opens, the error is
# logged, and the board restarts (the unix port exits so the virtual board boots it again).
import sys

from evse import Reboot
from evse.log import log


def _open_relays():
    try:
        from evse import app
        if app.board is not None:
            app.board.open_all()
    except Exception as e:  # noqa: BLE001 - last line of defence: keep going to the restart
        log("crash", "open_all", repr(e))


def _restart(code):
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


try:
    import asyncio

    from evse import app
    asyncio.run(app.main())
except KeyboardInterrupt:
    _open_relays()  # Ctrl-C from mpremote: stay in the REPL with every relay open
except Reboot as e:  # a Reset: relays open, then a clean restart
    _open_relays()
    log("reboot", "reason", e.args[0] if e.args else "")
    _restart(0)
except Exception as e:  # noqa: BLE001 - any failure must leave the relays open and restart
    _open_relays()
    log("crash", "error", repr(e))
    sys.print_exception(e)
    _restart(1)
