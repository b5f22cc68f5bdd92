# One console line per event, key=value, so operators can grep and host tools can follow.
# Secrets never reach this: callers pass redacted values.
#
# Once the app has started (keep()), each line also goes to a bounded log on flash, which a
# diagnostics upload sends (evse/ocpp/diagnostics.py): data/log.txt, moved to data/log.1 when
# the next line would take it past _BOUND bytes, so the two never hold more than 2 x _BOUND
# (32 KB) whatever runs for however long. A file line is the console line after the OCPP time
# ("2026-12-05T01:31:21Z [  12.345] relay connector=1 closed=1"), or after "-" while the clock
# is not set (an ESP32 before its first currentTime): what lets an upload keep only the lines of
# startTime..stopTime. The file is opened for each line and closed at once: no handle (nor its
# buffer) stays in the heap between lines, and a power cut loses at most the line being written.
# A write that fails (flash full, no heap for the handle, no data/ folder yet: a board's very
# first boot until the journal makes it) loses that line on flash only.
import time

from evse import ocpp
from evse.files import replace

_LOG = const("data/log.txt")
_OLD = const("data/log.1")
_BOUND = const(16384)  # bytes a file may hold: 16 KB is some days of a charger's events
_LINE = const(200)  # characters a file line keeps of its event
# _BOUND less the longest file line: _LINE characters of up to 4 UTF-8 bytes, and the time
_FULL = const(15552)
_on = [0]  # 0 before keep(): firmware tests and tools stay off the flash


def keep():
    # From now on lines go to flash too (app.main: the flash is the board's).
    _on[0] = 1


def log(event, *pairs):
    # log("relay", "connector", 1, "closed", 1) -> "[  12.345] relay connector=1 closed=1"
    # Never raises: a line that finds no heap (a MemoryError in a task's except clause would end
    # the task) or no flash is lost, and the caller goes on.
    try:
        t = time.ticks_ms()
        parts = ["[%4d.%03d] %s" % (t // 1000 % 100000, t % 1000, event)]
        for i in range(0, len(pairs) - 1, 2):
            parts.append("%s=%s" % (pairs[i], pairs[i + 1]))
        line = " ".join(parts)
        print(line)
        if _on[0]:
            # Its size after the write is where the file stands (tell(): no stat, no count kept
            # in the heap); past _FULL, the next line could pass _BOUND: the file moves to log.1
            # and the next line starts a new one.
            with open(_LOG, "a") as f:
                f.write("%s %s\n" % (ocpp.iso(ocpp.now()) if ocpp.clock_set else "-", line[:_LINE]))
                full = f.tell() > _FULL
            if full:
                replace(_LOG, _OLD)
    except Exception:  # noqa: BLE001 - MemoryError, OSError: the line is lost, nothing else
        pass
