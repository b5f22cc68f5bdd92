"""`chargerctl charger update` and `chargerctl charger diagnostics` as a technician runs them (a
subprocess), against the real backend under uvicorn on 127.0.0.1, with a charge point built on
the `ocpp` package as the charger: it downloads what UpdateFirmware names from the backend,
checks it is the bundle uploaded, and reports the statuses a test asks for; for GetDiagnostics
it uploads its file to the location given. The end-to-end run against the real firmware is
tests/e2e/test_firmware_update.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import httpx
import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import call
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action

from host_tools.exits import Exit
from tests.backend.conftest import FakeClock, Server, TestChargePoint, connect, make_bundle
from tests.host.conftest import CHARGERCTL, chargerctl

TOKEN = "op-token-0123456789abcdef"
VERSION = "0.2.0"


class Charger(TestChargePoint):
    """`plan` is what it reports after UpdateFirmware / GetDiagnostics (a list of statuses, or
    "boot" for a BootNotification with `boots_as`); `got` keeps every CALL received."""

    __test__ = False

    def __init__(self, identity, ws):
        super().__init__(identity, ws)
        self.got: list[tuple[str, dict]] = []
        self.downloaded: bytes | None = None
        self.firmware_plan: list[str] = []
        self.diagnostics_plan: list[str] = []
        self.file_name: str | None = "CP-1-diag.txt"
        self.boots_as = VERSION
        self.refuse = False  # a firmware without FirmwareManagement: CALLERROR NotSupported

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw):
        self.got.append(("UpdateFirmware", kw))
        if self.refuse:
            raise NotSupportedError(description="UpdateFirmware is not supported")
        return result.UpdateFirmware()

    @after(Action.update_firmware)
    async def run_update(self, location, **kw):
        if self.refuse:
            return
        async with httpx.AsyncClient() as http:
            self.downloaded = (await http.get(location)).content
        for step in self.firmware_plan:
            if step == "boot":
                await self.call(call.BootNotification(
                    charge_point_model="Virtual", charge_point_vendor="Test",
                    firmware_version=self.boots_as))
            else:
                await self.call(call.FirmwareStatusNotification(status=step))

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, **kw):
        self.got.append(("GetDiagnostics", kw))
        if self.refuse:
            raise NotSupportedError(description="GetDiagnostics is not supported")
        return result.GetDiagnostics(file_name=self.file_name)

    @after(Action.get_diagnostics)
    async def run_upload(self, location, **kw):
        if self.refuse:
            return
        for step in self.diagnostics_plan:
            if step == "put":
                async with httpx.AsyncClient() as http:
                    r = await http.put(f"{location}/{self.file_name}",
                                       content=b"log line 1\nlog line 2\n")
                    assert r.status_code == 201, r.text
            else:
                await self.call(call.DiagnosticsStatusNotification(status=step))


class Rig:
    """The backend and the charger on an event loop in a thread; the CLI runs beside them."""

    def __init__(self, tmp: Path):
        self.server = Server(str(tmp / "backend.db"), FakeClock(),
                             options={"operator_token": TOKEN, "call_timeout": 2.0})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.run(self.server.start())
        import tests.backend.conftest as conftest

        real, conftest.TestChargePoint = conftest.TestChargePoint, Charger
        try:
            self.link = self.run(connect(self.server))
        finally:
            conftest.TestChargePoint = real
        self.cp: Charger = self.link.cp
        self.api = f"{self.server.base}/api/v3"

    def run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.link.close())
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def stored(self) -> list[str]:
        folder = self.server.backend.central.transfers.data_dir / "firmware"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def cli(self, *argv, token: str | None = TOKEN, timeout: float = 60):
        extra = ["--api", self.api] + (["--token", token] if token else [])
        return chargerctl("charger", argv[0], "--charger", "CP-1", *extra, *argv[1:],
                          timeout=timeout)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = Rig(tmp_path_factory.mktemp("fwcli"))
    yield r
    r.close()


@pytest.fixture
def cp(rig):
    rig.cp.got.clear()
    rig.cp.downloaded = None
    rig.cp.firmware_plan = ["Downloading", "Downloaded", "Installing", "boot", "Installed"]
    rig.cp.diagnostics_plan = ["Uploading", "put", "Uploaded"]
    rig.cp.file_name = "CP-1-diag.txt"
    rig.cp.boots_as = VERSION
    rig.cp.refuse = False
    return rig.cp


@pytest.fixture
def bundle(tmp_path) -> Path:
    path = tmp_path / "evse-0.2.0.bundle"
    path.write_bytes(make_bundle())
    return path


# --- update -----------------------------------------------------------------------------------

def test_update_uploads_the_bundle_and_follows_it_to_installed(rig, cp, bundle):
    proc = rig.cli("update", bundle)
    assert proc.returncode == Exit.OK, proc.stderr
    assert "CP-1 runs 0.2.0" in proc.stdout and "Installed in" in proc.stdout
    for step in ("version 0.2.0", "uploaded to the backend", "Downloading", "Downloaded",
                 "Installing", "booted, firmware version 0.2.0", "Installed"):
        assert step in proc.stderr, (step, proc.stderr)
    assert cp.downloaded == bundle.read_bytes()  # the charger got the very file, from the backend
    assert [a for a, _ in cp.got] == ["UpdateFirmware"]


def test_update_json_gives_the_whole_story(rig, cp, bundle):
    proc = rig.cli("update", bundle, "--json", "--retries", "2", "--retry-interval", "5",
                   "--at", "2026-01-10T03:00:00+01:00")
    assert proc.returncode == Exit.OK, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["result"] == "Installed" and doc["version"] == VERSION
    assert [e["status"] for e in doc["events"] if e["kind"] == "status"] == [
        "Downloading", "Downloaded", "Installing", "Installed"]
    assert proc.stderr == ""  # --json: no progress lines
    sent = cp.got[0][1]
    assert sent["retries"] == 2 and sent["retry_interval"] == 5
    assert sent["retrieve_date"].startswith("2026-01-10T02:00:00")


@pytest.mark.parametrize(("content", "said"), [
    (b"", "empty"),
    (b"#!/bin/sh\nrm -rf /\n", "not an evse-bundle 1"),
    (make_bundle()[:-20], "truncated"),
    (make_bundle().replace(b"import", b"IMPORT"), "bad file sha256: main.py"),
])
def test_a_file_that_is_not_a_bundle_exits_15_and_sends_nothing(rig, cp, tmp_path, content,
                                                                  said):
    path = tmp_path / "fw.bundle"
    path.write_bytes(content)
    before = rig.stored()
    proc = rig.cli("update", path)
    assert proc.returncode == Exit.BUNDLE, proc.stderr
    assert said in proc.stderr and "nothing was sent" in proc.stderr
    assert cp.got == [] and rig.stored() == before


def test_a_missing_bundle_file_exits_15(rig, cp, tmp_path):
    proc = rig.cli("update", tmp_path / "nope.bundle")
    assert proc.returncode == Exit.BUNDLE and "Cannot read" in proc.stderr
    assert cp.got == []


@pytest.mark.parametrize("status", ["DownloadFailed", "InstallationFailed"])
def test_a_failed_update_exits_30_and_says_which_version_runs(rig, cp, bundle, status):
    cp.firmware_plan = ["Downloading", "boot", status]
    cp.boots_as = "0.1.0"
    proc = rig.cli("update", bundle)
    assert proc.returncode == Exit.TRANSFER_FAILED, proc.stderr
    assert f"reported {status}" in proc.stderr and "It runs 0.1.0" in proc.stderr


def test_installed_but_booted_another_version_exits_30(rig, cp, bundle):
    cp.boots_as = "0.1.0"
    proc = rig.cli("update", bundle)
    assert proc.returncode == Exit.TRANSFER_FAILED, proc.stderr
    assert "booted 0.1.0, not 0.2.0" in proc.stderr


def test_installed_without_a_boot_of_the_new_version_exits_30(rig, cp, bundle):
    """Installed alone says nothing ran: without a BootNotification of 0.2.0 since the update
    began it is not a success (the charger's record holds 0.2.0 from earlier tests)."""
    cp.firmware_plan = ["Downloading", "Downloaded", "Installing", "Installed"]
    proc = rig.cli("update", bundle, "--json")
    assert proc.returncode == Exit.TRANSFER_FAILED, proc.stderr
    doc = json.loads(proc.stdout)
    assert "did not boot" in doc["error"] and "0.2.0 is not known to run" in doc["error"]
    assert [e["status"] for e in doc["events"] if e["kind"] == "status"][-1] == "Installed"


def test_no_final_status_exits_31_with_the_last_one(rig, cp, bundle):
    cp.firmware_plan = ["Downloading"]
    proc = rig.cli("update", bundle, "--timeout", "1.5", "--json")
    assert proc.returncode == Exit.TRANSFER_TIMEOUT, proc.stderr
    doc = json.loads(proc.stdout)
    assert "last: Downloading" in doc["error"] and doc["exit_code"] == 31


@pytest.mark.parametrize(("argv", "said"), [
    (["--retries", "11"], "--retries"),
    (["--retries", "x"], "--retries"),
    (["--retry-interval", "0"], "--retry-interval"),
    (["--at", "tomorrow"], "--at"),
    (["--timeout", "0"], "--timeout"),
])
def test_bad_update_arguments_exit_2_and_send_nothing(rig, cp, bundle, argv, said):
    before = rig.stored()
    proc = rig.cli("update", bundle, *argv)
    assert proc.returncode == Exit.USAGE, proc.stderr
    assert said in proc.stderr
    assert cp.got == [] and rig.stored() == before


def test_update_without_token_or_with_a_wrong_one(rig, cp, bundle):
    proc = rig.cli("update", bundle, token=None)
    assert proc.returncode == Exit.USAGE and "operator token" in proc.stderr
    proc = rig.cli("update", bundle, token="x" * 20)
    assert proc.returncode == Exit.UNAUTHORIZED, proc.stderr
    assert cp.got == []


@pytest.mark.parametrize(("identity", "code"), [("CP-NOPE", Exit.NOT_FOUND),
                                                 ("CP-KEY", Exit.REFUSED)])
def test_update_of_an_unknown_or_offline_charger_stores_no_bundle(rig, cp, bundle, identity,
                                                                   code):
    """The charger is asked for first: no bundle is left on the backend for nothing."""
    before = rig.stored()
    proc = chargerctl("charger", "update", "--charger", identity, "--api", rig.api, "--token",
                      TOKEN, bundle)
    assert proc.returncode == code, proc.stderr
    assert cp.got == [] and rig.stored() == before


@pytest.mark.parametrize(("limit", "said"), [("MAX_FILES", "too many files"),
                                             ("BUNDLE_MAX_BYTES", "at most")])
def test_a_bundle_the_backend_refuses_exits_15(rig, cp, bundle, monkeypatch, limit, said):
    """A backend stricter than this chargerctl (another version): its 422 or 413 is "not a
    bundle" (15), as the local check's refusal is, not an invalid field (22)."""
    import host_tools.backend.transfers as transfers
    import host_tools.bundle

    if limit == "MAX_FILES":
        monkeypatch.setattr(host_tools.bundle, "MAX_FILES", 0)  # the backend's, in this process
    else:
        monkeypatch.setattr(transfers, "BUNDLE_MAX_BYTES", 100)
    before = rig.stored()
    proc = rig.cli("update", bundle)
    assert proc.returncode == Exit.BUNDLE, proc.stderr
    assert "The backend refused the bundle" in proc.stderr and said in proc.stderr
    assert cp.got == [] and rig.stored() == before


# --- diagnostics ------------------------------------------------------------------------------

def test_diagnostics_writes_the_charger_file(rig, cp, tmp_path):
    out = tmp_path / "diag.txt"
    proc = rig.cli("diagnostics", "-o", out, "--since", "2026-01-10T00:00:00Z")
    assert proc.returncode == Exit.OK, proc.stderr
    assert out.read_bytes() == b"log line 1\nlog line 2\n"
    assert "Uploading" in proc.stderr and "Uploaded" in proc.stderr
    assert f"written to {out}" in proc.stdout
    assert cp.got[0][1]["start_time"].startswith("2026-01-10T00:00:00")


def test_diagnostics_to_stdout_and_by_default_to_its_own_name(rig, cp, tmp_path):
    proc = rig.cli("diagnostics", "-o", "-")
    assert proc.returncode == Exit.OK, proc.stderr
    assert proc.stdout == "log line 1\nlog line 2\n"
    run = __import__("subprocess").run(
        [*CHARGERCTL, "charger", "diagnostics", "--charger", "CP-1", "--api", rig.api,
         "--token", TOKEN, "--json"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == Exit.OK, run.stderr
    doc = json.loads(run.stdout)
    assert doc["file_name"] == "CP-1-diag.txt" and doc["output"] == "CP-1-diag.txt"
    assert (tmp_path / "CP-1-diag.txt").read_bytes() == b"log line 1\nlog line 2\n"


def test_diagnostics_upload_failed_exits_30(rig, cp, tmp_path):
    cp.diagnostics_plan = ["Uploading", "UploadFailed"]
    proc = rig.cli("diagnostics", "-o", tmp_path / "d.txt")
    assert proc.returncode == Exit.TRANSFER_FAILED and "UploadFailed" in proc.stderr
    assert not (tmp_path / "d.txt").exists()


def test_diagnostics_with_nothing_to_upload_exits_28(rig, cp, tmp_path):
    cp.file_name = None
    cp.diagnostics_plan = []
    proc = rig.cli("diagnostics", "-o", tmp_path / "d.txt")
    assert proc.returncode == Exit.CHARGER_REFUSED and "no diagnostics" in proc.stderr


@pytest.mark.parametrize(("argv", "said"), [
    (["--since", "2026-01-10T02:00:00Z", "--until", "2026-01-10T01:00:00Z"], "--until"),
    # as text "...00.5Z" sorts before "...00Z"; as times it is after
    (["--since", "2026-01-10T00:00:00.5Z", "--until", "2026-01-10T00:00:00Z"], "--until"),
    (["--since", "2026-01-10T02:00:00+02:00", "--until", "2026-01-10T00:00:00Z"], "--until"),
    (["--since", "soon"], "--since"),
    (["--retries", "-1"], "--retries"),
    (["-o", "."], "folder"),
    (["-o", "-", "--json"], "standard output"),
])
def test_bad_diagnostics_arguments_exit_2_and_send_nothing(rig, cp, argv, said):
    proc = rig.cli("diagnostics", *argv)
    assert proc.returncode == Exit.USAGE, proc.stderr
    assert said in proc.stderr
    assert cp.got == []


@pytest.mark.parametrize("sub", ["update", "diagnostics"])
def test_help_explains_and_lists_the_exit_codes(sub):
    proc = chargerctl("charger", sub, "--help")
    assert proc.returncode == 0
    assert "Exit codes:" in proc.stdout and " 30  " in proc.stdout and " 31  " in proc.stdout
    assert "Examples:" in proc.stdout


def test_a_bundle_from_chargerctl_bundle_goes_through_as_is(rig, cp, tmp_path):
    """Today's firmware as `chargerctl bundle` makes it: the same check here
    and in the backend takes it, and the charger downloads exactly that file."""
    path = tmp_path / "today.bundle"
    made = chargerctl("bundle", "--version", VERSION, "-o", path, timeout=120)
    assert made.returncode == 0, made.stderr
    proc = rig.cli("update", path)
    assert proc.returncode == Exit.OK, proc.stderr
    assert cp.downloaded == path.read_bytes()


def test_on_a_terminal_update_shows_its_progress(rig, cp, bundle):
    """stderr on a pseudo-terminal: the spinner runs (rich) and the status lines still come."""
    import os
    import pty
    import subprocess

    main, sub = pty.openpty()
    try:
        proc = subprocess.Popen([*CHARGERCTL, "charger", "update", "--charger", "CP-1", "--api",
                                 rig.api, "--token", TOKEN, str(bundle)],
                                stdout=subprocess.PIPE, stderr=sub, text=True)
        os.close(sub)
        seen = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(main)
    assert proc.returncode == Exit.OK, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "Downloading" in text and "Installed" in text and "CP-1 runs 0.2.0" in out


@pytest.mark.parametrize("sub", ["update", "diagnostics"])
def test_a_firmware_without_firmware_management_exits_28(rig, cp, bundle, sub, tmp_path):
    cp.refuse = True
    argv = ["update", bundle] if sub == "update" else ["diagnostics", "-o", tmp_path / "d.txt"]
    proc = rig.cli(*argv)
    assert proc.returncode == Exit.CHARGER_REFUSED, proc.stderr
    assert "NotSupported" in proc.stderr
