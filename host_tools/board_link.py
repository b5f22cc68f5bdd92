"""One connection to a board's raw REPL: a thin wrapper around mpremote's SerialTransport.

The same code talks to an ESP32 on USB and to a virtual board's pseudo-terminal. It never
soft-resets (Ctrl-D would end the unix port): it interrupts whatever runs with Ctrl-C and enters
the raw REPL with ``soft_reset=False``. Paths are relative to the board's working directory,
which is ``/`` on the ESP32 and the flash folder on a virtual board.

Files travel as raw deflate on the board's stdin while a small receiver (``_PUT``) runs in the
raw REPL: 256-byte blocks, each acknowledged with 0x06 once the board has taken it out of its
input buffer (so the ESP32's 260-byte stdin ring buffer never overflows), inflated by
``deflate.DeflateIO`` straight into the temp file. Boards without ``deflate`` (MicroPython
< 1.21) get base64 chunks through raw-REPL commands instead.

    with BoardLink("/dev/pts/3") as link:
        link.eval("1+1")
        link.write_file("config.json", data)          # atomic: temp file, then rename
                                                      # (deflated when the board has `deflate`)
        link.hashes("lib/evse")                       # {"lib/evse/app.mpy": "ab12..."}
        link.reset()                                  # machine.reset() or, unix port, exit
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
import zlib
from collections.abc import Callable

import serial
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

_CHUNK = 2048  # bytes of file data per raw-REPL exec (base64 on the wire; the fallback path)
# Compressed transfer: raw deflate, 1 KB window (the board needs that much RAM to inflate).
_WBITS = 10
# Compressed bytes go to the board's stdin in blocks of this size, one block in flight: the
# board acknowledges a block once it has taken it out of its input buffer (the ESP32's stdin
# ring buffer holds 260 bytes), so the next block never overflows it.
_BLOCK = 256
_ACK = b"\x06"
_DEFLATE_MIN = 1536  # smaller files go as base64 while the receiver is not on the board yet
# The board gives up on a block that has not arrived whole within this time (a host that died
# mid-file), so that it is back at its raw REPL for the next connection instead of taking that
# connection's knocks (Ctrl-C, Ctrl-A) for data. A block takes 22 ms at 115200 baud.
_STALL_MS = 2000
# Per read on the port. mpremote reads a pty blocking: without a timeout a silent board hangs
# the host. Long while transferring (a busy ESP32 may pause in raw-paste flow control),
# short while knocking for the raw REPL, so that a retry comes soon.
_READ_TIMEOUT_S = 5.0
_KNOCK_TIMEOUT_S = 0.2
_RESET_SETTLE_S = 0.1


class BoardUnreachable(Exception):
    """The port cannot be opened or the board does not answer its raw REPL."""


class BoardError(Exception):
    """The board answered with a Python exception."""


# The snippets below run at the raw REPL's global scope, and one may run between two others
# (the watchdog feed between the base64 path's open and its chunks): each keeps its names
# under its own prefix (_hs_ hashes, _mk_ makedirs, _rd_ read, _wb_ base64 write, _kf_ feed,
# _rs_ reset; the receiver's _PS/_pt), so none can delete another's.


# Hashes every file under the given paths (folders walked, files hashed), in one round trip.
_HASHES = """
import os, hashlib, binascii
_hs_b = bytearray(512)
def _hs_f(p, out):
    h = hashlib.sha256()
    mv = memoryview(_hs_b)
    try:
        f = open(p, 'rb')
    except OSError:
        return
    while True:
        n = f.readinto(_hs_b)
        if not n:
            break
        h.update(mv[:n])
    f.close()
    out.append((p, binascii.hexlify(h.digest()).decode()))
def _hs_h(d, out):
    try:
        items = list(os.ilistdir(d))
    except OSError:
        _hs_f(d, out)
        return
    for it in items:
        p = d + '/' + it[0]
        if it[1] & 0x4000:
            out.append((p, None))
            _hs_h(p, out)
        else:
            _hs_f(p, out)
_hs_o = []
for _hs_p in %r:
    _hs_h(_hs_p, _hs_o)
print(repr(_hs_o))
del _hs_o, _hs_h, _hs_f, _hs_b
"""

_MAKEDIRS = """
import os
def _mk_d(p):
    cur = ''
    for part in p.split('/'):
        if not part:
            continue
        cur = cur + '/' + part if cur else part
        try:
            os.mkdir(cur)
        except OSError:
            pass
_mk_d(%r)
del _mk_d
"""

_READ = """
import binascii
try:
    _rd_f = open({path!r}, 'rb')
except OSError:
    print('NONE')
