"""The firmware-test plugin itself: heap flag, tracebacks, process death."""

from pathlib import Path

from tests.mp_plugin import FIRMWARE_TESTS, parse_output, run_file

CASE = FIRMWARE_TESTS / "test_interpreter.py"


def test_mp_heap_reaches_the_interpreter():
    raw, _ = run_file(CASE, ["test_allocates_48k"], heap="16k")
    status, detail = parse_output(raw)["test_allocates_48k"]
    assert status == "FAIL"
    assert "MemoryError" in detail


def test_default_heap_fits_the_same_allocation():
    raw, _ = run_file(CASE, ["test_allocates_48k"])
    assert parse_output(raw)["test_allocates_48k"][0] == "PASS"


def test_failure_carries_the_micropython_traceback(tmp_path: Path):
    case = tmp_path / "test_broken.py"
    case.write_text("def test_broken():\n    {}['missing']\n")
    raw, _ = run_file(case, ["test_broken"])
    status, detail = parse_output(raw)["test_broken"]
    assert status == "FAIL"
    assert 'test_broken.py", line 2' in detail and "KeyError" in detail


def test_an_import_error_reports_no_result_and_keeps_the_output(tmp_path: Path):
    case = tmp_path / "test_import.py"
    case.write_text("import no_such_module\ndef test_never():\n    pass\n")
    raw, rc = run_file(case, ["test_never"])
    assert rc != 0
    assert "test_never" not in parse_output(raw)
    assert "no_such_module" in raw
