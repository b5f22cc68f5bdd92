"""One connection to a board's raw REPL: a thin wrapper around mpremote's SerialTransport.

The same code talks to an ESP32 on USB and to a virtual board's pseudo-terminal. It never
soft-resets (Ctrl-D would end the unix port): it interrupts whatever runs with Ctrl-C and enters
the raw REPL with ``soft_reset=False``. Paths are relative to the board's working directory,
which is ``/`` on the ESP32 and the flash folder on a virtual board.

Files travel as raw deflate on the board's stdin while a small receiver (``board_scripts.PUT``) runs in the
raw REPL: 256-byte blocks, each acknowledged with 0x06 once the board has taken it out of its
input buffer (so the ESP32's 260-byte stdin ring buffer never overflows), inflated by
``deflate.DeflateIO`` straight into the temp file. Boards without ``deflate`` (MicroPython
< 1.21) get base64 chunks through raw-REPL commands instead.

    with BoardLink("/dev/pts/3") as link:
        link.eval("1+1")
        link.write_file("config.json", data)          # atomic: temp file, then rename
                                                      # (deflated when the board has `deflate`)
        link.hashes("lib/evse")                       # {"lib/evse/app.mpy": "ab12..."}
        link.ls("lib")                                # [("lib/evse", 0, True), ...]
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
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from host_tools.board_scripts import (
    ACK,
    BLOCK,
    CHUNK,
    COMMIT,
    DEFLATE_MIN,
    FEED,
    HASHES,
    LS,
    MAKEDIRS,
    OPEN,
    PUT,
    READ,
    RESET,
    WBITS,
    compact,
)

# Per read on the port. mpremote reads a pty blocking: without a timeout a silent board hangs
# the host. Long while transferring (a busy ESP32 may pause in raw-paste flow control),
# short while knocking for the raw REPL, so that a retry comes soon.
_READ_TIMEOUT_S = 5.0
_KNOCK_TIMEOUT_S = 0.2
_EXEC_TIMEOUT_S = 60.0  # a script's run to its end (exec below)
_RESET_SETTLE_S = 0.1


class BoardUnreachable(Exception):
    """The port cannot be opened or the board does not answer its raw REPL."""


class BoardError(Exception):
    """The board answered with a Python exception."""


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
        # mpremote's exec() waits 10 s for the script's end: listing and hashing the firmware's
        # ~130 files on a busy board (a virtual board on a loaded host, a slow ESP32 flash) can
        # take longer, and a timeout there was taken for a lost board.
        try:
            out, err = self.transport.exec_raw(code, timeout=_EXEC_TIMEOUT_S)
        except (TransportError, serial.SerialException, OSError) as e:
            raise BoardUnreachable(f"lost {self.port}: {e}") from e
        if err:
            raise BoardError(err.decode(errors="replace").strip())
        return out

    def eval(self, expression: str):
        out = self.exec(f"print(repr({expression}))").strip()
        import ast

        return ast.literal_eval(out.decode())

    # ----- files -----------------------------------------------------------------------------
    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        out = self.exec(READ.format(path=path, chunk=CHUNK))
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
        at least DEFLATE_MIN bytes); otherwise, or with `compress=False`, base64 chunks through
        the raw REPL. The board checks the sha256 of what it wrote before the rename either
        way."""
        parent = path.rpartition("/")[0]
        if parent and parent not in self._dirs:
            self.makedirs(parent)
            self._dirs.add(parent)
        if compress is None:
            # The receiver costs ~1.6 KB on the wire once per link: a small file alone (the
            # usual one-module change) is cheaper as base64 until the receiver is there.
            if self._deflate is None and len(data) < DEFLATE_MIN:
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
                self.exec(PUT)  # begins with `import deflate`; defines the receiver
                self._deflate = True
            except BoardError:
                self._deflate = False
        return self._deflate

    def _write_base64(self, path: str, data: bytes, progress) -> None:
        tmp = path + ".tmp"
        self.exec(compact(OPEN).format(tmp=tmp))
        for i in range(0, len(data), CHUNK):
            self.keepalive()
            chunk = data[i:i + CHUNK]
            self.exec(f"_wb_w(_wb_a({base64.b64encode(chunk)!r}))")
            if progress:
                progress(len(chunk))
        self.exec(compact(COMMIT).format(tmp=tmp, path=path,
                                           want=hashlib.sha256(data).hexdigest()))

    def _write_deflated(self, path: str, data: bytes, progress) -> None:
        self.keepalive()
        if not self.has_deflate():  # compress=True on a board without deflate
            raise BoardError(f"{self.port} has no deflate module")
        co = zlib.compressobj(9, zlib.DEFLATED, -WBITS)
        packed = co.compress(data) + co.flush()
        want = hashlib.sha256(data).hexdigest()
        t = self.transport
        try:
            t.exec_raw_no_follow(f"_pt({path + '.tmp'!r},{path!r},{len(packed)},{want!r})")
            done = 0
            # One acknowledgement when the temp file is open, then one per block taken in.
            for i in range(0, len(packed), BLOCK):
                self._await_ack()
                t.serial.write(packed[i:i + BLOCK])
                if progress:
                    now = len(data) * min(i + BLOCK, len(packed)) // len(packed)
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
        if ack == ACK:
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
            self.exec(FEED)

    def makedirs(self, path: str) -> None:
        self.exec(MAKEDIRS % path)

    def remove(self, path: str) -> None:
        self.exec(f"import os\ntry:\n os.remove({path!r})\nexcept OSError:\n pass")

    def rmdir(self, path: str) -> None:
        self.exec(f"import os\ntry:\n os.rmdir({path!r})\nexcept OSError:\n pass")

    def hashes(self, *paths: str) -> dict[str, str | None]:
        """sha256 hex of every file under the given folders and of the given files (folders
        themselves map to None; missing paths are left out)."""
        return dict(self.eval_script(HASHES % (list(paths),)))

    def ls(self, path: str = "") -> list[tuple[str, int, bool]]:
        """(path, size in bytes, is a folder) of everything under `path` (a file: itself),
        sorted; [] when nothing is there."""
        return sorted((p, size, bool(d)) for p, size, d in self.eval_script(LS % path.strip("/")))

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
            self.transport.exec_raw_no_follow(RESET)
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
