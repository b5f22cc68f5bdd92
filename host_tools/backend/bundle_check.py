"""The check of an uploaded application bundle ("evse-bundle 1"), fed in chunks as it arrives.

    line 1     `evse-bundle 1 <version>\\n`
    per file   `<board path> <size> <sha256 hex>\\n` then exactly <size> raw bytes
    last line  `end <file count> <sha256 hex of every byte before this line>\\n`

The backend only stores and serves bundles; the charger checks each one again before it
installs it (firmware/evse/bundle.py). Checking here as well means an operator learns at upload
time, with the reason, that a file is not a bundle or is damaged, instead of from a charger's
InstallationFailed minutes later. The check streams: an upload is never held whole in memory
(the request body arrives in chunks and goes to a temporary file beside).
"""

from __future__ import annotations

import hashlib
import re

MAGIC = b"evse-bundle 1 "
# BootNotification's firmwareVersion is a CiString50; `chargerctl bundle` takes printable
# ASCII without spaces (host_tools/bundle.py check_version), and so do we
VERSION = re.compile(r"^[!-~]{1,50}$")
_PATH = re.compile(r"^[0-9A-Za-z_][0-9A-Za-z_./-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_LINE = 200  # the firmware refuses a longer header line; so do we
MAX_FILES = 200


class BundleError(ValueError):
    """Not a bundle, or a damaged one: the sentence says what and where."""


class BundleCheck:
    """feed(chunk) any number of times, then finish() -> version; BundleError on any fault."""

    def __init__(self) -> None:
        self.version: str | None = None
        self.files = 0
        self.size = 0
        self._buf = bytearray()
        self._state = "head"  # head | line | body | done
        self._whole = hashlib.sha256()  # every byte before the end line
        self._file = hashlib.sha256()
        self._path = ""
        self._left = 0
        self._digest = ""

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._buf += chunk
        while self._buf:
            if self._state == "done":
                raise BundleError("bytes after the end line: the bundle is damaged")
            if self._state == "body":
                take = memoryview(self._buf)[:self._left]
                self._file.update(take)
                self._whole.update(take)
                n = len(take)
                take.release()
                del self._buf[:n]
                self._left -= n
                if self._left:
                    return
                if self._file.hexdigest() != self._digest:
                    raise BundleError(f"the sha256 of {self._path} does not match its header: "
                                      "the bundle is damaged")
                self._state = "line"
                continue
            end = self._buf.find(b"\n", 0, MAX_LINE + 1)
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    raise BundleError(self._where() + f"a line longer than {MAX_LINE} bytes")
                return
            line = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            self._line(line)

    def _where(self) -> str:
        return "not an evse-bundle 1 file: " if self._state == "head" else \
            f"after {self.files} file(s): "

    def _line(self, line: bytes) -> None:
        try:
            text = line[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise BundleError(self._where() + "a header line that is not ASCII text") from None
        if self._state == "head":
            if not line.startswith(MAGIC):
                raise BundleError("not an evse-bundle 1 file: its first line must be "
                                  "'evse-bundle 1 <version>' (make one with `chargerctl bundle`)")
            version = text[len(MAGIC):]
            if not VERSION.match(version):
                raise BundleError(f"the version {version!r} is not 1..50 printable "
                                  "characters without spaces")
            self.version = version
            self._whole.update(line)
            self._state = "line"
            return
        parts = text.split(" ")
        if parts[0] == "end" and len(parts) == 3:
            if parts[1] != str(self.files):
                raise BundleError(f"the end line counts {parts[1]} file(s), the bundle has "
                                  f"{self.files}: it is damaged")
            if parts[2] != self._whole.hexdigest():
                raise BundleError("the sha256 of the whole bundle does not match its end line: "
                                  "it is damaged")
            self._state = "done"
            return
        if len(parts) != 3 or not parts[1].isdigit() or not _HEX64.match(parts[2]):
            raise BundleError(self._where() + f"{text[:60]!r} is neither a file header "
                              "('<path> <size> <sha256>') nor the end line: the bundle is "
                              "truncated or damaged")
        path = parts[0]
        if not _PATH.match(path) or ".." in path.split("/") or "//" in path:
            raise BundleError(f"the file path {path!r} is not a relative board path")
        self.files += 1
        if self.files > MAX_FILES:
            raise BundleError(f"more than {MAX_FILES} files")
        self._path, self._left, self._digest = path, int(parts[1]), parts[2]
        self._file = hashlib.sha256()
        self._whole.update(line)
        self._state = "body" if self._left else "line"
        if not self._left and self._file.hexdigest() != self._digest:
            raise BundleError(f"the sha256 of {path} does not match its header: the bundle is "
                              "damaged")

    def finish(self) -> str:
        if self._state != "done":
            if self._state == "head" and self.size == 0:
                raise BundleError("the file is empty")
            if self._state == "head":
                raise BundleError("not an evse-bundle 1 file: no complete first line")
            raise BundleError("the bundle ends before its end line: it is truncated")
        assert self.version is not None
        return self.version
