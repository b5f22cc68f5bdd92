"""Persistent FIFO of transaction messages (StartTransaction, StopTransaction, MeterValues).

Why an append-only log: every change (append, pop, update, attempt count) is one line added
to one file, so a message costs a few dozen bytes of flash writes instead of rewriting the
whole queue (temp file + rename per change would wear the flash by the queue's size each time).
Each line is `<crc32 hex> <json>\n`; a line whose checksum or newline is missing (a write torn
by power loss or SIGKILL) is skipped on load, and a torn tail is ended with `~\n` so the next
record starts a line of its own and the torn one stays dead (every valid line ends in `]\n`; a
line cut just before its break would otherwise come back whole): earlier lines are never touched. Compaction is the only
non-append write: when dead lines outnumber live ones, live records go to `<path>.tmp`, which
replaces the log with os.rename (atomic on littlefs and POSIX), so the file stays small. A
compaction that fails (flash full) leaves the longer log in place. On littlefs a closed write
is atomic anyway; the checksums cover FAT and the unix port.

Durable means: append()/pop()/update()/bump() returned. A message is delivered at least once:
if power fails between the CSMS's answer and pop(), it is sent again after reboot.

Lines (JSON arrays): ["S", next_seq] (first line after compaction), ["A", seq, action,
payload, attempts], ["U", seq, payload], ["B", seq, attempts], ["P", seq].

Full policy (max_records live messages): Start/Stop are never dropped. Appending when full
first evicts the oldest queued MeterValues; if only Start/Stop remain, a new MeterValues is
not stored (append returns None) while a Start/Stop is stored beyond the bound.

RAM: 10 bytes per queued message (seq, file offset, kind, attempts); payloads stay on flash
and are read back by peek()/items().

API: j = Journal("data/journal.log", max_records=250); seq = j.append(action, payload);
j.peek() -> (seq, action, payload) | None (oldest); j.pop(seq) -> bool; j.update(seq, payload);
j.attempts(seq) / j.bump(seq) -> int; j.items() yields (seq, action, payload) oldest first;
len(j).
"""
import binascii
import json
import os
import struct

_E = const(10)  # index entry: seq u32, offset u32, kind u8, attempts u8
_MIN_DEAD = const(64)
_METER = const(0)
_KINDS = const(("MeterValues", "StartTransaction", "StopTransaction"))


def _line(rec):
    js = json.dumps(rec).encode()
    return b"%08x " % binascii.crc32(js) + js + b"\n"


