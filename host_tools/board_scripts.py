"""The MicroPython snippets a BoardLink runs in a board's raw REPL (host_tools/board_link.py
sends them), and the transfer constants both sides share.
"""

from __future__ import annotations

CHUNK = 2048  # bytes of file data per raw-REPL exec (base64 on the wire; the fallback path)
# Compressed transfer: raw deflate, 1 KB window (the board needs that much RAM to inflate).
WBITS = 10
# Compressed bytes go to the board's stdin in blocks of this size, one block in flight: the
# board acknowledges a block once it has taken it out of its input buffer (the ESP32's stdin
# ring buffer holds 260 bytes), so the next block never overflows it.
BLOCK = 256
ACK = b"\x06"
DEFLATE_MIN = 1536  # smaller files go as base64 while the receiver is not on the board yet
# The board gives up on a block that has not arrived whole within this time (a host that died
# mid-file), so that it is back at its raw REPL for the next connection instead of taking that
# connection's knocks (Ctrl-C, Ctrl-A) for data. A block takes 22 ms at 115200 baud.
STALL_MS = 2000

# The snippets below run at the raw REPL's global scope, and one may run between two others
# (the watchdog feed between the base64 path's open and its chunks): each keeps its names
# under its own prefix (_hs_ hashes, _mk_ makedirs, _rd_ read, _wb_ base64 write, _kf_ feed,
# _rs_ reset, _ls_ list; the receiver's _PS/_pt), so none can delete another's.


# Hashes every file under the given paths (folders walked, files hashed), in one round trip.
HASHES = """
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

MAKEDIRS = """
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

READ = """
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
# _pt(tmp, path, nbytes, sha256_hex) reads `nbytes` of raw deflate from stdin in BLOCK-byte
# blocks (acknowledging each), inflates it while writing the temp file (never the whole file in
# RAM), checks the sha256 of what it wrote, then renames it over path.
# Ctrl-C is off while the binary stream runs (its bytes are data); the raw REPL turns it on again
# for the next command. A block waits at most STALL_MS (select.poll on stdin).
PUT = """
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
""".replace("@BLOCK@", str(BLOCK)).replace("@WBITS@", str(WBITS)).replace(
    "@STALL@", str(STALL_MS))


def compact(script: str) -> str:
    """Fewer bytes on the wire: one space per indentation level (four in the source)."""
    out = []
    for line in script.splitlines():
        body = line.lstrip(" ")
        if body:
            out.append(" " * ((len(line) - len(body)) // 4) + body)
    return "\n".join(out) + "\n"


PUT = compact(PUT)

# The base64 path: opens the temp file; _wb_w writes a chunk and hashes it.
OPEN = """
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
COMMIT = """
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
FEED = """
try:
    import sys
    _kf_w = sys.modules['evse.app'].board.watchdog
    if _kf_w.running:
        _kf_w.feed()
    del _kf_w
except Exception:
    pass
"""

RESET = """
try:
    import machine
    _rs_r = machine.reset
except (ImportError, AttributeError):
    import sys
    _rs_r = sys.exit
_rs_r()
"""

# Every file and folder under a path with its size: [(path, size, is_dir)].
LS = """
import os
def _ls_w(d, out):
    try:
        items = list(os.ilistdir(d or '.'))
    except OSError:
        try:
            out.append((d, os.stat(d)[6], 0))
        except OSError:
            pass
        return
    for it in items:
        p = (d + '/' if d else '') + it[0]
        if it[1] & 0x4000:
            out.append((p, 0, 1))
            _ls_w(p, out)
        else:
            out.append((p, os.stat(p)[6], 0))
_ls_o = []
_ls_w(%r, _ls_o)
print(repr(_ls_o))
del _ls_w, _ls_o
"""
