"""pytest plugin: firmware tests that run inside MicroPython.

Each `tests/firmware/test_*.py` runs in one fresh `micropython` process (the unix port, or a
board through mpremote with `--board PORT`), with the firmware package on the import path.
Every `test_*` function becomes its own pytest item; a failure shows the MicroPython traceback.
Test names are read from the file with `ast`, so collection never starts an interpreter.
On the unix port every file runs twice: on the 64-bit PyPI port (`test_x`) and on the 32-bit
build from MicroPython's source (`test_x[unix32]`, see tests/builds.py; skipped, saying how to
build it, when `make test` was not given MPY_SRC).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.micropython import micropython_binary, micropython_path
from tests import builds

FIRMWARE_TESTS = Path(__file__).parent / "firmware"
SUPPORT = FIRMWARE_TESTS / "support"
_MARK = "@@MPTEST"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("micropython", "firmware tests inside MicroPython")
    group.addoption("--mp-heap", default=None, help="heap size for the unix port, e.g. 64k (-X heapsize)")
    group.addoption("--board", default=None, metavar="PORT",
                    help="run firmware tests on a board (or virtual board) through mpremote")
    group.addoption("--mp-timeout", type=float, default=180.0, help="seconds per firmware test file")


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector):
    # Claim firmware test files before the Python collector imports them into CPython.
    if module_path.parent == FIRMWARE_TESTS:
        return FirmwareFile.from_parent(parent, path=module_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`make test` on workers (pytest-xdist, `--dist loadfile`): the firmware test files go to
    one worker together. They run with their folder as the cwd, the unix port's flash root, and
    some use the same `data/` there (test_files, test_s0, test_sim create and remove it): two at
    once would pull it from under each other. Every other file is its own unit, as loadfile has it."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    folder = FIRMWARE_TESTS.relative_to(config.rootpath).as_posix() + "/"

    class FirmwareTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return folder if nodeid.startswith(folder) else super()._split_scope(nodeid)

    return FirmwareTogether(config, log)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    # The support folder and firmware test files are MicroPython code, not CPython modules.
    if collection_path == SUPPORT:
        return True
    return None


class FirmwareFile(pytest.File):
    def collect(self):
        tree = ast.parse(self.path.read_text(), filename=str(self.path))
        self.names = [n.name for n in tree.body
                      if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")]
        self._results: dict[str, dict[str, tuple[str, str]]] = {}
        self._raw: dict[str, str] = {}
        self._rc: dict[str, int] = {}
        # a board runs its own interpreter; on the host, the 64-bit and the 32-bit unix port
        for build in ("unix64",) if self.config.getoption("--board") else ("unix64", "unix32"):
            for name in self.names:
                item = FirmwareItem.from_parent(self, name=name if build == "unix64" else f"{name}[{build}]")
                item.test, item.build = name, build
                yield item

    def results(self, build: str) -> dict[str, tuple[str, str]]:
        if build not in self._results:
            opt = self.config.getoption
            self._raw[build], self._rc[build] = run_file(
                self.path, self.names, heap=opt("--mp-heap"), board=opt("--board"),
                timeout=opt("--mp-timeout"), binary=builds.binary(build))
            self._results[build] = parse_output(self._raw[build])
        return self._results[build]


class FirmwareFailure(Exception):
    pass


class FirmwareItem(pytest.Item):
    test: str  # the function's name
    build: str  # tests/builds.py

    def runtest(self) -> None:
        parent: FirmwareFile = self.parent  # type: ignore[assignment]
        if builds.binary(self.build) is None:
            pytest.skip(builds.SKIP_REASON)
        results = parent.results(self.build)
        if self.test not in results:
            raise FirmwareFailure(
                f"the MicroPython process ({self.build}) ended (exit {parent._rc[self.build]}) before "
                f"reporting {self.test}:\n{parent._raw[self.build][-4000:]}"
            )
        status, detail = results[self.test]
        if status == "SKIP":
            pytest.skip(detail)
        if status == "FAIL":
            raise FirmwareFailure(detail)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, FirmwareFailure):
            return f"MicroPython traceback:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"[micropython] {self.name}"


def parse_output(raw: str) -> dict[str, tuple[str, str]]:
    results: dict[str, tuple[str, str]] = {}
    current, lines = None, []
    for line in raw.splitlines():
        if line.startswith(_MARK + " BEGIN "):
            current, lines = line.split()[2], []
        elif line.startswith(_MARK + " END ") and current:
            parts = line.split(" ", 4)
            status = parts[3]
            detail = parts[4] if len(parts) > 4 else ""
            results[current] = (status, "\n".join(lines) if status == "FAIL" else detail)
            current = None
        elif current:
            lines.append(line)
    return results


def _runner_code(module: str, names: list[str]) -> str:
    return f"import mptest\nmptest.main({module!r}, {names!r})\n"


def run_file(path: Path, names: list[str], heap: str | None = None, board: str | None = None,
             timeout: float = 180.0, binary: str | None = None) -> tuple[str, int]:
    if board:
        return _run_on_board(board, path, names, timeout)
    cmd = [binary or micropython_binary()]
    if heap:
        cmd += ["-X", f"heapsize={heap}"]
    cmd += ["-c", _runner_code(path.stem, names)]
    env = dict(os.environ, MICROPYPATH=micropython_path(path.parent, SUPPORT))
    try:
        proc = subprocess.run(cmd, cwd=path.parent, env=env, capture_output=True, text=True,
                              timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out + f"\n[timed out after {timeout} s]", -1
    return proc.stdout + proc.stderr, proc.returncode


def _run_on_board(port: str, path: Path, names: list[str], timeout: float) -> tuple[str, int]:
    """Copy the test file and the support modules (the runner, flashdir) to the board, then run
    them without a soft reset."""
    mpremote = [sys.executable, "-m", "mpremote", "connect", port, "resume"]
    copy = mpremote + ["fs", "mkdir", ":/tests"]
    for f in [*sorted(SUPPORT.glob("*.py")), path]:
        copy += ["+", "fs", "cp", str(f), f":/tests/{f.name}"]
    subprocess.run(copy, capture_output=True, text=True, timeout=timeout)
    code = "import sys\nif '/tests' not in sys.path: sys.path.append('/tests')\n" + _runner_code(path.stem, names)
    try:
        proc = subprocess.run(mpremote + ["exec", code], capture_output=True, text=True, timeout=timeout,
                              errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return out + f"\n[timed out after {timeout} s]", -1
    return proc.stdout + proc.stderr, proc.returncode
