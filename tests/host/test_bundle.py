"""`chargerctl bundle` and host_tools.bundle: the "evse-bundle 1" a firmware update sends a
board. The board's side (evse.bundle.Stager) is tested in tests/firmware/test_install.py; here
the host's builder, its reader and the board's stager agree on today's real bundle."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from host_tools import FIRMWARE_DIR
from host_tools.bundle import BundleInvalid, build_bundle, encode, firmware_version, read_bundle
from host_tools.exits import Exit
from host_tools.flash import build_image
from host_tools.micropython import micropython_binary
from tests.host.conftest import CHARGERCTL, chargerctl


@pytest.fixture(scope="module")
def todays() -> bytes:
    return build_bundle()


def test_cli_writes_the_flash_image_as_a_bundle(tmp_path, todays):
    out = tmp_path / "fw.bundle"
    proc = chargerctl("bundle", "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    data = out.read_bytes()
    assert info == {"file": str(out), "version": firmware_version(), "files": len(build_image().files),
                    "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    version, files = read_bundle(data)
    assert version == firmware_version() and files == build_image().files
    assert data == todays  # the same build every time: sorted paths, no timestamps
    assert data.startswith(f"evse-bundle 1 {version}\n".encode())
    assert data.endswith(f"end {len(files)} {hashlib.sha256(data[:data.rindex(b'end ')]).hexdigest()}\n".encode())


def test_cli_default_name_and_text_output(tmp_path):
    proc = subprocess.run([*CHARGERCTL, "bundle", "--version", "0.3.1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "evse-0.3.1.bundle").exists()
    assert "version 0.3.1" in proc.stdout and "files" in proc.stdout


def test_version_is_compiled_into_the_bundles_boot_module_only(tmp_path, todays):
    before = (FIRMWARE_DIR / "evse" / "boot.py").read_text()
    version, files = read_bundle(build_bundle(version="0.2.0"))
    _, today = read_bundle(todays)
    assert version == "0.2.0"
    assert b"0.2.0" in files["lib/evse/boot.mpy"] and b"0.2.0" not in today["lib/evse/boot.mpy"]
    assert {p for p in files if files[p] != today[p]} == {"lib/evse/boot.mpy"}
    assert (FIRMWARE_DIR / "evse" / "boot.py").read_text() == before  # the folder is untouched


@pytest.mark.parametrize("version", ["", "0.2 beta", "x" * 51, "0.2.0\n", "ü1"])
def test_bad_version_is_refused_with_the_build_exit_code(tmp_path, version):
    proc = chargerctl("bundle", "--version", version, "-o", tmp_path / "x.bundle")
    assert proc.returncode == Exit.BUILD, proc.stderr
    assert "version" in proc.stderr and not (tmp_path / "x.bundle").exists()


def test_bad_arguments_and_paths(tmp_path):
    proc = chargerctl("bundle", "--firmware", tmp_path / "nothing", "-o", tmp_path / "x.bundle")
    assert proc.returncode == Exit.BUILD and "evse/boot.py" in proc.stderr
    proc = chargerctl("bundle", "-o", tmp_path / "no" / "such" / "x.bundle")
    assert proc.returncode == Exit.ERROR and "cannot write" in proc.stderr
    assert chargerctl("bundle", "--bogus").returncode == Exit.USAGE
    assert chargerctl("bundle", "--version").returncode == Exit.USAGE  # the value is missing
    f = tmp_path / "file"
    f.write_text("x")
    assert chargerctl("bundle", "--firmware", f).returncode == Exit.USAGE  # not a folder


def test_reader_refuses_every_corruption(todays):
    data = bytearray(todays)
    first = data.index(b"\n") + 1
    body = data.index(b"\n", first) + 1

    def refused(bad: bytes, why: str) -> None:
        with pytest.raises(BundleInvalid, match=why):
            read_bundle(bytes(bad))

    flipped = bytearray(data)
    flipped[body + 10] ^= 1
    refused(flipped, "bad file sha256")
    refused(data[:data.rindex(b" ") + 1] + b"0" * 64 + b"\n", "bad bundle sha256")
    refused(data[:len(data) // 2], "truncated")
    refused(data + b"x", "bytes after the end")
    refused(b"evse-bundle 2 0.1.0\n" + data[first:], "not an evse-bundle 1")
    with pytest.raises(Exception, match="plain relative path"):
        encode("0.2.0", {"../main.py": b""})
    with pytest.raises(Exception, match="plain relative path"):
        encode("0.2.0", {"lib/a b.mpy": b""})
    refused(encode("0.2.0", {"main.py": b"x"}).replace(b"main.py", b"/ain.py"), "bad path")
    with pytest.raises(Exception, match="more than a board takes"):
        encode("0.2.0", {f"lib/m{i}.mpy": b"" for i in range(201)})


STAGE = """
import sys
from evse import bundle
s = bundle.Stager("slot")
buf = bytearray(int(sys.argv[2]))
with open(sys.argv[1], "rb") as f:
    while True:
        n = f.readinto(buf)
        if not n:
            break
        s.feed(memoryview(buf)[:n])
print("version", s.finish())
"""


@pytest.mark.parametrize("chunk", [1000, 4096])
def test_the_boards_stager_writes_what_the_host_built(tmp_path, todays, chunk):
    """Today's real bundle through evse.bundle in MicroPython: every file lands in the slot
    (lib/ as its root) with the host's bytes."""
    (tmp_path / "b.bundle").write_bytes(todays)
    (tmp_path / "stage.py").write_text(STAGE)
    (tmp_path / "slot").mkdir()
    env = dict(os.environ, MICROPYPATH=str(FIRMWARE_DIR))
    proc = subprocess.run([micropython_binary(), "stage.py", "b.bundle", str(chunk)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"version {firmware_version()}" in proc.stdout, proc.stdout + proc.stderr
    _, files = read_bundle(todays)
    for path, data in files.items():
        assert (tmp_path / "slot" / path.removeprefix("lib/")).read_bytes() == data, path
    written = [p for p in (tmp_path / "slot").rglob("*") if p.is_file()]
    assert len(written) == len(files)


def test_todays_bundle_size(todays):
    """Reported in firmware/README.md ("Updates"): the bundle is ~100 KB, far under the board's
    1 MB limit; the board never holds it whole."""
    assert 50_000 < len(todays) < 400_000
    print("today's bundle:", len(todays), "bytes")


def test_update_trial_s_is_checked_on_the_host_before_a_flash():
    """config.json's update_trial_s (evse.config, run by the host tools in the unix port)."""
    from host_tools.board_files import check_config, load_board
    from host_tools.deploy_errors import ConfigInvalid

    board, _ = load_board("unix-sim")
    good = {"charge_point_id": "CP-1", "csms_url": "ws://127.0.0.1:9/ocpp", "public_code": "ABC1"}
    assert check_config({**good, "update_trial_s": 600}, board)["update_trial_s"] == 600
    for bad in (9, 3601, "300", 1.5, True):
        with pytest.raises(ConfigInvalid) as e:
            check_config({**good, "update_trial_s": bad}, board)
        assert e.value.errors[0][0] == "update_trial_s" and "10..3600" in e.value.errors[0][1]
