# An application bundle ("evse-bundle 1", built by host_tools/bundle.py) written into an update
# slot as it arrives, in chunks of any size: the board never holds the bundle whole. Loaded per
# use by the updater, dropped after.
#
#   evse-bundle 1 <version>\n
#   <board path> <size> <sha256 hex>\n   then exactly <size> raw bytes     (per file)
#   end <file count> <sha256 hex of every byte before this line>\n
#
# Board paths are as `chargerctl flash` writes them ("main.py", "lib/evse/app.mpy"); in the slot
# `lib/` is its root ("app/b/evse/app.mpy"). Every file is hashed as it is written and checked
# at its last byte; the whole stream at the trailer. Any fault raises BundleError, and abort()
# then removes what was written: the slot is the inactive one, so nothing that runs is touched.
import hashlib
import os
from binascii import hexlify

from evse.install import clear, free_space

_LINE = const(200)  # longest header line
_FILES = const(200)  # most files in a bundle
_TOTAL = const(1048576)  # most bytes of files in all (today's bundle: ~260 KB)
_SPARE = const(16384)  # free flash left after the bundle (boot.json, the journal, settings)
_NL = const(10)

_HEADER = const(0)  # reading the first line
_LINES = const(1)  # reading a file's line or the trailer
_DATA = const(2)  # reading a file's bytes
_DONE = const(3)  # trailer checked: only finish() may follow


class BundleError(ValueError):
    # A bundle refused; the argument is a short reason (InstallationFailed's log line).
    pass


class Stager:
    def __init__(self, slot_dir):
        self.slot = slot_dir
        self.line = bytearray(_LINE)  # the one buffer: a header line being read
        self.n = 0  # bytes of it so far
        self.state = _HEADER
        self.total = hashlib.sha256()  # every byte before the trailer
        self.version = None
        self.files = 0
        self.bytes = 0
        self.f = None  # the file being written
        self.sha = None  # its hash, and what it must come to
        self.want = None
        self.left = 0  # its bytes still to come
        self.made = ""  # the last folder made, so a folder's files make it once
        try:
            self.free = free_space() - _SPARE
        except (AttributeError, OSError):  # no statvfs on this port: the writes will tell
            self.free = _TOTAL

    def feed(self, buf):
        """Take the next chunk (bytes, bytearray or memoryview, any length)."""
        mv = memoryview(buf)
        i, end = 0, len(mv)
        try:
            while i < end:
                if self.state == _DATA:
                    k = min(self.left, end - i)
                    part = mv[i:i + k]
                    self.f.write(part)
                    self.sha.update(part)
                    self.total.update(part)
                    i += k
                    self.left -= k
                    if not self.left:
                        self._file_done()
                elif self.state == _DONE:
                    raise BundleError("bytes after the end")
                else:
                    c = mv[i]
                    i += 1
                    if self.n == _LINE:
                        raise BundleError("line too long")
                    self.line[self.n] = c
                    self.n += 1
                    if c == _NL:
                        self._line()
        except BundleError:
            self._close()
            raise
        except OSError as e:  # the flash is full or failing
            self._close()
            raise BundleError("flash " + str(e)[:30]) from None

    def finish(self):
        """-> the bundle's version, once the trailer and every file checked out."""
        if self.state != _DONE:
            self._close()
            raise BundleError("truncated")
        return self.version

    def abort(self):
        """Remove the slot's partial files (after a BundleError, or when the download fails)."""
        self._close()
        clear(self.slot)

    def _close(self):
        if self.f is not None:
            self.f.close()
            self.f = None

    def _line(self):
        raw = self.line[:self.n]
        self.n = 0
        try:
            words = str(raw[:-1], "utf-8").split(" ")
        except UnicodeError:
            raise BundleError("bad line") from None
        if self.state == _HEADER:
            if len(words) != 3 or words[0] != "evse-bundle" or words[1] != "1" or not 0 < len(words[2]) <= 50:
                raise BundleError("not an evse-bundle 1")
            self.version = words[2]
            self.state = _LINES
        elif words[0] == "end":
            if len(words) != 3 or words[1] != str(self.files):
                raise BundleError("bad file count")
            if words[2] != str(hexlify(self.total.digest()), "ascii"):
                raise BundleError("bad bundle sha256")
            self.state = _DONE
            return  # the trailer is not part of what it hashes
        else:
            self._file(words)
        self.total.update(raw)

    def _file(self, words):
        if len(words) != 3 or len(words[2]) != 64:
            raise BundleError("bad file line")
        path = words[0]
        if not words[1].isdigit() or len(words[1]) > 7:
            raise BundleError("bad size")
        if not _safe(path):
            raise BundleError("bad path")
        size = int(words[1])
        self.files += 1
        self.bytes += size
        if self.files > _FILES:
            raise BundleError("too many files")
        if self.bytes > _TOTAL:
            raise BundleError("too large")
        if self.bytes > self.free:
            raise BundleError("no space")
        if path.startswith("lib/"):
            path = path[4:]
        dest = self.slot + "/" + path
        self._folders(dest.rpartition("/")[0])
        self.f = open(dest, "wb")
        self.sha = hashlib.sha256()
        self.want = words[2]
        self.left = size
        self.state = _DATA
        if not size:
            self._file_done()

    def _file_done(self):
        self._close()
        if str(hexlify(self.sha.digest()), "ascii") != self.want:
            raise BundleError("bad file sha256")
        self.sha = None
        self.state = _LINES

    def _folders(self, folder):
        if folder == self.made or folder == self.slot:
            return
        at = len(self.slot)
        while at >= 0:
            at = folder.find("/", at + 1)
            try:
                os.mkdir(folder if at < 0 else folder[:at])
            except OSError:
                pass  # there already
        self.made = folder


def _safe(path):
    # Relative, no "..", no empty or "." part, no backslash: a bundle writes inside its slot only.
    if not path or path[0] == "/" or "\\" in path:
        return False
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return False
    return True

