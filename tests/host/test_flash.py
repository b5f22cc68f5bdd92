"""`chargerctl flash` against virtual boards through real mpremote on a pseudo-terminal.

The firmware is a copy of the repository's real evse package (compiled by the real mpy-cross)
with a main.py that prints a boot line, so a test sees exactly which code booted.
"""

from __future__ import annotations

import json
import time

from host_tools import flash as fl
from tests.host.conftest import chargerctl, require_schema, snapshot, unix_sim_board


def _flash(port, config_file, firmware, *extra):
    return chargerctl("flash", "--port", port, "--board", "unix-sim", "--config", config_file,
                      "--firmware-dir", firmware, "--json", *extra)


def _results(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_full_deploy_writes_image_board_and_config_then_boots(vboard, config_file, firmware):
    require_schema()
    mark = vboard.console_mark()
    proc = _flash(vboard.port, config_file, firmware)
    assert proc.returncode == 0, proc.stderr
    (res,) = _results(proc)
    flash = vboard.flash_dir
    image = fl.build_image(firmware)
    assert sorted(res["copied"]) == sorted([*image.files, "board.json", "config.json"])
    for path, data in image.files.items():
        assert (flash / path).read_bytes() == data, path
    assert (flash / "lib/evse/connector.mpy").exists()
    assert not (flash / "lib/evse/connector.py").exists()
    assert (flash / "main.py").read_text() == (firmware / "main.py").read_text()
    assert (flash / "board.json").read_bytes() == unix_sim_board().read_bytes()
    stored = json.loads((flash / "config.json").read_text())
    assert stored["public_code"] == "ABC123"  # normalised by the firmware's own rules
    # The restart boots what was flashed, imported from lib/ as .mpy.
    vboard.wait_boot(2)
    vboard.wait_for_console("BOOT CP-TEST-1 one", since=mark)


def test_incremental_deploy_copies_exactly_the_changed_file(vboard, config_file, firmware):
    require_schema()
    assert _flash(vboard.port, config_file, firmware).returncode == 0
    vboard.wait_boot(2)
    (firmware / "evse" / "testbuild.py").write_text('BUILD = "two"\n')
    mark = vboard.console_mark()
    t0 = time.monotonic()
    proc = _flash(vboard.port, config_file, firmware)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    (res,) = _results(proc)
    assert res["copied"] == ["lib/evse/testbuild.mpy"]
    assert res["unchanged"] == len(fl.build_image(firmware).files) + 1  # + board.json, config.json
    assert res["removed"] == []
    print(f"\nincremental deploy of one file: {res['seconds']:.3f} s on the board link, "
          f"{elapsed:.2f} s for the whole command")
    # restart boots the new code
    vboard.wait_boot(3)
    vboard.wait_for_console("BOOT CP-TEST-1 two", since=mark)


def test_stale_files_under_lib_evse_are_removed(vboard, config_file, firmware):
    require_schema()
    assert _flash(vboard.port, config_file, firmware).returncode == 0
    vboard.wait_boot(2)
    (firmware / "evse" / "testbuild.py").unlink()
    (firmware / "main.py").write_text("print('no marker')\n")
    (vboard.flash_dir / "lib/evse/old").mkdir()
    (vboard.flash_dir / "lib/evse/old/gone.py").write_text("x = 1\n")
    (vboard.flash_dir / "keep.txt").write_text("not ours")
    (res,) = _results(_flash(vboard.port, config_file, firmware))
    assert sorted(res["removed"]) == ["lib/evse/old/", "lib/evse/old/gone.py", "lib/evse/testbuild.mpy"]
    assert not (vboard.flash_dir / "lib/evse/old").exists()
    assert (vboard.flash_dir / "keep.txt").exists()  # only lib/evse is ours to clean


def test_bad_config_is_refused_with_key_and_reason_and_nothing_written(vboard, tmp_path, firmware, good_config):
    require_schema()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(good_config, csms_url="http://example.com/ocpp")))
    before = snapshot(vboard.flash_dir)
    proc = _flash(vboard.port, bad, firmware)
    assert proc.returncode == fl.ConfigInvalid.exit_code == 3
    assert "csms_url" in proc.stderr and "ws://" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert snapshot(vboard.flash_dir) == before
    assert vboard.boots == 1  # the board was not even touched


