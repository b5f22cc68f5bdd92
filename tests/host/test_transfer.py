"""The file transfer under `chargerctl flash`: deflated on the host, inflated by the board while
it writes (a binary stream on the board's stdin, one acknowledged block at a time), and the
base64 path for boards without MicroPython's `deflate`. Real unix port on a real pty."""

from __future__ import annotations

import os
import random

import pytest

from host_tools import flash as fl
from host_tools.board_link import BoardError, BoardLink
from tests.host.conftest import require_schema

# main.py of a board whose MicroPython has no `deflate`: the import fails as on an old port
# (MicroPython < 1.21). It ends, so the interpreter stays at the REPL (`micropython -i`).
NO_DEFLATE_MAIN = """\
import builtins
_imp = builtins.__import__
def _imp_no_deflate(name, *a):
    if name == "deflate":
        raise ImportError("no module named 'deflate'")
    return _imp(name, *a)
builtins.__import__ = _imp_no_deflate
print("NO DEFLATE READY")
"""


class WireCounter:
    """Counts the bytes the host writes to the board's port (wraps the real serial write)."""

    def __init__(self, link: BoardLink) -> None:
        self.n = 0
        self._write = link.transport.serial.write
        link.transport.serial.write = self

    def __call__(self, data) -> int:
        self.n += len(data)
        return self._write(data)


