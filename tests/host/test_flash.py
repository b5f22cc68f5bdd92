"""`chargerctl flash` against virtual boards through real mpremote on a pseudo-terminal.

The firmware is a copy of the repository's real firmware (compiled by the real mpy-cross): a
successful flash boots evse.app, whose console answers the probe (host_tools.board_probe), so
a test sees which code booted (its version) and what the board says it holds (the digest of
its deploy record).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from host_tools import flash as fl
from host_tools.board_probe import probe
from host_tools.exits import Exit
from tests.host.conftest import CHARGERCTL, chargerctl, require_schema, snapshot, unix_sim_board


def _flash(port, config_file, firmware, *extra, as_json=True):
    return chargerctl("flash", "--port", port, "--board", "unix-sim", "--config", config_file,
                      "--firmware-dir", firmware, *(["--json"] if as_json else []), *extra)


def _results(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _wanted(firmware, good_config) -> dict[str, bytes]:
    board, raw = fl.load_board("unix-sim")
    files = dict(fl.build_image(firmware).files)
    files["board.json"] = raw
    files["config.json"] = fl.config_bytes(fl.check_config(good_config, board))
    return files


def _running(vb, mark: int):
    """The app that booted after `mark`, as its console answers the probe."""
    vb.wait_for_console("app started", timeout=20, since=mark)
    state = probe(vb.port, timeout=5)
    assert state is not None, vb.console_text()[-800:]
    return state


def test_full_deploy_prints_progress_and_a_summary_then_the_app_boots(vboard, config_file,
                                                                     real_firmware, good_config):
    """The human output (not --json): one progress line per board on stderr, one summary line."""
    require_schema()
    mark = vboard.console_mark()
    proc = _flash(vboard.port, config_file, real_firmware, as_json=False)
    assert proc.returncode == 0, proc.stderr
    wanted = _wanted(real_firmware, good_config)
    total = sum(len(b) for b in wanted.values())
    summary = re.fullmatch(rf"{re.escape(vboard.port)}: ok: (\d+) file\(s\) copied \((\d+) bytes\), "
                           r"0 unchanged, 0 removed, [\d.]+ s, restarted", proc.stdout.strip())
    assert summary, proc.stdout
    assert (int(summary[1]), int(summary[2])) == (len(wanted), total)
    # rich's progress line as it ends: port, full bar, bytes done of bytes to copy, "done"
    kb = f"{total / 1000:.1f}/{total / 1000:.1f} kB"
    assert re.search(rf"{re.escape(vboard.port)} .*{re.escape(kb)} done", proc.stderr), proc.stderr

    flash = vboard.flash_dir
    for path, data in wanted.items():
        assert (flash / path).read_bytes() == data, path
    assert not (flash / "lib/evse/connector.py").exists()
    assert (flash / "board.json").read_bytes() == unix_sim_board().read_bytes()
    assert json.loads((flash / "config.json").read_text())["public_code"] == "ABC123"
    assert (flash / "deploy.json").read_bytes() == fl.deploy_record(wanted)
    vboard.wait_boot(2)
    state = _running(vboard, mark)
    assert state.data["charge_point_id"] == "CP-TEST-1"
    assert state.deploy_digest == fl.record_digest(wanted)


def test_a_flash_that_would_copy_nothing_does_not_touch_the_board(vboard, config_file, real_firmware):
    """Issue 11: "a flash that copied 0 files still restarted the board"."""
    require_schema()
    mark = vboard.console_mark()
    assert _flash(vboard.port, config_file, real_firmware).returncode == 0
    _running(vboard, mark)
    boots, mark = vboard.boots, vboard.console_mark()
    proc = _flash(vboard.port, config_file, real_firmware, as_json=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{vboard.port}: up to date: nothing copied, board not interrupted"
    (res,) = _results(_flash(vboard.port, config_file, real_firmware))
    assert res["up_to_date"] is True and res["copied"] == [] and res["restarted"] is False
    assert vboard.boots == boots
    assert "not logged" not in vboard.console_text()[mark:]  # the raw REPL was never entered


def test_incremental_deploy_copies_exactly_the_changed_file(vboard, config_file, real_firmware):
    require_schema()
    mark = vboard.console_mark()
    assert _flash(vboard.port, config_file, real_firmware).returncode == 0
    assert _running(vboard, mark).data["version"] != "9.9.9-test"
    boot_py = real_firmware / "evse" / "boot.py"
    boot_py.write_text(re.sub(r'VERSION = ".*"', 'VERSION = "9.9.9-test"', boot_py.read_text()))
    mark = vboard.console_mark()
    proc = _flash(vboard.port, config_file, real_firmware)
    assert proc.returncode == 0, proc.stderr
    (res,) = _results(proc)
    assert res["copied"] == ["lib/evse/boot.mpy"]
    assert res["unchanged"] == len(fl.build_image(real_firmware).files) + 1  # + board, config
    assert res["removed"] == [] and res["restarted"] is True
    assert _running(vboard, mark).data["version"] == "9.9.9-test"  # the new code booted


def test_full_compares_every_hash_behind_the_records_back(vboard, config_file, real_firmware):
    """The record is trusted by default; --full finds a file changed on the board since."""
    require_schema()
    mark = vboard.console_mark()
    assert _flash(vboard.port, config_file, real_firmware).returncode == 0
    _running(vboard, mark)
    tampered = vboard.flash_dir / "lib/evse/console.mpy"
    tampered.write_bytes(b"t" * tampered.stat().st_size)  # same name and size: the record is trusted
    (res,) = _results(_flash(vboard.port, config_file, real_firmware))
    assert res["up_to_date"] is True
    (res,) = _results(_flash(vboard.port, config_file, real_firmware, "--full"))
    assert res["copied"] == ["lib/evse/console.mpy"], res


def test_a_stray_file_under_lib_evse_is_not_up_to_date(vboard, config_file, real_firmware):
    """A stray lib/evse/app.py (copied by mpremote, say) shadows app.mpy: the deploy record
    alone would call the board up to date and leave it there. The digest covers the names
    and sizes under lib/evse, so flash does its full compare and removes the stray file."""
    require_schema()
    mark = vboard.console_mark()
    assert _flash(vboard.port, config_file, real_firmware).returncode == 0
    _running(vboard, mark)
    stray = vboard.flash_dir / "lib/evse/app.py"
    stray.write_text("print('stray app')\n")
    mark = vboard.console_mark()
    proc = _flash(vboard.port, config_file, real_firmware, as_json=False)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" not in proc.stdout
    assert re.fullmatch(rf"{re.escape(vboard.port)}: ok: 0 file\(s\) copied \(0 bytes\), \d+ unchanged, "
                        r"1 removed, [\d.]+ s, restarted", proc.stdout.strip()), proc.stdout
    assert not stray.exists()
    _running(vboard, mark)
    (res,) = _results(_flash(vboard.port, config_file, real_firmware))  # and now it is
    assert res["up_to_date"] is True


def test_a_missing_file_under_lib_evse_is_copied_again(vboard, config_file, real_firmware):
    require_schema()
    mark = vboard.console_mark()
    assert _flash(vboard.port, config_file, real_firmware).returncode == 0
    _running(vboard, mark)
    (vboard.flash_dir / "lib/evse/log.mpy").unlink()
    (res,) = _results(_flash(vboard.port, config_file, real_firmware))
    assert res["up_to_date"] is False and res["copied"] == ["lib/evse/log.mpy"], res


def test_stale_files_under_lib_evse_are_removed(vboard, config_file, real_firmware):
    require_schema()
    (real_firmware / "evse" / "extra.py").write_text("X = 1\n")
    assert _flash(vboard.port, config_file, real_firmware).returncode == 0
    vboard.wait_boot(2)
    (real_firmware / "evse" / "extra.py").unlink()
    (vboard.flash_dir / "lib/evse/old").mkdir()
    (vboard.flash_dir / "lib/evse/old/gone.py").write_text("x = 1\n")
    (vboard.flash_dir / "keep.txt").write_text("not ours")
    (res,) = _results(_flash(vboard.port, config_file, real_firmware))
    assert sorted(res["removed"]) == ["lib/evse/extra.mpy", "lib/evse/old/", "lib/evse/old/gone.py"]
    assert not (vboard.flash_dir / "lib/evse/old").exists()
    assert (vboard.flash_dir / "keep.txt").exists()  # only lib/evse is ours to clean


@pytest.mark.parametrize(("url", "says"), [
    ("http://example.com/ocpp", "ws://"),
    ("ws://127.0.0.1:8180/ocpp/CP-TEST-1", "write ws://127.0.0.1:8180/ocpp"),
    ("ws://127.0.0.1:99999/ocpp", "port '99999' must be a number 1..65535"),
])
def test_bad_csms_url_is_refused_with_the_reason_and_nothing_written(vboard, tmp_path, real_firmware,
                                                                     good_config, url, says):
    require_schema()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(good_config, csms_url=url)))
    before = snapshot(vboard.flash_dir)
    proc = _flash(vboard.port, bad, real_firmware)
    assert proc.returncode == fl.ConfigInvalid.exit_code == Exit.CONFIG
    assert "csms_url" in proc.stderr and says in proc.stderr
    assert "nothing was written" in proc.stderr
    assert snapshot(vboard.flash_dir) == before
    assert vboard.boots == 1  # the board was not even touched


def test_secret_in_a_bad_config_is_not_echoed(vboard, tmp_path, real_firmware, good_config):
    require_schema()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(good_config, authorization_key="tooshort-SECRET")))
    proc = _flash(vboard.port, bad, real_firmware)
    assert proc.returncode == Exit.CONFIG
    assert "authorization_key" in proc.stderr
    assert "tooshort-SECRET" not in proc.stderr + proc.stdout


def test_missing_micropython_is_a_sentence_and_its_own_exit_code(vboard, config_file, real_firmware):
    """Issue 11: `MICROPYTHON=/nope/micropython chargerctl flash ...` ended in a traceback."""
    require_schema()
    proc = subprocess.run([*CHARGERCTL, "flash", "--port", vboard.port, "--board", "unix-sim",
                           "--config", str(config_file), "--firmware-dir", str(real_firmware)],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, MICROPYTHON="/nope/micropython"))
    assert proc.returncode == Exit.TOOL_MISSING, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "MICROPYTHON=/nope/micropython" in proc.stderr and "make setup" in proc.stderr


def test_board_file_refused_by_schema_writes_nothing(vboard, tmp_path, config_file, real_firmware):
    require_schema()
    board = json.loads(unix_sim_board().read_text())
    board["connectors"] = []  # schema: at least one connector
    bad_board = tmp_path / "broken-board.json"
    bad_board.write_text(json.dumps(board))
    before = snapshot(vboard.flash_dir)
    proc = chargerctl("flash", "--port", vboard.port, "--board", bad_board, "--config", config_file,
                      "--firmware-dir", real_firmware)
    assert proc.returncode == Exit.BOARD_FILE, proc.stderr
    assert "connectors" in proc.stderr
    assert snapshot(vboard.flash_dir) == before


def test_unknown_board_name_lists_the_known_ones(vboard, config_file, real_firmware):
    require_schema()
    proc = chargerctl("flash", "--port", vboard.port, "--board", "no-such-board",
                      "--config", config_file, "--firmware-dir", real_firmware)
    assert proc.returncode == Exit.BOARD_FILE
    assert "unix-sim" in proc.stderr


def test_unreachable_port_is_its_own_exit_code(tmp_path, config_file, real_firmware):
    require_schema()
    proc = _flash(str(tmp_path / "no-such-tty"), config_file, real_firmware)
    assert proc.returncode == Exit.UNREACHABLE
    (res,) = _results(proc)
    assert res["ok"] is False and "cannot open" in res["error"]


def test_two_boards_flash_in_parallel(boards, tmp_path, config_file, real_firmware):
    require_schema()
    a, b = boards(tmp_path / "a"), boards(tmp_path / "b")
    proc = chargerctl("flash", "--port", a.port, "--port", b.port, "--board", "unix-sim",
                      "--config", config_file, "--firmware-dir", real_firmware, "--json")
    assert proc.returncode == 0, proc.stderr
    assert {r["port"] for r in _results(proc)} == {a.port, b.port}, (proc.stdout, proc.stderr)
    for vb in (a, b):
        vb.wait_boot(2)
        assert _running(vb, 0).data["charge_point_id"] == "CP-TEST-1"


def test_deploy_api_is_the_same_path(vboard, real_firmware, good_config):
    """host_tools.flash.deploy, as make demo and the e2e tests call it."""
    require_schema()
    board, raw = fl.load_board("unix-sim")
    cfg = fl.check_config(good_config, board, firmware_dir=real_firmware)
    mark = vboard.console_mark()
    first = fl.deploy(vboard.port, fl.build_image(real_firmware), raw, cfg)
    assert first.restarted and "config.json" in first.copied
    _running(vboard, mark)
    again = fl.deploy(vboard.port, fl.build_image(real_firmware), raw, cfg, restart=False)
    assert again.up_to_date and again.copied == [] and not again.restarted


def test_flash_board_one_call(vboard, good_config):
    """The one-call form used by make demo: name of the board, config dict."""
    require_schema()
    mark = vboard.console_mark()
    result = fl.flash_board(vboard.port, "unix-sim", good_config)
    assert "main.py" in result.copied and result.restarted
    _running(vboard, mark)


WATCHDOG_APP = """\
from evse.hal.watchdog import Watchdog
class Dog:
    feeds = 0
    def __init__(self, timeout_ms):
        pass
    def feed(self):
        Dog.feeds += 1
