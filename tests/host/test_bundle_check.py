"""host_tools.bundle.BundleCheck, the host's one check of an "evse-bundle 1" (read_bundle, the
backend's upload, `chargerctl charger update`), against its authority: the board's stager
(firmware/evse/bundle.py) in MicroPython. Each bundle below, good or bad at an edge of a
rule, goes through both; they must take the same ones and refuse the others for the same
reason, whatever the chunks."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from host_tools import FIRMWARE_DIR
from host_tools.bundle import MAX_BUNDLE, MAX_BYTES, MAX_FILES, MAX_LINE, BundleCheck, BundleInvalid
from host_tools.micropython import micropython_binary

SHA = hashlib.sha256(b"x").hexdigest()


def raw(version: str = "0.2.0", files: list[tuple[str, bytes]] | None = None, *,
        size: str | None = None, sha: str | None = None, count: str | None = None,
        head: bytes | None = None) -> bytes:
    """A bundle built without any check, so that every rule can be broken on purpose."""
    files = [("main.py", b"x")] if files is None else files
    out = bytearray(head if head is not None else f"evse-bundle 1 {version}\n".encode())
    for path, data in files:
        out += f"{path} {size or len(data)} {sha or hashlib.sha256(data).hexdigest()}\n".encode()
        out += data
    out += f"end {count or len(files)} {hashlib.sha256(out).hexdigest()}\n".encode()
    return bytes(out)


def _line_of(n: int) -> bytes:
    """A bundle whose file line is n bytes with its newline (the board's buffer: 200)."""
    path = "lib/" + "a" * (n - len(f"lib/ 1 {SHA}\n"))
    return raw(files=[(path, b"x")])


GOOD = raw(files=[("main.py", b"import evse.app\n"), ("lib/evse/app.mpy", bytes(range(256)))])
CASES: dict[str, tuple[bytes, str]] = {
    "good": (GOOD, "ok"),
    "empty file in it": (raw(files=[("lib/empty.py", b"")]), "ok"),
    "plus in a path": (raw(files=[("lib/a+b.mpy", b"x")]), "ok"),
    "hidden file": (raw(files=[(".hidden", b"x")]), "ok"),
    "non-ASCII path": (raw(files=[("lib/ü.mpy", b"x")]), "ok"),
    "non-ASCII version": (raw("ü1"), "ok"),
    "version of 50": (raw("v" * 50), "ok"),
    "version of 51": (raw("v" * 51), "not an evse-bundle 1"),
    "version with a space": (raw("0.2 0"), "not an evse-bundle 1"),
    "no version": (raw(""), "not an evse-bundle 1"),
    "format 2": (GOOD.replace(b"evse-bundle 1", b"evse-bundle 2", 1), "not an evse-bundle 1"),
    "line of 200": (_line_of(MAX_LINE), "ok"),
    "line of 201": (_line_of(MAX_LINE + 1), "line too long"),
    "no newline at all": (b"PK\x03\x04" + bytes(500), "line too long"),
    "not UTF-8": (raw(files=[("lib/\xff.mpy", b"x")]).replace("\xff".encode(), b"\xff"),
                  "bad line"),
    "lib/ alone": (raw(files=[("lib/", b"x")]), "bad path"),
    "a dot part": (raw(files=[("lib/./a.mpy", b"x")]), "bad path"),
    "an empty part": (raw(files=[("lib//a.mpy", b"x")]), "bad path"),
    "dot dot": (raw(files=[("../boot.py", b"x")]), "bad path"),
    "absolute": (raw(files=[("/main.py", b"x")]), "bad path"),
    "backslash": (raw(files=[("lib\\a.mpy", b"x")]), "bad path"),
    "size of 7 digits": (raw(size="0000001"), "ok"),
    "size of 8 digits": (raw(size="00000001"), "bad size"),
    "a non-ASCII digit": (raw(size="\u0661"), "bad size"),
    "short sha": (raw(sha="0" * 63), "bad file line"),
    "four words": (GOOD.replace(b"main.py ", b"main.py x ", 1), "bad file line"),
    "upper-case sha": (raw(files=[("a", b"x")], sha=SHA.upper()), "bad file sha256"),
    "a byte changed": (GOOD.replace(b"import", b"imXort", 1), "bad file sha256"),
    "count wrong": (raw(count="2"), "bad file count"),
    "whole sha wrong": (GOOD[:-65] + b"0" * 64 + b"\n", "bad bundle sha256"),
    "bytes after the end": (GOOD + b"x", "bytes after the end"),
    "truncated in a file": (GOOD[:GOOD.index(b"import") + 3], "truncated"),
    "truncated before the end line": (GOOD[:GOOD.rindex(b"end ")], "truncated"),
    "empty": (b"", "truncated"),
    f"{MAX_FILES} files": (raw(files=[(f"m{i}", b"") for i in range(MAX_FILES)]), "ok"),
    f"{MAX_FILES + 1} files": (raw(files=[(f"m{i}", b"") for i in range(MAX_FILES + 1)]),
                               "too many files"),
    "a byte over the total": (raw(files=[("big", b"")], size=str(MAX_BYTES + 1)), "too large"),
}

STAGE = """
import os, sys
from evse import bundle
chunk = int(sys.argv[1])
for n, name in enumerate(sorted(os.listdir("cases"))):
    slot = "slot%d" % n
    os.mkdir(slot)
    s = bundle.Stager(slot)
    try:
        with open("cases/" + name, "rb") as f:
            while True:
                b = f.read(chunk)
                if not b:
                    break
                s.feed(b)
        s.finish()
        print(name, "ok")
    except bundle.BundleError as e:
        print(name, e.args[0])
"""


def host(data: bytes, chunk: int) -> str:
    check = BundleCheck()
    try:
        for at in range(0, len(data), chunk):
            check.feed(data[at:at + chunk])
        check.finish()
    except BundleInvalid as e:
        return str(e).split(":")[0]
    return "ok"


@pytest.mark.parametrize("chunk", [7, 4096])
def test_the_host_and_the_board_take_and_refuse_the_same_bundles(tmp_path, chunk):
    (tmp_path / "cases").mkdir()
    names = {}
    for n, (case, (data, _)) in enumerate(CASES.items()):
        names[f"{n:03}"] = case
        (tmp_path / "cases" / f"{n:03}").write_bytes(data)
    (tmp_path / "stage.py").write_text(STAGE)
    proc = subprocess.run([micropython_binary(), "stage.py", str(chunk)], cwd=tmp_path,
                          env=dict(os.environ, MICROPYPATH=str(FIRMWARE_DIR)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    board = {names[line.split(" ", 1)[0]]: line.split(" ", 1)[1]
             for line in proc.stdout.splitlines()}
    expected = {case: why for case, (_, why) in CASES.items()}
    assert board == expected  # the cases say what the board does
    assert {case: host(data, chunk) for case, (data, _) in CASES.items()} == expected


def test_read_bundle_keeps_the_files_and_the_largest_bundle_is_max_bundle():
    check = BundleCheck(keep=True)
    check.feed(GOOD)
    assert check.finish() == "0.2.0" and check.files == 2
    assert check.kept == {"main.py": b"import evse.app\n", "lib/evse/app.mpy": bytes(range(256))}
    # MAX_BUNDLE: every byte of MAX_BYTES in MAX_FILES files with the longest lines
    assert MAX_BUNDLE == MAX_BYTES + (MAX_FILES + 2) * MAX_LINE
