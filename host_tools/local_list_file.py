"""A local authorization list's file for `chargerctl charger local-list push`: JSON or CSV, read
and checked whole before anything is sent, with the same rules the backend applies
(host_tools/backend/operator_fields.local_list), each fault named by its line in the file.

    JSON  [{"id_tag": "TECH-01", "status": "Accepted"}, ...] or {"entries": [...]}
    CSV   a header naming the columns (id_tag, status, expiry_date, parent_id_tag: id_tag
          required, the others optional), then one entry a line; blank lines and lines
          starting with # are skipped; an empty cell is an absent field
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

from host_tools.backend.operator_fields import local_list
from host_tools.driver_errors import Unprocessable

COLUMNS = ("id_tag", "status", "expiry_date", "parent_id_tag")
_MAX_BYTES = 1024 * 1024  # a list of 500 entries is ~50 KB; a file far larger is not one


class BadListFile(Unprocessable):
    """A file that is not a local list: its faults, one a line, with their line numbers."""


def read_entries(path: str, kind: str) -> list[dict]:
    """The entries of the file at `path` ('-': standard input) for an update of `kind` (Full,
    Differential); BadListFile (exit 22) naming every fault, nothing sent."""
    name = "standard input" if path == "-" else path
    try:
        raw = sys.stdin.buffer.read(_MAX_BYTES + 1) if path == "-" else _read(Path(path))
    except OSError as err:
        raise BadListFile(f"Cannot read {name}: {err.strerror or err}.") from None
    if len(raw) > _MAX_BYTES:
        raise BadListFile(f"{name} is larger than {_MAX_BYTES // 1024} KB: not a local list.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadListFile(f"{name} is not UTF-8 text (byte {err.start}).") from None
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        entries, lines = _json(name, text)
    else:
        entries, lines = _csv(name, text)
    if not entries and kind == "Differential":
        raise BadListFile(f"{name} has no entries: a differential update without any changes "
                          "nothing.")
    _, errors = local_list({"update_type": kind, "entries": entries})
    if errors:
        faults = []
        for field, sentences in errors.items():
            parts = field.split(".")
            where = f"line {lines[int(parts[1])]}" if len(parts) > 1 else name
            what = f" ({parts[2]})" if len(parts) > 2 else ""
            said = " ".join(sentences)
            # the API's field names (entries.3.status) as the file's lines
            said = re.sub(r"entries\.(\d+)'s", lambda m: f"line {lines[int(m.group(1))]}'s", said)
            said = re.sub(r"entries\.\d+\.?", "", said).replace("The  field", "The entry")
            faults.append(f"{where}{what}: {said}")
        raise BadListFile(f"{name} is not a valid local list, nothing was sent:\n  "
                          + "\n  ".join(faults), errors=errors)
    return entries


def _read(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(_MAX_BYTES + 1)


def _json(name: str, text: str) -> tuple[list, list[int]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadListFile(f"{name} line {err.lineno}: not valid JSON ({err.msg}).") from None
    if isinstance(doc, dict) and set(doc) <= {"entries"}:
        doc = doc.get("entries", [])
    if not isinstance(doc, list):
        raise BadListFile(f"{name}: a JSON local list is an array of entries, or an object "
                          'with "entries".')
    # the line of each entry: where its object starts (entries are checked by their index)
    lines = _json_lines(text, len(doc))
    return doc, lines


def _json_lines(text: str, n: int) -> list[int]:
    # The line at which each item of the entries' array starts: the array is the first "["
    # (the only key an object may have is "entries"), its items decoded one by one in place.
    dec = json.JSONDecoder()
    out: list[int] = []
    i = text.index("[") + 1
    while len(out) < n:
        while text[i] in " \t\r\n,":
            i += 1
        out.append(text.count("\n", 0, i) + 1)
        _, i = dec.raw_decode(text, i)
    return out


def _csv(name: str, text: str) -> tuple[list, list[int]]:
    rows = [(i, r) for i, r in enumerate(csv.reader(io.StringIO(text)), 1)
            if r and any(c.strip() for c in r) and not r[0].lstrip().startswith("#")]
    if not rows:
        return [], []
    head_line, head = rows[0]
    head = [h.strip() for h in head]
    unknown = [h for h in head if h not in COLUMNS]
    if unknown or "id_tag" not in head or len(set(head)) != len(head):
        raise BadListFile(f"{name} line {head_line}: the first line must name the columns, "
                          f"from {', '.join(COLUMNS)} (id_tag required, each once); got "
                          f"{','.join(head)!r}.")
    entries, lines = [], []
    for n, row in rows[1:]:
        if len(row) > len(head):
            raise BadListFile(f"{name} line {n}: {len(row)} cells, but the header names "
                              f"{len(head)} columns.")
        entry = {k: v.strip() for k, v in zip(head, row, strict=False) if v.strip()}
        entries.append(entry)
        lines.append(n)
    return entries, lines
