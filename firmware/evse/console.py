# The console's one question, so that a host tool can look before it interrupts: Ctrl-C ends
# the app, every relay opens and an open transaction is stopped as PowerLoss at the next boot.
# The host sends "#evse? NONCE" (a comment, should it reach a plain REPL); the app prints one
# line "#evse {json}": identity, connector states, the open transactions (from their flash
# files), the digest of the deploy record host tools write (deploy.json) with the names and
# sizes under lib/evse (deploy_digest) and, on a virtual
# board, its simulated hardware's settings. Stdin is read a byte at a time into one
# preallocated line buffer, so a partial line never blocks the app and no string is built per
# byte; nothing is kept between questions. The task never ends while stdin is open: an answer
# that fails (MemoryError, OSError, a bad file) is one line "#evse {"q": ..., "error": ...}"
# and the next question is served as usual (host tools take it as "state unknown"); any other
# error (the stream, a bug) drops the line being read, is logged, and the reading goes on. Only the
# reading is resident: the answer is built by evse.status, loaded per question and dropped.
import sys

import asyncio
from evse import drop
from evse.log import log

_MAX_LINE = const(48)
_ASK = b"#evse?"


async def serve(cfg, fields, shown, held=None, stream=None, ask=None, out=print):
    # Runs on the unix port and on a UART/USB REPL alike (as micropython-lib's aiorepl does).
    # `held()`: [(connector, idTag)] authorised and waiting for the cable (app.py's).
    # `stream` (anything with `async read(1)`), `ask` and `out` are passed in by tests.
    s = stream or asyncio.StreamReader(sys.stdin)
    ask = ask or _answer
    line = bytearray(_MAX_LINE)
    n = 0  # bytes in `line`; _MAX_LINE + 1: the line is too long and is ignored
    while True:
        try:
            ch = await s.read(1)
            if not ch:
                return  # stdin closed: nobody can ask any more
            c = ord(ch[0]) if isinstance(ch, str) else ch[0]
            if c == 13 or c == 10:
                if 6 <= n <= _MAX_LINE and line[:6] == _ASK:
                    _reply(cfg, fields, shown, held, ask, out, line, n)
                n = 0
            elif n < _MAX_LINE:
                line[n] = c if c < 128 else 63  # "?" for a byte of a non-ASCII character
                n += 1
            else:
                n = _MAX_LINE + 1
        except Exception as e:  # noqa: BLE001 - the line is lost, the console is not
            n = 0
            log("console error", "error", repr(e)[:60])
            await asyncio.sleep(1)  # an error at every byte must not spin


def _reply(cfg, fields, shown, held, ask, out, line, n):
    # Never raises: a failed answer becomes the error line, a failed error line is dropped.
    nonce, err = "", None
    try:
        nonce = bytes(line[6:n]).decode().strip()
        text = ask(cfg, fields, shown, nonce, held)
    except Exception as e:  # whatever failed (heap, file, key), the console keeps serving
        text = None
        err = e
    try:
        out("#evse " + (text if err is None else _failed(nonce, err)))
    except Exception:  # no heap even for the error line: the next question may find some
        pass


def _failed(nonce, e):
    # The error answer, built without json (the heap may be what failed): the nonce keeps only
    # the characters a host sends (hex), the error its type and a short message, no quotes.
    q = "".join(ch for ch in nonce if ch.isalpha() or ch.isdigit())
    try:
        why = "%s: %s" % (type(e).__name__, e)
    except Exception:  # str(e) itself may need heap
        why = type(e).__name__
    why = why.replace("\\", "/").replace('"', "'")[:60]
    return '{"q": "%s", "error": "%s"}' % (q, why)


def _answer(cfg, fields, shown, nonce, held):
    from evse import status  # rare: loaded per question, then dropped (no resident code)
    drop("evse.status")
    return status.answer(cfg, fields, shown, nonce, held)
