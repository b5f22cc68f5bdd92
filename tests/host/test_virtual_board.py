"""The virtual board: the unix port on a pseudo-terminal, driven by real mpremote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from mpremote.transport_serial import SerialTransport

from host_tools.board_link import BoardLink
from tests.host.conftest import CHARGERCTL

LOOP_MAIN = 'import time\nprint("MAIN STARTED")\nwhile True:\n    time.sleep(0.05)\n'


def test_blank_board_answers_raw_repl_in_its_flash_dir(vboard):
    """A blank flash dir is MicroPython and nothing else: no main.py, the REPL answers."""
    t = SerialTransport(vboard.port)
    try:
        t.enter_raw_repl(soft_reset=False)
        assert t.eval("1 + 1") == 2
        assert t.eval("__import__('os').getcwd()") == str(vboard.flash_dir)
        assert t.eval("__import__('sys').path[1:3]") == ["lib", ".frozen"]
        t.fs_writefile("hello.txt", b"hi")
    finally:
        t.close()
    assert (vboard.flash_dir / "hello.txt").read_bytes() == b"hi"


def test_running_main_is_interrupted_by_ctrl_c(boards, tmp_path):
    """main.py loops forever, as the firmware does; mpremote's Ctrl-C must still get in."""
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(LOOP_MAIN)
    vb = boards(flash)
    vb.wait_for_console("MAIN STARTED")
    with BoardLink(vb.port, timeout=5) as link:
        assert link.eval("'running' + ' repl'") == "running repl"
    assert vb.boots == 1  # interrupting is not a reset


def test_config_is_written_only_when_the_flash_has_none(boards, tmp_path):
    flash = tmp_path / "flash"
    vb = boards(flash, config={"charge_point_id": "A"})
    assert json.loads((flash / "config.json").read_text()) == {"charge_point_id": "A"}
    vb.stop()
    boards(flash, config={"charge_point_id": "B"})
    assert json.loads((flash / "config.json").read_text()) == {"charge_point_id": "A"}


def test_control_port_comes_from_config_sim(boards, tmp_path):
    vb = boards(tmp_path / "flash", config={"sim": {"control_port": 45123}})
    assert vb.control_port == 45123
    with BoardLink(vb.port) as link:
        assert link.eval("__import__('os').getenv('EVSE_SIM_PORT')") == "45123"


def test_reset_boots_again_from_the_flash_dir(boards, tmp_path):
    """Ending the interpreter is a reset: the board boots again and runs main.py."""
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(LOOP_MAIN)
    vb = boards(flash)
    vb.wait_for_console("MAIN STARTED")
    first_pid = vb.pid
    mark = vb.console_mark()
    BoardLink(vb.port).reset()
    vb.wait_boot(2)
    vb.wait_for_console("MAIN STARTED", since=mark)
    assert vb.pid != first_pid


def test_sigkill_power_loss_boots_with_the_same_flash(boards, tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(LOOP_MAIN)
    vb = boards(flash)
    with BoardLink(vb.port) as link:
        link.write_file("data/journal.json", b"[1, 2, 3]")
    mark = vb.console_mark()
    vb.kill()
    vb.wait_boot(2)
    vb.wait_for_console("MAIN STARTED", since=mark)
    with BoardLink(vb.port) as link:
        assert link.read_file("data/journal.json") == b"[1, 2, 3]"


def test_stop_and_start_again_keeps_the_flash(boards, tmp_path):
    flash = tmp_path / "flash"
    vb = boards(flash)
    with BoardLink(vb.port) as link:
        link.write_file("kept.txt", b"still here")
    vb.stop()
    vb2 = boards(flash)
    with BoardLink(vb2.port) as link:
        assert link.read_file("kept.txt") == b"still here"


def test_crash_loop_is_rate_limited(boards, tmp_path):
    """A main.py that ends the process at once must not respawn it in a tight loop.

    (sys.exit() in main.py only leaves the interpreter at the REPL under -i, as main.py
    ending does on an ESP32; firmware that must reset on the unix port ends the process.)"""
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text('import os\nos.system("kill -9 $PPID")\n')
    vb = boards(flash)
    time.sleep(1.5)
    assert 2 <= vb.boots <= 5, vb.boots


def test_cli_prints_the_port_and_mpremote_cli_uses_it(tmp_path):
    """`chargerctl virtual-board` + the mpremote command line, as a technician would."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"charge_point_id": "CP-CLI"}))
    flash = tmp_path / "vb"
    proc = subprocess.Popen([*CHARGERCTL, "virtual-board", "--config", cfg, "--flash-dir", flash,
                             "--json"], stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["port"].startswith("/dev/pts/")
        assert isinstance(info["control_port"], int)
        out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mpremote"),
                              "connect", info["port"], "resume", "fs", "cat", "config.json"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert "CP-CLI" in out.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert proc.returncode == 0
    assert "--- virtual board: boot 1 ---" in (flash / "console.log").read_bytes().decode(errors="replace")


def test_a_killed_host_process_leaves_no_board_running(tmp_path):
    """The interpreter dies with the process that runs the virtual board (no orphans)."""
    script = ("import sys, time\nfrom host_tools.virtual_board import VirtualBoard\n"
              f"vb = VirtualBoard({str(tmp_path / 'flash')!r}).start()\n"
              "print(vb.pid, flush=True)\ntime.sleep(60)\n")
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(host.stdout.readline())
        os.kill(pid, 0)  # running
    finally:
        host.kill()
        host.wait(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # dead, waiting for a reaper that may never come in a container
        except FileNotFoundError:
            return
        time.sleep(0.05)
    raise AssertionError(f"interpreter {pid} outlived its host process")


def test_connecting_right_after_a_reset_gets_in_at_once(boards, tmp_path):
    """A host tool that connects while the board reboots (flash, then config, then commission)
    must not lose its Ctrl-C to the boot: each connection gets the raw REPL on the first try."""
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(LOOP_MAIN)
    vb = boards(flash)
    for n in range(2, 6):
        BoardLink(vb.port).reset()
        t0 = time.monotonic()
        with BoardLink(vb.port, timeout=5) as link:
            assert link.eval("1") == 1
        assert time.monotonic() - t0 < 0.9  # a missed first attempt alone costs 1 s
        assert vb.boots == n
