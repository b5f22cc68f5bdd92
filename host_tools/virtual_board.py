"""A virtual board: the MicroPython unix port on a pseudo-terminal, driven like a USB board.

The unix port speaks the same raw REPL as an ESP32, so `mpremote` (and `chargerctl flash`,
`config`, `logs`) talk to it through a serial device path exactly as they would to
`/dev/ttyUSB0`. What makes it a *board*:

- its flash filesystem is a folder (``flash_dir``): the interpreter runs there as
  ``micropython -i main.py`` with ``MICROPYPATH=lib:.frozen``, so ``/main.py``,
  ``/lib/evse/*.mpy``, ``/board.json`` and ``/config.json`` live where they live on the ESP32;
- when the interpreter exits (``machine.reset``-style ``sys.exit()``, a crash, a SIGKILL), the
  board boots again from the same folder, like after a power cycle (at a bounded rate);
- a blank folder is a board with MicroPython and nothing else: ``main.py`` is missing, ``-i``
  leaves the interpreter at the REPL, and the board can be flashed;
- the simulated hardware (F2's ``unix-sim`` board) listens on ``127.0.0.1:<control_port>``,
  passed as ``EVSE_SIM_PORT`` (``config["sim"]["control_port"]`` wins when present);
- everything the interpreter prints is appended to ``console_log`` (``flash_dir/console.log``)
  so tests and operators can read it, except what host tools exchange in the raw REPL (file
  contents, config.json and its secrets): that shows as one "not logged" line.

Wiring (two pseudo-terminal pairs, because a process and mpremote on the same slave hang):

    micropython  <->  slave A | master A  <- pump thread ->  master B | slave B  <->  mpremote
                      (raw + ISIG, the child's                         (raw; its path
                       controlling terminal, so                          is ``port``)
                       Ctrl-C becomes SIGINT)

A reset from inside the firmware: ``machine.reset`` does not exist on the unix port, and
``sys.exit()`` in ``main.py`` only drops to the REPL under ``-i`` (as ``main.py`` ending does on
an ESP32). Firmware that must reboot ends the process instead, e.g.
``os.system("kill -TERM $PPID")``; the board then boots again. From the raw REPL (host tools),
``sys.exit()`` does end the process: that is how ``BoardLink.reset()`` resets a virtual board.

Never soft-reset it: Ctrl-D at the friendly REPL ends the unix process (the board then boots
again, which is survivable but not what a soft reset means). Use
``enter_raw_repl(soft_reset=False)`` / ``mpremote connect PORT resume ...``.

Python API (pytest fixtures, ``make demo``)::

    from host_tools.virtual_board import VirtualBoard

    with VirtualBoard(tmp_path / "flash", config={"charge_point_id": "CP-1", ...}) as vb:
        vb.port            # "/dev/pts/N": give it to mpremote / host_tools.flash.deploy
        vb.control_port    # int: the sim control server (host_tools.sim_client)
        vb.console_log     # Path of the console log
        vb.boots           # how many times the interpreter was started
        vb.wait_for_console("ready", timeout=10)   # wait until text appears (since a mark)
        vb.kill()          # SIGKILL the interpreter (power loss); it boots again by itself
        vb.wait_boot(n)    # wait until boot number n has started
    # leaving the block (or vb.stop()) ends the interpreter and closes the terminals

``VirtualBoard(flash_dir, config=None, control_port=None, heapsize=None, echo=False)``:
``config`` (dict or path of a JSON file) is written as ``config.json`` only when the folder has
none (flashing writes it too); ``heapsize`` like ``"64k"`` runs with ``-X heapsize`` to hold
the firmware to the ESP32 budget; ``echo=True`` also copies the console to stdout;
``baudrate=115200`` paces the link like a USB-serial UART (for measuring transfers; default:
as fast as the pty goes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Any

from host_tools import running_boards
from host_tools.children import die_with_parent
from host_tools.micropython import micropython_binary

CONSOLE_LOG = "console.log"
_LOG_MAX_BYTES = 4 * 1024 * 1024  # rotated to console.log.1 beyond this
_MIN_BOOT_INTERVAL_S = 0.2  # a crash loop never restarts faster than this
_MAX_BACKOFF_S = 5.0
_BOOT_HOLD_S = 0.15  # host bytes wait this long after a boot starts (see _spawn)
_MAX_HELD = 64 * 1024


_RAW_START = b"raw REPL; CTRL-B to exit\r\n"
_RAW_END = b'Type "help()" for more information.\r\n'  # the banner after Ctrl-B


def _partial_suffix(buf: bytes, marker: bytes) -> int:
    """Length of the longest end of `buf` that begins `marker` (held for the next read)."""
    for k in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:k]):
            return k
    return 0


def free_tcp_port() -> int:
    """A currently free loopback TCP port (for the sim control server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _raw(fd: int, isig: bool = False) -> None:
    tty.setraw(fd)
    if isig:
        attrs = termios.tcgetattr(fd)
        attrs[3] |= termios.ISIG  # Ctrl-C from mpremote must reach the interpreter as SIGINT
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _load_config(config: dict | str | os.PathLike | None) -> dict | None:
    if config is None or isinstance(config, dict):
        return config
    return json.loads(Path(config).read_text())


class VirtualBoard:
    """The unix port on a pseudo-terminal with a folder as its flash; see the module doc."""

    def __init__(
        self,
        flash_dir: str | os.PathLike,
        config: dict | str | os.PathLike | None = None,
        control_port: int | None = None,
        heapsize: str | None = None,
        echo: bool = False,
        micropython: str | None = None,
        baudrate: int | None = None,
    ) -> None:
        self.flash_dir = Path(flash_dir).resolve()
        self._config = _load_config(config)
        self._explicit_control_port = control_port
        self.heapsize = heapsize
        self.echo = echo
        self.micropython = micropython or micropython_binary()
        self.baudrate = baudrate
        self.console_log = self.flash_dir / CONSOLE_LOG
        self.control_port: int = 0
        self.port: str = ""
        self.boots = 0
        self._proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._boot_cv = threading.Condition(self._lock)
        self._fds: list[int] = []
        self._threads: list[threading.Thread] = []
        self._log = None
        self._hold_until = 0.0
        self._killed = False
        self._in_raw, self._carry = False, b""
        self._spawn_error: Exception | None = None
        self._log_lock = threading.Lock()

    # ----- lifecycle -------------------------------------------------------------------------
    def start(self) -> VirtualBoard:
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        cfg_path = self.flash_dir / "config.json"
        if self._config is not None and not cfg_path.exists():
            cfg_path.write_text(json.dumps(self._config, indent=2) + "\n")
        self.control_port = self._choose_control_port(cfg_path)

        self._m_a, self._s_a = pty.openpty()  # interpreter side
        self._m_b, self._s_b = pty.openpty()  # client side (mpremote)
        self._fds = [self._m_a, self._s_a, self._m_b, self._s_b]
        _raw(self._s_a, isig=True)
        _raw(self._s_b)
        # Nobody listening on the client side must not stall the board: drop, like a UART.
        for fd in (self._m_a, self._m_b):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.port = os.ttyname(self._s_b)
        self._log = open(self.console_log, "ab", buffering=0)  # noqa: SIM115 - lives with the board

        for target in (self._pump, self._supervise):
            t = threading.Thread(target=target, name=f"vb-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        try:
            self.wait_boot(1)
        except TimeoutError:
            self.stop()
            raise
        if self._spawn_error is not None:
            self.stop()
            raise self._spawn_error
        running_boards.register(self.port, console_log=str(self.console_log),
                                control_port=self.control_port, flash_dir=str(self.flash_dir))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """End the interpreter for good and release the terminals."""
        self._stopping.set()
        if self.port:
            running_boards.unregister(self.port)
        # The supervisor goes first, so that no new boot can start behind our back.
        for t in self._threads:
            t.join(timeout)
        self._threads = []
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        with self._log_lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> None:
        """SIGKILL the interpreter (a power loss); the board boots again from its flash."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._killed = True
            proc.kill()

    @property
    def pid(self) -> int | None:
        """Process id of the running interpreter (changes on every boot)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def wait_boot(self, n: int, timeout: float = 10.0) -> None:
        """Block until boot number `n` (1 = first start) has begun."""
        with self._boot_cv:
            if not self._boot_cv.wait_for(lambda: self.boots >= n, timeout):
                raise TimeoutError(f"virtual board did not boot a {n}. time within {timeout} s")

    def console_text(self) -> str:
        """Everything in the console log so far (decoded leniently)."""
        try:
            return self.console_log.read_bytes().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def console_mark(self) -> int:
        """A position in the console log; pass it to wait_for_console to look only after it."""
        try:
            return self.console_log.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_for_console(self, text: str, timeout: float = 10.0, since: int = 0) -> str:
        """Wait until `text` appears in the console log after position `since`; return the tail."""
        deadline = time.monotonic() + timeout
        needle = text.encode()
        while True:
            try:
                with open(self.console_log, "rb") as f:
                    f.seek(since)
                    tail = f.read()
            except FileNotFoundError:
                tail = b""
            if needle in tail:
                return tail.decode(errors="replace")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{text!r} did not appear on the virtual board console within {timeout} s; "
                    f"last output: {tail[-500:].decode(errors='replace')!r}"
                )
            time.sleep(0.02)

    def __enter__(self) -> VirtualBoard:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----- internals -------------------------------------------------------------------------
    def _choose_control_port(self, cfg_path: Path) -> int:
        if self._explicit_control_port:
            return self._explicit_control_port
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            port = json.loads(cfg_path.read_text()).get("sim", {}).get("control_port")
            if port:
                return int(port)
        return free_tcp_port()

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["MICROPYPATH"] = "lib:.frozen"
        env["EVSE_SIM_PORT"] = str(self.control_port)
        argv = [self.micropython]
        if self.heapsize:
            argv += ["-X", f"heapsize={self.heapsize}"]
        argv += ["-i", "main.py"]
        slave = self._s_a
        # Every boot starts from a known terminal: an interpreter killed at the REPL leaves the
        # slave in its own raw mode (ISIG off), and then Ctrl-C would never reach the next one.
        _raw(slave, isig=True)

        def become_board() -> None:
            # New session whose controlling terminal is the slave: Ctrl-C -> SIGINT.
            die_with_parent(new_session=True)
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # Until MicroPython installs its own handler, a Ctrl-C (mpremote connecting while
            # the board boots) would kill it with the default action: ignore it until then.
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        # Like a UART after reset: nothing typed before the boot reaches the new interpreter,
        # and what the host sends in its first moments waits until MicroPython handles Ctrl-C
        # (a Ctrl-C before that would be lost and the host's raw-REPL request misread).
        termios.tcflush(slave, termios.TCIFLUSH)
        self._hold_until = time.monotonic() + _BOOT_HOLD_S
        self._in_raw, self._carry = False, b""
        with self._boot_cv:
            if self._stopping.is_set():
                return
            self.boots += 1
            self._write_log(f"\r\n--- virtual board: boot {self.boots} ---\r\n".encode())
            self._proc = subprocess.Popen(
                argv, cwd=self.flash_dir, env=env, stdin=slave, stdout=slave, stderr=slave,
                preexec_fn=become_board, close_fds=True,
            )
            self._boot_cv.notify_all()

    def _supervise(self) -> None:
        # Every interpreter is started from this thread: with PR_SET_PDEATHSIG it dies with the
        # thread that started it, so a host process that is killed leaves no board running.
        try:
            self._spawn()
        except (OSError, subprocess.SubprocessError) as e:
            self._spawn_error = e
            with self._boot_cv:
                self.boots += 1  # let start() return and raise
                self._boot_cv.notify_all()
            return
        backoff = _MIN_BOOT_INTERVAL_S
        while not self._stopping.is_set():
            proc = self._proc
            started = time.monotonic()
            while proc.poll() is None and not self._stopping.is_set():
                time.sleep(0.02)
            if self._stopping.is_set():
                return
            self._hold_until = float("inf")  # no interpreter: keep host bytes for the next one
            ran = time.monotonic() - started
            rc = proc.returncode
            self._write_log(f"\r\n--- virtual board: interpreter ended ({rc}) ---\r\n".encode())
            # A reset asked for (sys.exit() from the raw REPL exits 0, or kill()) boots at once;
            # a crash loop (non-zero exits in quick succession) slows down, up to _MAX_BACKOFF_S.
            deliberate = rc == 0 or self._killed
            self._killed = False
            if deliberate or ran > 10:
                backoff = _MIN_BOOT_INTERVAL_S
                delay = _MIN_BOOT_INTERVAL_S / 4
            else:
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                delay = backoff
            if self._stopping.wait(delay):
                return
            self._spawn()

    def _console(self, data: bytes) -> None:
        """Interpreter output -> log/echo, without what a host tool exchanges in the raw REPL
        (file contents, config.json with its secrets): only the friendly console is kept."""
        buf = self._carry + data
        out = bytearray()
        while buf:
            marker = _RAW_END if self._in_raw else _RAW_START
            i = buf.find(marker)
            if i < 0:
                keep = _partial_suffix(buf, marker)
                if not self._in_raw:
                    out += buf[:len(buf) - keep]
                buf = buf[len(buf) - keep:] if keep else b""
                break
            if not self._in_raw:
                out += buf[:i] + b"[a host tool holds the raw REPL: not logged]\r\n"
            buf = buf[i + len(marker):]
            self._in_raw = not self._in_raw
        self._carry = bytes(buf)
        if out:
            self._write_log(bytes(out))

    def _write_log(self, data: bytes) -> None:
        with self._log_lock:
            self._write_log_locked(data)

    def _write_log_locked(self, data: bytes) -> None:
        log = self._log
        if log is None:
            return
        try:
            log.write(data)
            if log.tell() > _LOG_MAX_BYTES:
                log.close()
                os.replace(self.console_log, self.console_log.with_suffix(".log.1"))
                self._log = open(self.console_log, "ab", buffering=0)  # noqa: SIM115
        except (OSError, ValueError):
            pass
        if self.echo:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

    def _pump(self) -> None:
        m_a, m_b = self._m_a, self._m_b
        held = bytearray()  # host -> board bytes waiting for the interpreter to be ready
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([m_a, m_b], [], [], 0.02 if held else 0.1)
            except (OSError, ValueError):
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    # EIO: no process holds the slave right now (between boots); keep going.
                    time.sleep(0.01)
                    continue
                if fd == m_a:
                    self._console(data)
                    with contextlib.suppress(BlockingIOError, OSError):
                        os.write(m_b, data)
                    self._pace(len(data))
                elif len(held) < _MAX_HELD:
                    held += data
            if held and time.monotonic() >= self._hold_until and self._alive():
                self._write_all(m_a, bytes(held))
                self._pace(len(held))
                held.clear()

    def _alive(self) -> bool:
        # An interpreter that has just exited (a reset) must not swallow the host's next bytes
        # in the moments before the supervisor notices: they wait for the next boot.
        proc = self._proc
        return proc is not None and proc.poll() is None

    def _pace(self, nbytes: int) -> None:
        # Optional UART speed (8N1: 10 bits a byte), to measure transfers as over USB serial.
        if self.baudrate:
            time.sleep(nbytes * 10 / self.baudrate)

    def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and time.monotonic() < deadline:
            try:
                n = os.write(fd, view)
                view = view[n:]
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:
                return


def main_loop(board: VirtualBoard) -> None:
    """Run until Ctrl-C / SIGTERM (used by `chargerctl virtual-board`)."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
