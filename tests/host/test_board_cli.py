"""`chargerctl board reset|ls`, `logs`, `devices`, `virtual-board` and the exit-code table, on
virtual boards running the real firmware."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools import exits
from host_tools import flash as fl
from host_tools.board_probe import probe
from host_tools.exits import Exit
from tests.host.conftest import CHARGERCTL, chargerctl, require_schema, snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_board_reset_restarts_the_app(flashed):
    boots, mark = flashed.boots, flashed.console_mark()
    proc = chargerctl("board", "reset", "--port", flashed.port)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{flashed.port}: restarting (the app was running)."
    flashed.wait_boot(boots + 1)
    flashed.wait_for_console("app started", timeout=20, since=mark)


def test_board_ls_lists_files_with_sizes_and_restarts(flashed):
    mark = flashed.console_mark()
    proc = chargerctl("board", "ls", "--port", flashed.port, "lib/evse")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line.split()[0] for line in proc.stdout.splitlines()[:-1]}
    app = flashed.flash_dir / "lib/evse/app.mpy"
    assert rows["lib/evse/app.mpy"] == str(app.stat().st_size)
    assert rows["lib/evse/ocpp/"] == "-"
    files = [p for p in (flashed.flash_dir / "lib/evse").rglob("*") if p.is_file()]
    assert proc.stdout.splitlines()[-1] == (f"{len(files)} file(s), "
                                            f"{sum(p.stat().st_size for p in files)} bytes")
    flashed.wait_for_console("app started", timeout=20, since=mark)

    listed = json.loads(chargerctl("board", "ls", "--port", flashed.port, "--json").stdout)
    by_path = {e["path"]: e for e in listed}
    assert by_path["config.json"]["size"] == (flashed.flash_dir / "config.json").stat().st_size
    assert by_path["deploy.json"]["dir"] is False and by_path["lib"]["dir"] is True


def test_board_ls_of_nothing_is_nothing_found(flashed):
    proc = chargerctl("board", "ls", "--port", flashed.port, "no/such/folder")
    assert proc.returncode == Exit.NOTHING_FOUND
    assert "nothing at no/such/folder" in proc.stderr


def test_logs_says_where_it_listens_and_shows_the_backlog_first(flashed):
    """The backlog (the virtual board's console log) comes first, then what the firmware
    prints while it listens; the firmware is not interrupted."""
    boots = flashed.boots
    logs = subprocess.Popen([*CHARGERCTL, "logs", "--port", flashed.port, "--duration", "4",
                             "--backlog", "5", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    # Something for the firmware to print while logs listens: a probe's answer (the probe
    # cannot open the port while logs holds it, so ask through the sim control server).
    from host_tools.sim_client import SimClient

    with SimClient(flashed.control_port, connect_wait=5) as sim:
        sim.plug(2, False)
    out, err = logs.communicate(timeout=30)
    assert logs.returncode == 0, err
    assert err.startswith(f"listening on {flashed.port}, Ctrl-C to stop")
    lines = [json.loads(x) for x in out.splitlines()]
    backlog = [x for x in lines if x["backlog"]]
    assert len(backlog) == 5 and all(x["time"] is None for x in backlog)
    assert lines[:5] == backlog  # first
    live = [x["line"] for x in lines if not x["backlog"]]
    assert any("sim plug=2" in line for line in live), live
    assert flashed.boots == boots


def test_logs_on_a_port_that_does_not_exist(tmp_path):
    proc = chargerctl("logs", "--port", tmp_path / "ttyUSB9", "--duration", "1")
    assert proc.returncode == Exit.UNREACHABLE
    assert "cannot open" in proc.stderr and "chargerctl devices" in proc.stderr


def test_devices_exits_nothing_found_when_there_is_no_board():
    from serial.tools import list_ports

    if any(p.vid is not None for p in list_ports.comports()):
        pytest.skip("this machine has a USB serial port")
    proc = chargerctl("devices")
    assert proc.returncode == Exit.NOTHING_FOUND
    assert "no USB serial boards found" in proc.stderr
    assert "COM3" in proc.stderr and "/dev/cu.SLAB_USBtoUART" in proc.stderr
    proc = chargerctl("devices", "--json")
    assert proc.returncode == Exit.NOTHING_FOUND and json.loads(proc.stdout) == []


def test_virtual_board_with_invalid_json_names_line_and_column(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"charge_point_id": "CP-1",\n "csms_url": "ws://127.0.0.1:8180/ocpp"\n'
                   ' "public_code": "ABC123"}\n')
    proc = chargerctl("virtual-board", "--config", bad, "--flash-dir", tmp_path / "vb", timeout=30)
    assert proc.returncode == Exit.CONFIG, proc.stderr
    assert f"{bad} is not valid JSON: Expecting ',' delimiter at line 3, column 2" in proc.stderr
    assert "writable" not in proc.stderr
    assert not (tmp_path / "vb").exists()


def test_virtual_board_without_micropython_is_tool_missing(tmp_path, config_file):
    proc = subprocess.run([*CHARGERCTL, "virtual-board", "--config", str(config_file),
                           "--flash-dir", str(tmp_path / "vb")], capture_output=True, text=True,
                          timeout=30, env={"MICROPYTHON": "/nope/micropython", "PATH": "/usr/bin"})
    assert proc.returncode == Exit.TOOL_MISSING, proc.stderr
    assert "/nope/micropython" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["flash"], ["config", "get"], ["config", "set"], ["commission"],
                                  ["logs"], ["devices"], ["virtual-board"], ["board", "reset"],
                                  ["board", "ls"], ["charger", "limit"], ["charger", "update"],
                                  ["charger", "diagnostics"]])
def test_help_lists_the_exit_codes_from_the_one_table(argv):
    proc = subprocess.run([*CHARGERCTL, *argv, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    block = proc.stdout.split("Exit codes:", 1)[1]
    rows = re.findall(r"^\s+(\d+)\s+(.+)$", block, re.M)
    assert rows and all(exits.TABLE[Exit(int(code))] == text.strip() for code, text in rows), rows
    assert ("0", exits.TABLE[Exit.OK]) in rows


def test_port_help_names_the_ports_of_each_os():
    text = subprocess.run([*CHARGERCTL, "config", "get", "--help"], capture_output=True,
                          text=True, timeout=30).stdout
    text = " ".join(text.split())
    for name in ("/dev/ttyUSB0", "/dev/cu.usbserial-*", "/dev/cu.SLAB_USBtoUART", "COM3"):
        assert name in text


def test_readme_prints_the_exit_code_table():
    """README and --help print from the same table (host_tools.exits)."""
    assert exits.markdown() in (ROOT / "README.md").read_text()


def test_every_board_exit_code_is_one_of_the_table():
    assert sys.modules["host_tools.exits"].Exit is Exit
    for cls in (fl.ConfigInvalid, fl.BoardFileInvalid, fl.Unreachable, fl.TransferFailed,
                fl.EsptoolFailed, fl.BuildFailed, fl.Incompatible, fl.TransactionOpen,
                fl.ToolMissing):
        assert isinstance(cls.exit_code, Exit), cls


def test_probe_of_a_board_at_its_repl_answers_nothing_at_once(vboard):
    """A blank board (MicroPython only) echoes the probe as a comment: no app, no wait."""
    t0 = time.monotonic()
    assert probe(vboard.port) is None
    assert time.monotonic() - t0 < 1.0


def test_refusal_sentence_names_every_open_session():
    from host_tools.board_probe import BoardState

    state = BoardState({"connectors": [[1, "SuspendedEV"], [2, "Charging"]], "transactions": [
        {"connector": 1, "ref": 3, "id_tag": "TAG1", "start_wh": 100, "meter_wh": 350.4},
        {"connector": 2, "ref": 7, "id_tag": "ABC", "start_wh": 1000, "meter_wh": 2234}]})
    assert state.refusal() == (
        "connector 1 is in a session (paused by the EV) (transaction ref 3, idTag 'TAG1', 250 Wh); "
        "connector 2 is charging (transaction ref 7, idTag 'ABC', 1.2 kWh): a restart would end "
        "the drivers' sessions. Wait for it to end, or use --force.")
    assert state.refusal({2}).startswith("connector 2 is charging")
    assert BoardState({"connectors": [[1, "Available"]], "transactions": []}).refusal() is None


# A board whose app runs but does not answer the probe: older firmware without the console
# task, or one too busy to answer (it may be charging). Nothing on it reads the console.
SILENT_MAIN = """\
import time
print("SILENT APP UP")
while True:
    time.sleep(0.05)
"""
CRASHED_MAIN = 'print("CRASHING")\nraise OSError("meter lost")\n'


def _board_with_main(boards, tmp_path, main: str, ready: str):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(main)
    vb = boards(flash)
    vb.wait_for_console(ready, timeout=10)
    return vb


@pytest.mark.parametrize("argv", [["board", "reset"], ["config", "get"], ["board", "ls"]])
def test_silence_is_refused_not_taken_for_a_stopped_app(boards, tmp_path, argv):
    """Silence is not "nothing to interrupt": the board is asked twice, then the command refuses
    with a sentence and its own exit code; the app is never interrupted."""
    vb = _board_with_main(boards, tmp_path, SILENT_MAIN, "SILENT APP UP")
    boots, mark = vb.boots, vb.console_mark()
    t0 = time.monotonic()
    proc = chargerctl(*argv, "--port", vb.port)
    assert proc.returncode == Exit.STATE_UNKNOWN, (proc.stdout, proc.stderr)
    assert time.monotonic() - t0 >= 4.0  # 1.5 s, then a second question with 3 s
    assert ("the board did not answer the firmware's status question; it may be busy or running "
            "older firmware: a restart could end a charging session. Try again, or use --force."
            ) in " ".join(proc.stderr.split())
    time.sleep(0.5)
    assert vb.boots == boots and "Traceback" not in vb.console_text()[mark:]
    assert "KeyboardInterrupt" not in vb.console_text()[mark:]


def test_silence_with_force_interrupts(boards, tmp_path):
    vb = _board_with_main(boards, tmp_path, SILENT_MAIN, "SILENT APP UP")
    boots = vb.boots
    proc = chargerctl("board", "reset", "--port", vb.port, "--force")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{vb.port}: restarting (the app's state was unknown)."
    vb.wait_boot(boots + 1)


def test_flash_refuses_a_silent_board(boards, tmp_path, config_file):
    require_schema()
    vb = _board_with_main(boards, tmp_path, SILENT_MAIN, "SILENT APP UP")
    before = snapshot(vb.flash_dir)
    proc = chargerctl("flash", "--port", vb.port, "--board", "unix-sim", "--config", config_file)
    assert proc.returncode == Exit.STATE_UNKNOWN, (proc.stdout, proc.stderr)
    assert "did not answer the firmware's status question" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert snapshot(vb.flash_dir) == before and vb.boots == 1


def test_flash_image_takes_a_silent_board_for_a_blank_esp32(boards, tmp_path, config_file):
    """A blank ESP32 cannot answer the probe: with --image, silence does not stop esptool (on a
    virtual board esptool's own refusal, exit 7, shows the probe let it through)."""
    require_schema()
    vb = _board_with_main(boards, tmp_path, SILENT_MAIN, "SILENT APP UP")
    image = tmp_path / "ESP32_GENERIC.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    proc = chargerctl("flash", "--port", vb.port, "--board", "unix-sim", "--config", config_file,
                      "--image", str(image))
    assert proc.returncode == Exit.ESPTOOL, (proc.stdout, proc.stderr)
    assert "has no ROM bootloader" in proc.stderr


def test_an_app_crashed_to_the_repl_is_not_running(boards, tmp_path):
    """Positive evidence: the REPL the crash left echoes the probe, so no --force is needed."""
    vb = _board_with_main(boards, tmp_path, CRASHED_MAIN, "CRASHING")
    vb.wait_for_console("meter lost", timeout=10)
    assert probe(vb.port) is None
    proc = chargerctl("board", "reset", "--port", vb.port)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{vb.port}: restarting (the app was not running)."


def test_a_blank_board_is_reset_without_force(vboard):
    proc = chargerctl("board", "reset", "--port", vboard.port)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{vboard.port}: restarting (the app was not running)."


def test_an_error_answer_is_refused_as_state_unknown(flashed):
    """The real firmware cannot read a transaction file (KeyError in its answer): it says so
    and keeps serving; the host takes it as "the app runs, its state is unknown"."""
    (flashed.flash_dir / "data").mkdir(exist_ok=True)
    (flashed.flash_dir / "data/tx1.json").write_text('{"r": 7}')
    boots = flashed.boots
    state = probe(flashed.port)
    assert state is not None and state.error and state.error.startswith("KeyError"), state
    proc = chargerctl("board", "reset", "--port", flashed.port)
    assert proc.returncode == Exit.STATE_UNKNOWN, (proc.stdout, proc.stderr)
    assert "the board's firmware could not report its state (KeyError" in proc.stderr
    assert "Try again, or use --force." in " ".join(proc.stderr.split())
    assert flashed.boots == boots
    (flashed.flash_dir / "data/tx1.json").unlink()
    assert probe(flashed.port).transactions == []  # the console task still serves


def _help(*argv: str) -> str:
    proc = subprocess.run([*CHARGERCTL, *argv, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("argv", [["config", "get"], ["config", "set"], ["commission"]])
def test_help_lists_the_build_exit_of_the_firmware_config_check(argv):
    """config set and commission check a config with the firmware's own rules, which ends in
    BuildFailed (exit 8) when the check itself fails: their --help must say so."""
    codes = re.findall(r"^\s+(\d+)\s", _help(*argv).split("Exit codes:", 1)[1], re.M)
    assert str(int(Exit.BUILD)) in codes, codes


def test_commission_help_says_when_the_board_is_restarted():
    """It is restarted only when it was read through the REPL, not 'after its config is read'
    (a running firmware is asked and never restarted)."""
    text = " ".join(_help("commission").split())
    assert "The board is restarted after its config is read" not in text
    assert ("Only a board at its REPL (blank, or its app crashed) is read through the raw REPL "
            "and then restarted.") in text
    assert "with --force a board that does not answer is interrupted, read and restarted" in text


def test_board_files_does_not_import_flash():
    """board_files <-> flash was a circle hidden by imports inside functions: the deploy
    errors live in host_tools.deploy_errors, which both import; flash re-exports them."""
    import ast

    from host_tools import board_files, deploy_errors

    tree = ast.parse(Path(board_files.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "host_tools.flash" not in imported, imported
    for name in ("DeployError", "ConfigInvalid", "BoardFileInvalid", "BuildFailed", "ToolMissing",
                 "TransactionOpen", "StateUnknown", "Unreachable"):
        assert getattr(fl, name) is getattr(deploy_errors, name), name


def test_an_app_halted_on_a_bad_config_answers_and_is_not_refused(flashed):
    """An invalid config.json (written behind flash's back) halts the app with every relay
    open: it still answers the probe ("halted"), so a fix needs no --force."""
    cfg = json.loads((flashed.flash_dir / "config.json").read_text())
    (flashed.flash_dir / "config.json").write_text(json.dumps(dict(cfg, csms_url="http://x")))
    boots, mark = flashed.boots, flashed.console_mark()
    flashed.kill()
    flashed.wait_boot(boots + 1)
    flashed.wait_for_console("config csms_url", timeout=20, since=mark)
    proc = chargerctl("board", "reset", "--port", flashed.port)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{flashed.port}: restarting (the app was not running)."