class Board:
    pass
board = Board()
board.watchdog = Watchdog(Dog, 30000)
"""


def _watchdog_board(boards, tmp_path, started: bool):
    flash = tmp_path / "flash"
    (flash / "lib" / "evse" / "hal").mkdir(parents=True)
    (flash / "lib" / "evse" / "__init__.py").write_text("")
    (flash / "lib" / "evse" / "hal" / "__init__.py").write_text("")
    from host_tools import FIRMWARE_DIR

    (flash / "lib" / "evse" / "hal" / "watchdog.py").write_text(
        (FIRMWARE_DIR / "evse" / "hal" / "watchdog.py").read_text())
    (flash / "lib" / "evse" / "app.py").write_text(WATCHDOG_APP)
    start = "app.board.watchdog.feed()\n" if started else ""
    (flash / "main.py").write_text("import time\nfrom evse import app\n" + start +
                                   "print('DOG READY')\nwhile True:\n    time.sleep(0.05)\n")
    vb = boards(flash)
    vb.wait_for_console("DOG READY")
    return vb


def test_a_running_watchdog_is_fed_while_the_host_holds_the_repl(boards, tmp_path):
    """machine.WDT cannot be stopped: a deploy must keep feeding it or the board resets."""
    from host_tools.board_link import BoardLink

    vb = _watchdog_board(boards, tmp_path, started=True)
    with BoardLink(vb.port) as link:
        link.keepalive()
        assert link.eval("__import__('sys').modules['evse.app'].Dog.feeds") == 2


def test_a_stopped_watchdog_is_not_started_by_the_host(boards, tmp_path):
    """Maintenance mode runs without a watchdog; the host must not start one."""
    from host_tools.board_link import BoardLink

    vb = _watchdog_board(boards, tmp_path, started=False)
    with BoardLink(vb.port) as link:
        link.keepalive()
        assert link.eval("__import__('sys').modules['evse.app'].board.watchdog.running") is False


def test_a_base64_write_survives_the_watchdog_feed(boards, tmp_path):
    """The feed ran between the base64 writer's open and its first chunk and deleted the
    writer (`config set`: NameError: name '_w' isn't defined) whenever evse.app was loaded."""
    from host_tools.board_link import BoardLink

    vb = _watchdog_board(boards, tmp_path, started=True)
    data = bytes(range(256)) * 20  # several 2 KB chunks
    with BoardLink(vb.port) as link:
        link.write_file("blob.bin", data, compress=False)
        assert link.eval("__import__('sys').modules['evse.app'].Dog.feeds") >= 2
    assert (vb.flash_dir / "blob.bin").read_bytes() == data


def test_esptool_failure_is_its_own_exit_code(tmp_path, config_file, firmware):
    """With --image esptool runs first; a port it cannot open ends with exit 7, nothing else."""
    require_schema()
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    proc = chargerctl("flash", "--port", str(tmp_path / "ttyUSB-none"), "--board", "unix-sim",
                      "--config", config_file, "--firmware-dir", firmware, "--image", image, "--json")
    assert proc.returncode == Exit.ESPTOOL, proc.stderr
    (res,) = _results(proc)
    assert "esptool failed" in res["error"]


def test_board_that_cannot_load_the_mpy_version_is_refused_before_writing(vboard, good_config):
    """An image compiled for another .mpy version (as for an old MicroPython) is not copied."""
    require_schema()
    board, raw = fl.load_board("unix-sim")
    image = fl.Image({"main.py": b"print(1)\n", "lib/evse/x.mpy": b"M\x05\x00\x1f"})
    before = snapshot(vboard.flash_dir)
    try:
        fl.deploy(vboard.port, image, raw, fl.check_config(good_config, board))
    except fl.Incompatible as e:
        assert e.exit_code == 10
        assert ".mpy version 6" in str(e) and "--image" in e.hint
    else:
        raise AssertionError("deploy accepted an image the board cannot load")
    assert snapshot(vboard.flash_dir) == before
