"""Firmware bundles the backend serves, diagnostics files chargers upload to it, and what each
charger said about both (FirmwareManagement, OCPP 1.6 section 6).

    Transfers(store, clock, data_dir)
      .record(identity, topic, kind, status, detail) -> seq   one event, waiters woken
      .events(identity, topic, after) / await .wait(...)      the history, a long poll
      .save_bundle(chunks) -> dict                            checked, stored by version+sha256
      .bundle_path(name) / .bundles()
      .diagnostics_refusal(identity, client, file_name)       why an upload is not taken
      .save_diagnostics(identity, file_name, chunks) -> dict
      .diagnostics_files(identity) / .diagnostics_path(identity, file_name)

Events (table `charger_transfers`, a sequence shared by all chargers): topic `firmware` or
`diagnostics`; kind `request` (an operator's UpdateFirmware or GetDiagnostics: status Accepted
or NotSent, detail the location or fileName), `status` (the charger's FirmwareStatusNotification
or DiagnosticsStatusNotification), `boot` (BootNotification's firmwareVersion, in detail) and
`file` (a diagnostics upload received, detail its name).

Files live in the data folder (`chargerctl backend --data-dir`, default beside the database):
`firmware/<name>.bundle` and `diagnostics/<identity>/<fileName>`. Both are bounded in size, a
charger keeps its last DIAGNOSTICS_KEEP uploads, and names are checked before any path is built.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from host_tools.bundle import MAX_BUNDLE, BundleCheck, BundleInvalid

from .clock import iso
from .longpoll import Changes
from .store import Store

BUNDLE_MAX_BYTES = MAX_BUNDLE  # the largest a board takes (1 MB of files and their lines)
DIAGNOSTICS_MAX_BYTES = 1024 * 1024  # the board's log is rotated far below this
DIAGNOSTICS_KEEP = 20  # files per charger; older ones are deleted
# An upload is taken only from the charger's own address while a GetDiagnostics an operator
# sent is recent: the URL is public on a LAN, and nobody else should fill this disk.
DIAGNOSTICS_WINDOW_S = 3600.0
EVENTS_MAX = 500  # per answer
EVENTS_KEEP = 1000  # per charger and topic; older ones are deleted (a charger in a boot loop)
PRUNE_EVERY = 100  # events of one charger and topic between two prunings of its history
BUNDLE_NAME = re.compile(r"evse-[0-9A-Za-z._+-]{1,50}-[0-9a-f]{16}\.bundle")  # fullmatch
_UNSAFE = re.compile(r"[^0-9A-Za-z._+-]")  # in a version, for the name: a URL and a file name
# OCPP gives no rule for fileName; ours is a plain file name that needs no quoting anywhere
FILE_NAME = re.compile(r"[0-9A-Za-z_][0-9A-Za-z._-]{0,99}")  # fullmatch: "$" takes a "\n"
_CHUNK = 64 * 1024


def _folder(identity: str) -> str:
    """A charger's folder: its identity ([A-Za-z0-9._-]), never `.` or `..`."""
    return "_" + identity if identity.startswith(".") else identity


class TooLarge(Exception):
    """More bytes than the limit (args: the limit)."""