def test_secret_in_a_bad_config_is_not_echoed(vboard, tmp_path, firmware, good_config):
    require_schema()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(good_config, authorization_key="tooshort-SECRET")))
    proc = _flash(vboard.port, bad, firmware)
    assert proc.returncode == 3
    assert "authorization_key" in proc.stderr
    assert "tooshort-SECRET" not in proc.stderr + proc.stdout


def test_board_file_refused_by_schema_writes_nothing(vboard, tmp_path, config_file, firmware):
    require_schema()
    board = json.loads(unix_sim_board().read_text())
    board["connectors"] = []  # schema: at least one connector
    bad_board = tmp_path / "broken-board.json"
    bad_board.write_text(json.dumps(board))
    before = snapshot(vboard.flash_dir)
    proc = chargerctl("flash", "--port", vboard.port, "--board", bad_board, "--config", config_file,
                      "--firmware-dir", firmware)
    assert proc.returncode == 4, proc.stderr
    assert "connectors" in proc.stderr
    assert snapshot(vboard.flash_dir) == before


def test_unknown_board_name_lists_the_known_ones(vboard, config_file, firmware):
    require_schema()
    proc = chargerctl("flash", "--port", vboard.port, "--board", "no-such-board",
                      "--config", config_file, "--firmware-dir", firmware)
    assert proc.returncode == 4
    assert "unix-sim" in proc.stderr


def test_unreachable_port_is_its_own_exit_code(tmp_path, config_file, firmware):
    require_schema()
    proc = _flash(str(tmp_path / "no-such-tty"), config_file, firmware)
    assert proc.returncode == 5
    (res,) = _results(proc)
    assert res["ok"] is False and "cannot open" in res["error"]


def test_two_boards_flash_in_parallel(boards, tmp_path, config_file, firmware):
    require_schema()
    a, b = boards(tmp_path / "a"), boards(tmp_path / "b")
    proc = chargerctl("flash", "--port", a.port, "--port", b.port, "--board", "unix-sim",
                      "--config", config_file, "--firmware-dir", firmware, "--json")
    assert proc.returncode == 0, proc.stderr
    results = _results(proc)
    assert {r["port"] for r in results} == {a.port, b.port}, (proc.stdout, proc.stderr)
    for vb in (a, b):
        vb.wait_boot(2)
        vb.wait_for_console("BOOT CP-TEST-1 one")


def test_deploy_api_is_the_same_path(vboard, firmware, good_config):
    """host_tools.flash.deploy, as make demo and the e2e tests call it."""
    require_schema()
    board, raw = fl.load_board("unix-sim")
    cfg = fl.check_config(good_config, board, firmware_dir=firmware)
    first = fl.deploy(vboard.port, fl.build_image(firmware), raw, cfg)
    assert first.restarted and "config.json" in first.copied
    vboard.wait_boot(2)
    again = fl.deploy(vboard.port, fl.build_image(firmware), raw, cfg, restart=False)
    assert again.copied == [] and not again.restarted


def test_flash_board_one_call(vboard, firmware, good_config):
    """The one-call form used by make demo: name of the board, config dict."""
    require_schema()
    mark = vboard.console_mark()
    result = fl.flash_board(vboard.port, "unix-sim", good_config, firmware_dir=firmware)
    assert "main.py" in result.copied and result.restarted
    vboard.wait_for_console("BOOT CP-TEST-1 one", since=mark)


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


def test_esptool_failure_is_its_own_exit_code(tmp_path, config_file, firmware):
    """With --image esptool runs first; a port it cannot open ends with exit 7, nothing else."""
    require_schema()
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    proc = chargerctl("flash", "--port", str(tmp_path / "ttyUSB-none"), "--board", "unix-sim",
                      "--config", config_file, "--firmware-dir", firmware, "--image", image, "--json")
    assert proc.returncode == 7, proc.stderr
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