else:
    while True:
        _rd_b = _rd_f.read({chunk})
        if not _rd_b:
            break
        print(binascii.b2a_base64(_rd_b).decode().strip())
    _rd_f.close()
    del _rd_f, _rd_b
    print('END')
"""

# The receiver, sent once per link (its first line tells whether the board has `deflate`):
# _pt(tmp, path, nbytes, sha256_hex) reads `nbytes` of raw deflate from stdin in _BLOCK-byte
# blocks (acknowledging each), inflates it while writing the temp file (never the whole file in
# RAM), checks the sha256 of what it wrote, then renames it over path.
# Ctrl-C is off while the binary stream runs (its bytes are data); the raw REPL turns it on again
# for the next command. A block waits at most _STALL_MS (select.poll on stdin).
_PUT = """
import deflate
import sys, io, os, micropython, hashlib, binascii, select, time
class _PS(io.IOBase):
    def __init__(s, n):
        s.n = n
        s.b = bytearray(@BLOCK@)
        s.m = memoryview(s.b)
        s.o = bytearray(1)
        s.p = s.q = 0
        s.w = select.poll()
        s.w.register(sys.stdin, select.POLLIN)
    def readinto(s, buf):
        if s.p >= s.q:
            if not s.n:
                return 0
            k = min(s.n, @BLOCK@)
            r = sys.stdin.buffer.readinto
            o = s.o
            b = s.b
            w = s.w.poll
            c = time.ticks_ms
            d = time.ticks_diff
            end = time.ticks_add(c(), @STALL@)
            for g in range(k):
                t = d(end, c())
                if t <= 0 or not w(t):
                    s.n = 0
                    raise OSError('stream stalled')
                r(o)
                b[g] = o[0]
            s.n -= k
            s.p = 0
            s.q = k
            sys.stdout.write('\\x06')
        k = min(len(buf), s.q - s.p)
        buf[:k] = s.m[s.p:s.p + k]
        s.p += k
        return k
def _pt(tmp, path, n, want):
    src = _PS(n)
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    f = open(tmp, 'wb')
    micropython.kbd_intr(-1)
    e = None
    try:
        sys.stdout.write('\\x06')
        try:
            d = deflate.DeflateIO(src, deflate.RAW, @WBITS@)
            while True:
                k = d.readinto(b)
                if not k:
                    break
                f.write(m[:k])
                h.update(m[:k])
        except Exception as x:
            e = x
        left = src.n + src.q - src.p
        try:
            while src.n:
                src.p = src.q
                src.readinto(m[:1])
        except Exception as x:
            e = x
    finally:
        f.close()
        micropython.kbd_intr(3)
    got = binascii.hexlify(h.digest()).decode()
    if e or left or got != want:
        os.remove(tmp)
        raise OSError('transfer to %s failed: %r, %d bytes left, sha256 %s' % (path, e, left, got))
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)
""".replace("@BLOCK@", str(_BLOCK)).replace("@WBITS@", str(_WBITS)).replace(
    "@STALL@", str(_STALL_MS))


def _compact(script: str) -> str:
    """Fewer bytes on the wire: one space per indentation level (four in the source)."""
    out = []
    for line in script.splitlines():
        body = line.lstrip(" ")
        if body:
            out.append(" " * ((len(line) - len(body)) // 4) + body)
    return "\n".join(out) + "\n"


_PUT = _compact(_PUT)

# The base64 path: opens the temp file; _wb_w writes a chunk and hashes it.
_OPEN = """
import binascii, hashlib
_wb_f = open({tmp!r}, 'wb')
_wb_h = hashlib.sha256()
def _wb_w(d):
    _wb_f.write(d)
    _wb_h.update(d)
_wb_a = binascii.a2b_base64
"""

# Closes the temp file, checks the sha256 of what was written, renames it over the target (FAT
# cannot rename over a file).
_COMMIT = """
_wb_f.close()
import os
if binascii.hexlify(_wb_h.digest()).decode() != {want!r}:
    os.remove({tmp!r})
    raise OSError('transfer to ' + {path!r} + ' failed: sha256')
try:
    os.rename({tmp!r}, {path!r})
except OSError:
    os.remove({path!r})
    os.rename({tmp!r}, {path!r})
del _wb_f, _wb_h, _wb_w, _wb_a
"""

# The firmware's hardware watchdog keeps running after Ctrl-C (machine.WDT cannot be stopped):
# feed it while the host holds the REPL, but never start one that is not running.
_FEED = """
try:
    import sys
    _kf_w = sys.modules['evse.app'].board.watchdog
    if _kf_w.running:
        _kf_w.feed()
    del _kf_w
except Exception:
    pass
"""

_RESET = """
try:
    import machine
    _rs_r = machine.reset