def _parse(line):
    """A checked line -> the record list, or None when torn or corrupt."""
    if len(line) < 11 or line[-1] != 10 or line[-2] != 93 or line[8] != 32:
        return None
    js = line[9:-1]
    try:
        if int(line[:8], 16) != binascii.crc32(js):
            return None
        rec = json.loads(js)
    except ValueError:
        return None
    return rec if isinstance(rec, list) and rec else None


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Journal:
    def __init__(self, path="data/journal.log", max_records=250):
        self.path = path
        self.max_records = max_records
        i = path.rfind("/")
        if i > 0 and not _exists(path[:i]):
            os.mkdir(path[:i])
        self._load()

    # -- index ----------------------------------------------------------------------------

    def __len__(self):
        return len(self._ix) // _E

    def _entry(self, i):
        return struct.unpack_from(">IIBB", self._ix, i * _E)

    def _find(self, seq):
        for i in range(len(self._ix) // _E):
            if struct.unpack_from(">I", self._ix, i * _E)[0] == seq:
                return i
        return -1

    def _set(self, i, seq, off, kind, att):
        struct.pack_into(">IIBB", self._ix, i * _E, seq, off, kind, att)

    def _drop(self, i):
        self._ix[i * _E:(i + 1) * _E] = b""

    # -- file -----------------------------------------------------------------------------

    def _load(self):
        tmp = self.path + ".tmp"
        if _exists(tmp):
            if _exists(self.path):
                os.remove(tmp)  # a compaction cut short: the log is still whole
            else:
                os.rename(tmp, self.path)  # cut between remove and rename (non-atomic rename)
        self._ix = bytearray()
        self._next = 1
        self._size = 0
        self._lines = 0
        try:
            f = open(self.path, "rb")
        except OSError:
            return
        with f:
            off = 0
            line = b"\n"
            for line in f:
                rec = _parse(line)
                if rec is not None:
                    self._apply(rec, off)
                self._lines += 1  # a bad line counts as dead until the next compaction
                off += len(line)
        self._size = off
        if line[-1:] != b"\n":  # a torn tail: end it dead, so the next record starts a line of its own
            with open(self.path, "ab") as f:
                f.write(b"~\n")
            self._size += 2
        self._maybe_compact()

    def _apply(self, rec, off):
        op = rec[0]
        if op == "S":
            self._next = max(self._next, rec[1])
            return
        seq = rec[1]
        if op == "A":
            self._next = max(self._next, seq + 1)
            self._ix += struct.pack(">IIBB", seq, off, _KINDS.index(rec[2]), min(rec[4], 255))
            return
        i = self._find(seq)
        if i < 0:
            return
        _, o, kind, att = self._entry(i)
        if op == "P":
            self._drop(i)
        elif op == "U":
            self._set(i, seq, off, kind, att)
        elif op == "B":
            self._set(i, seq, o, kind, min(rec[2], 255))

    def _dead(self):
        return self._lines - len(self)

    def _write(self, *recs):
        """Append lines durably; returns the offset of the first one."""
        off = self._size
        n = 0
        try:
            with open(self.path, "ab") as f:
                for r in recs:  # each line in three writes: no concatenated copies in the heap
                    js = json.dumps(r).encode()
                    f.write(b"%08x " % binascii.crc32(js))
                    f.write(js)
                    f.write(b"\n")
                    n += len(js) + 10
        except Exception:  # noqa: BLE001 - a flash error, or no heap for the next line's text
            self._load()  # whatever reached the file is re-read, a torn tail skipped
            raise
        self._size += n
        self._lines += len(recs)
        return off

    def _read(self, f, off):
        f.seek(off)
        rec = _parse(f.readline())
        if rec is None:
            raise OSError("journal line at %d is unreadable" % off)
        return rec

    def _payload(self, rec):
        return rec[3] if rec[0] == "A" else rec[2]

    def _maybe_compact(self):
        if self._dead() > max(_MIN_DEAD, len(self)):
            try:
                self.compact()
            except Exception:  # noqa: BLE001 - flash full or heap short: keep the longer log, it
                # is still whole (the rename comes last); the record just queued stays queued
                try:
                    os.remove(self.path + ".tmp")
                except OSError:
                    pass

    def compact(self):
        """Rewrite the log with the live records only (temp file + rename)."""
        tmp = self.path + ".tmp"
        ix = bytearray(self._ix)
        head = _line(["S", self._next])
        pos = len(head)
        try:
            src = open(self.path, "rb")
        except OSError:
            src = None
        with open(tmp, "wb") as out:
            out.write(head)
            for i in range(len(ix) // _E):
                seq, off, kind, att = struct.unpack_from(">IIBB", ix, i * _E)
                line = _line(["A", seq, _KINDS[kind], self._payload(self._read(src, off)), att])
                out.write(line)
                struct.pack_into(">IIBB", ix, i * _E, seq, pos, kind, att)
                pos += len(line)
        if src:
            src.close()
        try:
            os.rename(tmp, self.path)
        except OSError:  # a filesystem that will not rename over a file (FAT)
            os.remove(self.path)
            os.rename(tmp, self.path)
        self._ix = ix
        self._size = pos
        self._lines = 1 + len(ix) // _E

    # -- queue ----------------------------------------------------------------------------

    def append(self, action, payload):
        """Queue a message durably; returns its seq (None: a MeterValues dropped, see policy)."""
        kind = _KINDS.index(action)
        recs = []
        if len(self) >= self.max_records:
            for i in range(len(self)):
                seq, _, k, _ = self._entry(i)
                if k == _METER:
                    recs.append(["P", seq])
                    self._drop(i)
                    break
            else:
                if kind == _METER:
                    return None
        seq = self._next
        recs.append(["A", seq, action, payload, 0])
        try:
            off = self._write(*recs)
            self._next = seq + 1
            if len(recs) > 1:
                off += len(_line(recs[0]))
            self._ix += struct.pack(">IIBB", seq, off, kind, 0)
        except Exception:
            # All or nothing: an error means "not queued" to the caller (a start then rolls
            # back), so a record that reached the file anyway (the write failed after it, or
            # the index could not grow) is popped again; its seq is never used twice.
            self._next = max(self._next, seq + 1)
            i = self._find(seq)
            if i >= 0:
                self._drop(i)
            try:
                self._write(["P", seq])
            except Exception:  # noqa: BLE001 - the flash is failing: the first error stands
                pass
            raise
        self._maybe_compact()
        return seq

    def peek(self):
        """The oldest queued message as (seq, action, payload), or None."""
        if not self._ix:
            return None
        seq, off, kind, _ = self._entry(0)
        with open(self.path, "rb") as f:
            return seq, _KINDS[kind], self._payload(self._read(f, off))

    def items(self):
        """Every queued message, oldest first, as (seq, action, payload)."""
        ix = bytes(self._ix)
        if not ix:
            return
        with open(self.path, "rb") as f:
            for i in range(len(ix) // _E):
                seq, off, kind, _ = struct.unpack_from(">IIBB", ix, i * _E)
                yield seq, _KINDS[kind], self._payload(self._read(f, off))

    def pop(self, seq):
        """Forget a delivered message; False if it is not queued (already popped or evicted)."""
        i = self._find(seq)
        if i < 0:
            return False
        self._write(["P", seq])
        self._drop(i)
        self._maybe_compact()
        return True

    def update(self, seq, payload):
        """Replace a queued message's payload (e.g. the transactionId once it is known)."""
        i = self._find(seq)
        if i < 0:
            return False
        off = self._write(["U", seq, payload])
        _, _, kind, att = self._entry(i)
        self._set(i, seq, off, kind, att)
        self._maybe_compact()
        return True

    def attempts(self, seq):
        i = self._find(seq)
        return self._entry(i)[3] if i >= 0 else 0

    def bump(self, seq):
        """Count one more delivery attempt (TransactionMessageAttempts); returns the count."""
        i = self._find(seq)
        if i < 0:
            return 0
        _, off, kind, att = self._entry(i)
        att = min(att + 1, 255)
        self._write(["B", seq, att])
        self._set(i, seq, off, kind, att)
        self._maybe_compact()
        return att