class Transfers:
    def __init__(self, store: Store, clock: Callable[[], float], data_dir: str | Path,
                 settle_s: float = 10.0):
        self.store = store
        self.clock = clock
        self.data_dir = Path(data_dir)
        self.settle_s = settle_s
        self._changes = Changes()
        self._unpruned: dict[tuple[str, str], int] = {}  # events since the last pruning
        store.db.executescript("""
            CREATE TABLE IF NOT EXISTS charger_transfers (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                identity TEXT NOT NULL,
                topic TEXT NOT NULL,
                kind TEXT NOT NULL,
                status TEXT,
                detail TEXT,
                at REAL NOT NULL
            );
            CREATE INDEX IF NOT EXISTS charger_transfers_by_charger
                ON charger_transfers (identity, topic, seq);
            CREATE TABLE IF NOT EXISTS diagnostics_files (
                identity TEXT NOT NULL,
                file_name TEXT NOT NULL,
                size INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                received_at REAL NOT NULL,
                PRIMARY KEY (identity, file_name)
            );""")

    # events ------------------------------------------------------------------------------
    def record(self, identity: str, topic: str, kind: str, status: str | None = None,
               detail: str | None = None) -> int:
        seq = self.store.insert("charger_transfers", identity=identity, topic=topic, kind=kind,
                                status=status, detail=detail, at=self.clock())
        # every PRUNE_EVERY events of this charger and topic (and at its first since start: a
        # backend restarted often still prunes) is enough to keep each history bounded
        count = self._unpruned.get((identity, topic), -1) + 1
        if count == 0 or count >= PRUNE_EVERY:
            self.store.db.execute(
                "DELETE FROM charger_transfers WHERE identity = ? AND topic = ? AND seq <= "
                "(SELECT seq FROM charger_transfers WHERE identity = ? AND topic = ? ORDER BY "
                "seq DESC LIMIT 1 OFFSET ?)", (identity, topic, identity, topic, EVENTS_KEEP))
            count = 0
        self._unpruned[(identity, topic)] = count
        self._changes.changed()
        return seq

    def set_status(self, seq: int, status: str, detail: str | None = None) -> None:
        self.store.db.execute("UPDATE charger_transfers SET status = ?, detail = coalesce(?, "
                              "detail) WHERE seq = ?", (status, detail, seq))
        self._changes.changed()  # an upload may be waiting for its request's answer

    def events(self, identity: str, topic: str, after: int = 0) -> list[dict]:
        """The first EVENTS_MAX events after `after`; for `after` 0 the latest EVENTS_MAX."""
        if after > 0:
            rows = self.store.all("SELECT seq, at, kind, status, detail FROM charger_transfers "
                                  "WHERE identity = ? AND topic = ? AND seq > ? ORDER BY seq "
                                  "LIMIT ?", identity, topic, after, EVENTS_MAX)
        else:
            rows = self.store.all("SELECT * FROM (SELECT seq, at, kind, status, detail FROM "
                                  "charger_transfers WHERE identity = ? AND topic = ? ORDER BY "
                                  "seq DESC LIMIT ?) ORDER BY seq", identity, topic, EVENTS_MAX)
        return [{"seq": r["seq"], "time": iso(r["at"]), "kind": r["kind"],
                 "status": r["status"], "detail": r["detail"]} for r in rows]

    async def wait(self, identity: str, topic: str, after: int, timeout: float) -> list[dict]:
        """Events after `after`, waiting up to `timeout` seconds for the first one."""
        return await self._changes.until(lambda: self.events(identity, topic, after), timeout)

    # files -------------------------------------------------------------------------------
    async def _receive(self, folder: Path, chunks: AsyncIterator[bytes], limit: int,
                       each: Callable[[bytes], None]) -> tuple[Path, int, str]:
        """The body into a temporary file in `folder`: (its path, size, sha256). TooLarge past
        `limit` bytes; whatever `each` raises for a chunk; the file is gone on any error."""
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(limit)
                    each(chunk)
                    digest.update(chunk)
                    f.write(chunk)
            return Path(tmp), size, digest.hexdigest()
        except BaseException:
            os.unlink(tmp)
            raise

    async def save_bundle(self, chunks: AsyncIterator[bytes]) -> dict:
        """Checks and stores one bundle: {name, version, sha256, size, files}. BundleInvalid
        (not a bundle, damaged: the board's check, host_tools/bundle.py) or TooLarge; nothing
        is kept then. The same bundle uploaded
        again gets the same name."""
        check = BundleCheck()
        folder = self.data_dir / "firmware"
        tmp, size, sha = await self._receive(folder, chunks, BUNDLE_MAX_BYTES, check.feed)
        try:
            version = check.finish()
        except BundleInvalid:
            tmp.unlink()
            raise
        name = f"evse-{_UNSAFE.sub('_', version)}-{sha[:16]}.bundle"
        tmp.replace(folder / name)
        return {"name": name, "version": version, "sha256": sha, "size": size,
                "files": check.files}

    def bundle_path(self, name: str) -> Path | None:
        if not BUNDLE_NAME.fullmatch(name):
            return None
        path = self.data_dir / "firmware" / name
        return path if path.is_file() else None

    def bundle_version(self, name: str) -> str | None:
        """The version a stored bundle's first line gives (the name may have it escaped)."""
        path = self.bundle_path(name)
        if path is None:
            return None
        try:
            with path.open("rb") as f:
                head = f.readline(256)
        except FileNotFoundError:
            return None
        return head[len(b"evse-bundle 1 "):].rstrip(b"\n").decode("utf-8", "replace")

    def bundles(self) -> list[dict]:
        """The stored bundles, oldest first. Only bundle names are looked at: an upload's
        temporary file may vanish at any moment, and so may a bundle deleted by hand."""
        folder = self.data_dir / "firmware"
        if not folder.is_dir():
            return []
        found = []
        for path in folder.iterdir():
            if not BUNDLE_NAME.fullmatch(path.name):
                continue
            try:
                stat = path.stat()
                found.append((stat.st_mtime, {"name": path.name,
                                              "version": self.bundle_version(path.name),
                                              "size": stat.st_size}))
            except FileNotFoundError:
                continue
        return [entry for _, entry in sorted(found, key=lambda f: (f[0], f[1]["name"]))]

    def _diagnostics_request(self, identity: str) -> dict | None:
        return self.store.one("SELECT seq, status, detail, at FROM charger_transfers WHERE "
                              "identity = ? AND topic = 'diagnostics' AND kind = 'request' "
                              "ORDER BY seq DESC LIMIT 1", identity)

    async def diagnostics_refusal(self, identity: str, client: str | None, file_name: str,
                                  charger_address: str | None) -> tuple[int, str] | None:
        """None when the upload may be taken; else (HTTP status, why)."""
        if not FILE_NAME.fullmatch(file_name):
            return 422, ("The file name must be 1..100 letters, digits and ._- (not starting "
                         "with a dot).")
        if charger_address is None or client != charger_address:
            return 403, ("Diagnostics are taken only from the charger's own address while it "
                         "is connected.")
        row = self._diagnostics_request(identity)
        if row is not None and row["status"] is None:
            # the GetDiagnostics CALL is in flight: a charger may start its upload right behind
            # its answer, before that answer is processed here; wait for it (the CALL's own
            # timeout bounds this, and settles the row NotSent)
            def settled() -> dict | None:
                r = self._diagnostics_request(identity)
                return r if r is not None and r["status"] is not None else None

            row = await self._changes.until(settled, self.settle_s) or \
                self._diagnostics_request(identity)
        if row is None or row["status"] != "Accepted" or \
                self.clock() - row["at"] > DIAGNOSTICS_WINDOW_S:
            return 403, ("No GetDiagnostics is pending for this charger (an operator starts "
                         "one with actions/get-diagnostics).")
        # GetDiagnostics.conf names the file it will upload, or none: "not present when no
        # diagnostic information is available". No name, no upload: the name is the only
        # thing that ties an upload to this request.
        if not row["detail"]:
            return 403, ("The charger answered GetDiagnostics without a fileName: it has "
                         "nothing to upload.")
        if row["detail"] != file_name:
            return 403, f"The charger announced the file {row['detail']!r}, not this one."
        # one request, one upload: a second PUT would replace the file the operator fetched
        if self.store.one("SELECT 1 AS ok FROM charger_transfers WHERE identity = ? AND topic "
                          "= 'diagnostics' AND kind = 'file' AND seq > ?", identity,
                          row["seq"]) is not None:
            return 403, (f"{file_name} was received already; another upload needs another "
                         "GetDiagnostics.")
        return None

    async def save_diagnostics(self, identity: str, file_name: str,
                               chunks: AsyncIterator[bytes]) -> dict:
        folder = self.data_dir / "diagnostics" / _folder(identity)
        tmp, size, sha = await self._receive(folder, chunks, DIAGNOSTICS_MAX_BYTES,
                                             lambda chunk: None)
        tmp.replace(folder / file_name)
        now = self.clock()
        self.store.db.execute(
            "INSERT INTO diagnostics_files (identity, file_name, size, sha256, received_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(identity, file_name) DO UPDATE SET size = "
            "excluded.size, sha256 = excluded.sha256, received_at = excluded.received_at",
            (identity, file_name, size, sha, now))
        for old in self.store.all("SELECT file_name FROM diagnostics_files WHERE identity = ? "
                                  "ORDER BY received_at DESC, rowid DESC LIMIT -1 OFFSET ?",
                                  identity, DIAGNOSTICS_KEEP):
            (folder / old["file_name"]).unlink(missing_ok=True)
            self.store.db.execute("DELETE FROM diagnostics_files WHERE identity = ? AND "
                                  "file_name = ?", (identity, old["file_name"]))
        self.record(identity, "diagnostics", "file", "Received", file_name)
        return {"file_name": file_name, "size": size, "sha256": sha, "received_at": iso(now)}

    def diagnostics_files(self, identity: str) -> list[dict]:
        return [{**r, "received_at": iso(r["received_at"])} for r in self.store.all(
            "SELECT file_name, size, sha256, received_at FROM diagnostics_files WHERE "
            "identity = ? ORDER BY received_at, rowid", identity)]

    def diagnostics_path(self, identity: str, file_name: str) -> Path | None:
        if not FILE_NAME.fullmatch(file_name) or self.store.one(
                "SELECT 1 AS ok FROM diagnostics_files WHERE identity = ? AND file_name = ?",
                identity, file_name) is None:
            return None
        path = self.data_dir / "diagnostics" / _folder(identity) / file_name
        return path if path.is_file() else None