except (ImportError, AttributeError):
    import sys
    _rs_r = sys.exit
_rs_r()
"""


class BoardLink:
    """The raw REPL of one board; open on construction, close with close() or `with`."""

    def __init__(self, port: str, timeout: float = 10.0) -> None:
        self.port = port
        self._fed = float("-inf")
        self._dirs: set[str] = set()  # folders made on this link
        self._deflate: bool | None = None  # the board has `deflate` (asked on first write)
        try:
            # A read timeout: on a pty mpremote reads blocking, and a board that never answers
            # must end in an error, not a hang.
            self.transport = SerialTransport(port, baudrate=115200, timeout=_READ_TIMEOUT_S)
        except (TransportError, serial.SerialException, OSError) as e:
            raise BoardUnreachable(f"cannot open {port}: {e}") from e
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            # Retried: a board that is just booting misses the first Ctrl-C / Ctrl-A.
            attempt += 1
            left = deadline - time.monotonic()
            try:
                # 0.3 s is ample for an idle board; a busy one gets longer tries.
                self._enter_raw_repl(max(0.3, min(0.3 * 2 ** (attempt - 1), 3.0, left)))
                break
            except (TransportError, serial.SerialException, OSError) as e:
                if time.monotonic() < deadline and not isinstance(e, serial.SerialException):
                    continue
                self.transport.close()
                raise BoardUnreachable(
                    f"{port} opened but no MicroPython raw REPL answered within {timeout:g} s ({e})"
                ) from e

    def _enter_raw_repl(self, timeout: float) -> None:
        # mpremote's enter_raw_repl(soft_reset=False), minus its print() of what it read on a
        # failure (stdout is the user's, and redirecting it is not thread-safe).
        t = self.transport
        t.serial.timeout = _KNOCK_TIMEOUT_S
        try:
            t.serial.write(b"\r\x03")  # Ctrl-C: interrupt the running firmware
            while t.serial.in_waiting:
                t.serial.read(t.serial.in_waiting)
            t.serial.write(b"\r\x01")  # Ctrl-A: raw REPL
            banner = b"raw REPL; CTRL-B to exit\r\n"
            if not t.read_until(1, banner, timeout_overall=timeout).endswith(banner):
                raise TransportError("could not enter raw repl")
        finally:
            t.serial.timeout = _READ_TIMEOUT_S
        t.in_raw_repl = True

    # ----- basics ----------------------------------------------------------------------------
    def exec(self, code: str) -> bytes:
        try:
            return self.transport.exec(code)
        except TransportExecError as e:
            raise BoardError(e.error_output.strip()) from e
        except (TransportError, serial.SerialException, OSError) as e:
            raise BoardUnreachable(f"lost {self.port}: {e}") from e

    def eval(self, expression: str):
        out = self.exec(f"print(repr({expression}))").strip()
        import ast

        return ast.literal_eval(out.decode())

    # ----- files -----------------------------------------------------------------------------
    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        out = self.exec(_READ.format(path=path, chunk=_CHUNK))
        lines = out.decode().split()
        if lines[:1] == ["NONE"]:
            return None
        return b"".join(binascii.a2b_base64(x) for x in lines[:-1])

    def write_file(self, path: str, data: bytes,
                   progress: Callable[[int], None] | None = None,
                   compress: bool | None = None) -> None:
        """Write atomically: into `path.tmp`, then rename over `path` (parents created).

        Deflated on the host and inflated by the board while it writes, when the board has
        MicroPython's `deflate` module (`compress=None`: asked once per link, on the first file of
        at least _DEFLATE_MIN bytes); otherwise, or with `compress=False`, base64 chunks through
        the raw REPL. The board checks the sha256 of what it wrote before the rename either
        way."""
        parent = path.rpartition("/")[0]
        if parent and parent not in self._dirs:
            self.makedirs(parent)
            self._dirs.add(parent)
        if compress is None:
            # The receiver costs ~1.6 KB on the wire once per link: a small file alone (the
            # usual one-module change) is cheaper as base64 until the receiver is there.
            if self._deflate is None and len(data) < _DEFLATE_MIN:
                compress = False
            else:
                compress = self.has_deflate()
        if compress:
            self._write_deflated(path, data, progress)
        else:
            self._write_base64(path, data, progress)

    def has_deflate(self) -> bool:
        """Whether the board can inflate (MicroPython >= 1.21 with `deflate`); asked once."""
        if self._deflate is None:
            try:
                self.exec(_PUT)  # begins with `import deflate`; defines the receiver
                self._deflate = True
            except BoardError:
                self._deflate = False
        return self._deflate

    def _write_base64(self, path: str, data: bytes, progress) -> None:
        tmp = path + ".tmp"
        self.exec(_compact(_OPEN).format(tmp=tmp))
        for i in range(0, len(data), _CHUNK):
            self.keepalive()
            chunk = data[i:i + _CHUNK]
            self.exec(f"_wb_w(_wb_a({base64.b64encode(chunk)!r}))")
            if progress:
                progress(len(chunk))
        self.exec(_compact(_COMMIT).format(tmp=tmp, path=path,
                                           want=hashlib.sha256(data).hexdigest()))

    def _write_deflated(self, path: str, data: bytes, progress) -> None:
        self.keepalive()
        if not self.has_deflate():  # compress=True on a board without deflate
            raise BoardError(f"{self.port} has no deflate module")
        co = zlib.compressobj(9, zlib.DEFLATED, -_WBITS)
        packed = co.compress(data) + co.flush()
        want = hashlib.sha256(data).hexdigest()
        t = self.transport
        try:
            t.exec_raw_no_follow(f"_pt({path + '.tmp'!r},{path!r},{len(packed)},{want!r})")
            done = 0
            # One acknowledgement when the temp file is open, then one per block taken in.
            for i in range(0, len(packed), _BLOCK):
                self._await_ack()
                t.serial.write(packed[i:i + _BLOCK])
                if progress:
                    now = len(data) * min(i + _BLOCK, len(packed)) // len(packed)
                    progress(now - done)
                    done = now
            self._await_ack()
            out, err = t.follow(_READ_TIMEOUT_S)
        except (TransportError, serial.SerialException, OSError) as e:
            raise BoardUnreachable(f"lost {self.port}: {e}") from e
        if err:
            raise BoardError(err.decode(errors="replace").strip())
        if progress and done < len(data):
            progress(len(data) - done)

    def _await_ack(self) -> None:
        t = self.transport
        ack = t.serial.read(1)
        if ack == _ACK:
            return
        # The board stopped before taking the whole stream (an exception while opening, or
        # bytes lost): collect its error, then knock until the raw REPL answers again, so that
        # bytes still in flight cannot be taken for a command.
        try:
            if ack == b"\x04":  # the end of its normal output: the error text follows
                msg = t.read_until(1, b"\x04", timeout=1.0).rstrip(b"\x04")
            else:
                out, err = t.follow(1.0)
                msg = err or out
            msg = msg.decode(errors="replace").strip()
        except TransportError:
            msg = ""
        self._enter_raw_repl(3.0)
        raise BoardError(msg or f"{self.port} did not acknowledge a block (got {ack!r})")

    def keepalive(self, every: float = 2.0) -> None:
        """Feed the firmware's watchdog if it runs (at most once per `every` seconds)."""
        now = time.monotonic()
        if now - self._fed >= every:
            self._fed = now
            self.exec(_FEED)

    def makedirs(self, path: str) -> None:
        self.exec(_MAKEDIRS % path)

    def remove(self, path: str) -> None:
        self.exec(f"import os\ntry:\n os.remove({path!r})\nexcept OSError:\n pass")

    def rmdir(self, path: str) -> None:
        self.exec(f"import os\ntry:\n os.rmdir({path!r})\nexcept OSError:\n pass")

    def hashes(self, *paths: str) -> dict[str, str | None]:
        """sha256 hex of every file under the given folders and of the given files (folders
        themselves map to None; missing paths are left out)."""
        return dict(self.eval_script(_HASHES % (list(paths),)))

    def eval_script(self, script: str):
        import ast

        return ast.literal_eval(self.exec(script).decode().strip() or "[]")

    def file_hash(self, path: str) -> str | None:
        try:
            return self.transport.fs_hashfile(path, "sha256").hex()
        except OSError:
            return None
        except (TransportError, serial.SerialException) as e:
            raise BoardUnreachable(f"lost {self.port}: {e}") from e

    # ----- restart ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Restart the board: machine.reset() on hardware; the virtual board's interpreter
        exits and its supervisor boots it again. The link is closed afterwards."""
        try:
            self.transport.exec_raw_no_follow(_RESET)
        except (TransportError, serial.SerialException, OSError):
            pass  # the board may vanish mid-reply: that is the reset working
        # Let the old interpreter go before anyone talks to the port again: bytes sent while it
        # is still exiting are lost with it (the next connect would then need a second try).
        time.sleep(_RESET_SETTLE_S)
        self.close(leave_repl=False)

    def close(self, leave_repl: bool = True) -> None:
        if self.transport is None:
            return
        try:
            if leave_repl:
                self.transport.exit_raw_repl()
            self.transport.close()
        except (TransportError, serial.SerialException, OSError):
            pass
        self.transport = None

    def __enter__(self) -> BoardLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