def _no_deflate_board(boards, tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(NO_DEFLATE_MAIN)
    vb = boards(flash)
    vb.wait_for_console("NO DEFLATE READY")
    return vb


def _tricky_payloads() -> dict[str, bytes]:
    rnd = random.Random(7)
    return {
        # every byte value, including the raw REPL's control bytes (Ctrl-A..E) and Ctrl-C
        "d/all_bytes.bin": bytes(range(256)) * 9,
        # incompressible: the deflated stream is longer than the data
        "d/random.bin": rnd.randbytes(3000),
        "d/empty.bin": b"",
        "d/one.bin": b"\x03",
        "d/exact_block.bin": rnd.randbytes(256),
    }


def test_deployed_files_equal_the_mpy_image_after_the_compressed_transfer(vboard, firmware,
                                                                          good_config, monkeypatch):
    require_schema()
    board, raw = fl.load_board("unix-sim")
    cfg = fl.check_config(good_config, board, firmware_dir=firmware)
    image = fl.build_image(firmware)
    with BoardLink(vboard.port) as link:
        assert link.has_deflate()
    deflated = []  # which files took the compressed path (recorded, then really sent)
    real = BoardLink._write_deflated

    def recording(self, path, data, progress):
        deflated.append(path)
        return real(self, path, data, progress)

    monkeypatch.setattr(BoardLink, "_write_deflated", recording)
    res = fl.deploy(vboard.port, image, raw, cfg, restart=False)
    assert sorted(res.copied) == sorted([*image.files, "board.json", "config.json"])
    # all but the small files before the first one worth the receiver
    big = [p for p, d in image.files.items() if len(d) >= 1536]
    assert set(big) <= set(deflated)
    assert sum(len(image.files[p]) for p in deflated if p in image.files) > 0.9 * image.total_bytes
    for path, data in image.files.items():
        assert (vboard.flash_dir / path).read_bytes() == data, path
    assert not list(vboard.flash_dir.rglob("*.tmp"))
    # ...and what the board hashes afterwards is the image (the next deploy copies nothing)
    again = fl.deploy(vboard.port, image, raw, cfg, restart=False)
    assert again.copied == []


def test_compressed_transfer_is_exact_for_any_bytes_and_smaller_on_the_wire(vboard):
    payloads = _tricky_payloads()
    mpy = max(fl.build_image().files.values(), key=len)
    payloads["d/big.mpy"] = mpy
    with BoardLink(vboard.port) as link:
        wire = WireCounter(link)
        for path, data in payloads.items():
            link.write_file(path, data)
        deflated = wire.n
        wire.n = 0
        link.write_file("d/big_b64.mpy", mpy, compress=False)
        base64_bytes = wire.n
        wire.n = 0
        link.write_file("d/big_again.mpy", mpy)
        assert wire.n < base64_bytes * 0.8  # measured: about 0.6 for .mpy
        assert link.eval("1 + 1") == 2  # the link is in step after the binary streams
    for path, data in payloads.items():
        assert (vboard.flash_dir / path).read_bytes() == data, path
    assert (vboard.flash_dir / "d/big_again.mpy").read_bytes() == mpy
    assert deflated > 0
    assert not list(vboard.flash_dir.rglob("*.tmp"))


def test_board_without_deflate_gets_the_base64_path(boards, tmp_path, firmware, good_config):
    require_schema()
    vb = _no_deflate_board(boards, tmp_path)
    with BoardLink(vb.port) as link:
        assert not link.has_deflate()
        for path, data in _tricky_payloads().items():
            link.write_file(path, data)
            assert (vb.flash_dir / path).read_bytes() == data, path
    board, raw = fl.load_board("unix-sim")
    cfg = fl.check_config(good_config, board, firmware_dir=firmware)
    image = fl.build_image(firmware)
    res = fl.deploy(vb.port, image, raw, cfg, restart=False)
    assert len(res.copied) == len(image.files) + 2
    for path, data in image.files.items():
        assert (vb.flash_dir / path).read_bytes() == data, path
    assert not list(vb.flash_dir.rglob("*.tmp"))


def test_forced_base64_path_on_a_board_with_deflate(vboard):
    data = os.urandom(5000)
    with BoardLink(vboard.port) as link:
        assert link.has_deflate()
        link.write_file("f/x.bin", data, compress=False)
    assert (vboard.flash_dir / "f/x.bin").read_bytes() == data


@pytest.mark.parametrize("compress", [True, False])
def test_a_refused_write_is_an_error_and_the_link_stays_usable(vboard, compress):
    (vboard.flash_dir / "blocker").write_text("a file, not a folder")
    with BoardLink(vboard.port) as link:
        with pytest.raises(BoardError):
            link.write_file("blocker/x.bin", os.urandom(2000), compress=compress)
        link.write_file("ok.bin", b"fine", compress=compress)
        assert link.eval("1 + 1") == 2
    assert (vboard.flash_dir / "ok.bin").read_bytes() == b"fine"


def test_a_corrupted_stream_is_refused_and_the_old_file_kept(vboard, monkeypatch):
    """The board checks the sha256 of what it inflated before the rename: a stream that does
    not inflate to the expected bytes leaves the previous file in place."""
    import zlib

    from host_tools import board_link

    (vboard.flash_dir / "keep.bin").write_bytes(b"old contents")
    real = zlib.compressobj

    def other_data(*a):  # the host compresses different bytes than it announces the hash of
        co = real(*a)
        return type("C", (), {"compress": lambda s, d: co.compress(d + b"!"),
                              "flush": lambda s: co.flush()})()

    monkeypatch.setattr(board_link.zlib, "compressobj", other_data)
    with BoardLink(vboard.port) as link:
        with pytest.raises(BoardError, match="sha256"):
            link.write_file("keep.bin", b"new contents" * 100, compress=True)
        assert link.eval("1 + 1") == 2
    assert (vboard.flash_dir / "keep.bin").read_bytes() == b"old contents"
    assert not (vboard.flash_dir / "keep.bin.tmp").exists()


def test_a_host_that_dies_mid_stream_leaves_the_board_reachable(vboard):
    """The board waits at most a few seconds for the rest of a stream, then drops the temp
    file and is back at its raw REPL: the next connection gets in, nothing half-written stays."""
    with BoardLink(vboard.port) as link:
        assert link.has_deflate()
        t = link.transport
        t.exec_raw_no_follow(f"_pt('cut.bin.tmp','cut.bin',1000,{'0' * 64!r})")
        assert t.serial.read(1) == b"\x06"
        t.serial.write(os.urandom(100))  # then the host is gone
        t.serial.flush()
        link.close(leave_repl=False)
    with BoardLink(vboard.port, timeout=10) as link:
        assert link.eval("1 + 1") == 2
        link.write_file("after.bin", b"fine")
    assert (vboard.flash_dir / "after.bin").read_bytes() == b"fine"
    assert not (vboard.flash_dir / "cut.bin").exists()
    assert not (vboard.flash_dir / "cut.bin.tmp").exists()


def test_a_lone_small_file_skips_the_receiver_and_is_still_exact(vboard):
    """A one-module change of a small file goes as base64 (the receiver would cost more than it
    saves); the first larger file brings the receiver, and then every file is deflated."""
    small = bytes(range(200))
    big = os.urandom(800) * 4
    with BoardLink(vboard.port) as link:
        wire = WireCounter(link)
        link.write_file("s/forced.bin", small, compress=True)
        with_receiver = wire.n
    with BoardLink(vboard.port) as link:
        wire = WireCounter(link)
        link.write_file("s/small.bin", small)
        alone = wire.n
        assert alone < with_receiver
        link.write_file("s/big.bin", big)
        assert link.has_deflate()
        wire.n = 0
        link.write_file("s/small2.bin", small)
        assert wire.n < alone / 2
    for name in ("forced", "small", "small2"):
        assert (vboard.flash_dir / f"s/{name}.bin").read_bytes() == small
    assert (vboard.flash_dir / "s/big.bin").read_bytes() == big
