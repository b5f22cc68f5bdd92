"""The application bundle: what a firmware update sends a board ("evse-bundle 1").

    data = build_bundle()                        # today's firmware, as `chargerctl flash` builds it
    data = build_bundle(version="0.2.0")         # ... reporting another firmwareVersion
    version, files = read_bundle(data)           # checked: board path -> bytes

The same files as `chargerctl flash` (host_tools.flash.build_image: main.py as source,
lib/evse/**.mpy), in a format the board writes into an update slot as it arrives, in constant
memory (firmware/evse/bundle.py):

    evse-bundle 1 <version>\\n
    <board path> <size> <sha256 hex>\\n  then exactly <size> raw bytes        (per file)
    end <file count> <sha256 hex of every byte before this line>\\n

`version` replaces the VERSION of the bundle's evse/boot.py (BootNotification's
firmwareVersion) before it is compiled; the firmware folder itself is not changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from host_tools import FIRMWARE_DIR
from host_tools.deploy_errors import BuildFailed

MAGIC = "evse-bundle 1"
MAX_LINE = 200  # the board's limits (firmware/evse/bundle.py): longer lines, more files,
MAX_FILES = 200  # more bytes are refused there
MAX_BYTES = 1 << 20
# the largest bundle file a board can take: its files, a line per file, the first and last line
MAX_BUNDLE = MAX_BYTES + (MAX_FILES + 2) * MAX_LINE
_VERSION = re.compile(r"[!-~]{1,50}")  # printable ASCII, no space: BootNotification's CiString50
_VERSION_LINE = re.compile(r'^VERSION = "[^"]*"$', re.M)


class BundleInvalid(ValueError):
    """A bundle that the board would refuse; the message says why."""


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise BuildFailed(f"version {version!r} is not 1..50 printable characters without spaces",
                          "give a version like 0.2.0 (it becomes BootNotification's firmwareVersion)")
    return version


def safe_path(path: str) -> bool:
    """Relative, no "..", "." or empty part, no space or backslash: a file inside its slot."""
    parts = path.split("/")
    return (bool(path) and not path.startswith("/") and " " not in path and "\\" not in path
            and all(p not in ("", ".", "..") for p in parts) and path.isascii() and path.isprintable())


def firmware_version(firmware_dir: str | os.PathLike = FIRMWARE_DIR) -> str:
    """The VERSION evse/boot.py reports."""
    try:
        text = (Path(firmware_dir) / "evse" / "boot.py").read_text()
    except OSError:
        raise BuildFailed(f"{firmware_dir} has no evse/boot.py",
                          "run from the repository, or pass the firmware folder") from None
    m = _VERSION_LINE.search(text)
    if not m:
        raise BuildFailed(f"{firmware_dir}/evse/boot.py has no VERSION = \"...\" line",
                          "run from the repository, or pass the firmware folder")
    return m.group(0).split('"')[1]


def build_bundle(firmware_dir: str | os.PathLike = FIRMWARE_DIR, version: str | None = None) -> bytes:
    """The bundle of the firmware in `firmware_dir`, its version `version` (default: boot.py's)."""
    from host_tools.flash import build_image

    firmware_dir = Path(firmware_dir)
    current = firmware_version(firmware_dir)
    if version is None or version == current:
        return encode(current, build_image(firmware_dir).files)
    check_version(version)
    with tempfile.TemporaryDirectory(prefix="chargerctl-bundle-") as tmp:
        copy = Path(tmp) / "firmware"
        shutil.copytree(firmware_dir, copy, ignore=shutil.ignore_patterns("__pycache__"))
        boot = copy / "evse" / "boot.py"
        boot.write_text(_VERSION_LINE.sub(f'VERSION = "{version}"', boot.read_text(), count=1))
        return encode(version, build_image(copy).files)


def encode(version: str, files: dict[str, bytes]) -> bytes:
    """The bundle of these files (board path -> bytes), in sorted path order."""
    check_version(version)
    if len(files) > MAX_FILES or sum(len(b) for b in files.values()) > MAX_BYTES:
        raise BuildFailed(f"{len(files)} files, {sum(len(b) for b in files.values())} bytes: "
                          f"more than a board takes ({MAX_FILES} files, {MAX_BYTES} bytes)")
    out = bytearray(f"{MAGIC} {version}\n".encode())
    for path in sorted(files):
        if not safe_path(path):
            raise BuildFailed(f"board path {path!r} is not a plain relative path")
        data = files[path]
        out += f"{path} {len(data)} {hashlib.sha256(data).hexdigest()}\n".encode()
        out += data
    out += f"end {len(files)} {hashlib.sha256(out).hexdigest()}\n".encode()
    return bytes(out)


def read_bundle(data: bytes) -> tuple[str, dict[str, bytes]]:
    """-> (version, board path -> bytes), every rule the board checks checked; BundleInvalid."""
    check = BundleCheck(keep=True)
    check.feed(data)
    version = check.finish()
    assert check.kept is not None
    return version, check.kept


_HEADER, _LINES, _DATA, _DONE = range(4)


class BundleCheck:
    """The board's check of a bundle as it arrives (firmware/evse/bundle.py, Stager), without
    the slot: feed(chunk) any number of times, then finish() -> the version. BundleInvalid
    "<the board's reason>: <what and where>" at the first fault, where the board would refuse
    it; what the board takes passes. The one checker of the host side (read_bundle, the
    backend's upload, `chargerctl charger update`): a bundle is never held whole unless `keep`
    (then .kept: board path -> bytes). Not checkable here: the board's free flash."""

    def __init__(self, keep: bool = False) -> None:
        self.version: str | None = None
        self.files = 0  # file lines so far
        self.bytes = 0  # the sizes they declare
        self.kept: dict[str, bytes] | None = {} if keep else None
        self._line = bytearray()  # a line being read, at most MAX_LINE bytes with its newline
        self._state = _HEADER
        self._total = hashlib.sha256()  # every byte before the end line
        self._sha = hashlib.sha256()  # the file being read, what it must come to, bytes left
        self._want = ""
        self._left = 0
        self._path = ""
        self._body = bytearray()

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        data = bytes(chunk)
        i, end = 0, len(data)
        while i < end:
            if self._state == _DATA:
                part = data[i:i + self._left]
                self._sha.update(part)
                self._total.update(part)
                if self.kept is not None:
                    self._body += part
                i += len(part)
                self._left -= len(part)
                if not self._left:
                    self._file_done()
            elif self._state == _DONE:
                raise BundleInvalid("bytes after the end: the bundle goes on after its end line")
            else:
                room = MAX_LINE - len(self._line)
                nl = data.find(b"\n", i, i + room)
                if nl < 0:
                    if end - i > room:  # the board's line buffer is full and a byte more came
                        raise BundleInvalid(f"line too long: a line longer than {MAX_LINE} "
                                            f"bytes after {self.files} file(s)")
                    self._line += data[i:end]
                    return
                line = bytes(self._line + data[i:nl + 1])
                self._line.clear()
                i = nl + 1
                self._read_line(line)

    def finish(self) -> str:
        if self._state != _DONE:
            raise BundleInvalid("truncated: the file is empty" if self._state == _HEADER and not
                                self._line else "truncated: it ends before its end line")
        assert self.version is not None
        return self.version

    def _read_line(self, raw: bytes) -> None:
        try:
            words = raw[:-1].decode("utf-8").split(" ")
        except UnicodeDecodeError:
            raise BundleInvalid("bad line: a header line that is not UTF-8 text") from None
        if self._state == _HEADER:
            if len(words) != 3 or words[:2] != ["evse-bundle", "1"] or \
                    not 0 < len(words[2]) <= 50:
                raise BundleInvalid("not an evse-bundle 1: the first line must be 'evse-bundle "
                                    "1 <version>', the version 1..50 characters without spaces "
                                    "(make one with `chargerctl bundle`)")
            self.version = words[2]
            self._state = _LINES
        elif words[0] == "end":
            if len(words) != 3 or words[1] != str(self.files):
                raise BundleInvalid(f"bad file count: the end line says {' '.join(words[1:2])!r}"
                                    f", the bundle has {self.files} file(s)")
            if words[2] != self._total.hexdigest():
                raise BundleInvalid("bad bundle sha256: the whole bundle's sha256 is not the "
                                    "end line's")
            self._state = _DONE
            return  # the end line is not part of what it hashes
        else:
            self._file(words)
        self._total.update(raw)

    def _file(self, words: list[str]) -> None:
        if len(words) != 3 or len(words[2]) != 64:
            raise BundleInvalid(f"bad file line: {' '.join(words)[:60]!r} is neither "
                                "'<path> <size> <sha256>' nor the end line")
        path, size = words[0], words[1]
        if not (size.isascii() and size.isdigit()) or len(size) > 7:  # the board's isdigit is ASCII
            raise BundleInvalid(f"bad size: {size[:20]!r} for {path[:60]!r}")
        if not _board_path(path):
            raise BundleInvalid(f"bad path: {path[:60]!r} is not a relative path inside the "
                                "update slot")
        self.files += 1
        self.bytes += int(size)
        if self.files > MAX_FILES:
            raise BundleInvalid(f"too many files: more than {MAX_FILES}")
        if self.bytes > MAX_BYTES:
            raise BundleInvalid(f"too large: more than {MAX_BYTES} bytes of files")
        self._path, self._want, self._left = path, words[2], int(size)
        self._sha = hashlib.sha256()
        self._body = bytearray()
        self._state = _DATA
        if not self._left:
            self._file_done()

    def _file_done(self) -> None:
        if self._sha.hexdigest() != self._want:
            raise BundleInvalid(f"bad file sha256: {self._path}'s bytes are not its line's sha256")
        if self.kept is not None:
            self.kept[self._path] = bytes(self._body)
        self._state = _LINES


def _board_path(path: str) -> bool:
    """The board's _safe(): relative, no "..", empty or "." part, no backslash (no space: the
    line's words are split on it)."""
    return bool(path) and not path.startswith("/") and "\\" not in path and \
        all(p not in ("", ".", "..") for p in path.split("/"))
