# The charger firmware package, deployed to /lib/evse on the board.
import sys


def drop(name):
    # Forget module `name` ("evse.ocpp.operations.Reset"): code loaded from an .mpy lives in the heap, so a
    # rarely used part is imported for one use and dropped after (sys.modules and the package
    # attribute are its only references; the next collection frees it).
    sys.modules.pop(name, None)
    pkg, attr = name.rsplit(".", 1)
    p = sys.modules.get(pkg)
    if p is not None and attr in p.__dict__:
        delattr(p, attr)


class RelayStuck(Exception):
    # A relay that would not open (Port.trip), the error of its driver as the argument: raised
    # on to main.py's crash guard (every relay, a restart), past the handlers that keep the app
    # going through other errors; those re-raise it by this type.
    pass


class Reboot(Exception):
    # Raised out of the app to restart the board (a Reset from the central system): main.py
    # catches it by type. Here, in the package itself, because main.py has it loaded anyway.
    pass
