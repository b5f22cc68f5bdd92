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
    pos = 0

    def line() -> list[str]:
        nonlocal pos
        end = data.find(b"\n", pos, pos + MAX_LINE)
        if end < 0:
            raise BundleInvalid("truncated" if len(data) - pos < MAX_LINE else "line too long")
        try:
            text = data[pos:end].decode("ascii")
        except UnicodeDecodeError:
            raise BundleInvalid("bad line") from None
        pos = end + 1
        return text.split(" ")

    head = line()
    if len(head) != 3 or " ".join(head[:2]) != MAGIC or not _VERSION.fullmatch(head[2]):
        raise BundleInvalid("not an evse-bundle 1")
    files: dict[str, bytes] = {}
    while True:
        start = pos
        words = line()
        if words[0] == "end":
            if len(words) != 3 or words[1] != str(len(files)):
                raise BundleInvalid("bad file count")
            if words[2] != hashlib.sha256(data[:start]).hexdigest():
                raise BundleInvalid("bad bundle sha256")
            if pos != len(data):
                raise BundleInvalid("bytes after the end")
            return head[2], files
        if len(words) != 3 or len(words[2]) != 64:
            raise BundleInvalid("bad file line")
        path, size, sha = words
        if not size.isdigit() or len(size) > 7:
            raise BundleInvalid("bad size")
        if not safe_path(path):
            raise BundleInvalid("bad path")
        body = data[pos:pos + int(size)]
        if len(body) != int(size):
            raise BundleInvalid("truncated")
        if hashlib.sha256(body).hexdigest() != sha:
            raise BundleInvalid("bad file sha256")
        files[path] = body
        pos += int(size)
        if len(files) > MAX_FILES:
            raise BundleInvalid("too many files")
        if sum(len(b) for b in files.values()) > MAX_BYTES:
            raise BundleInvalid("too large")
