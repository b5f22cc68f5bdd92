"""FirmwareManagement's UpdateFirmware over the wire (issue 14), named after the OCA test cases
TC_044_1..3 with the OCPP 1.6 sentence each checks: the firmware (.mpy, as on a board) on a
virtual board against the `ocpp` central system, every frame schema-checked, and the bundle
(host_tools.bundle.build_bundle, today's firmware reporting another version) served by a real
HTTP server on 127.0.0.1 that can also fail: 404, 500, a body cut short, a reset, a slow body.

Each test has its own board (an update changes its flash and reboots it). The statuses the
firmware reports and why are in evse/ocpp/firmware.py's header.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from ocpp.v16 import call

from host_tools.bundle import build_bundle
from tests.ocpp.conftest import Station, utc_in
from tests.ocpp.test_core_profile import start_charging
from tests.test_ws_client import _ca, _server_ctx

TRIAL_S = 10  # config update_trial_s: the least evse/config.py takes


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """The update's control flow does not depend on the word size: 64-bit here; the heap of a
    download on 32 bits is test_download_fits_the_session_heap_on_32_bits."""
    return request.param


@pytest.fixture(scope="session")
def bundle_v2() -> bytes:
    return build_bundle(version="0.2.0")


def corrupted(data: bytes) -> bytes:
    """The bundle with one byte of its first file flipped: that file's sha256 no longer fits."""
    first_file_data = data.index(b"\n", data.index(b"\n") + 1) + 1
    out = bytearray(data)
    out[first_file_data + 8] ^= 0xFF
    return bytes(out)


# -- the HTTP server the bundles come from -----------------------------------------------


@dataclass
class Served:
    body: bytes = b""
    status: int = 200
    cut_at: int | None = None  # a reset after this many body bytes
    short: bool = False  # Content-Length of the whole, then half of it and the close
    block_s: float = 0.0  # a pause after each 1 KB: a slow server


@dataclass
class BundleServer:
    routes: dict[str, Served] = field(default_factory=dict)
    hits: list[tuple[float, str]] = field(default_factory=list)
    port: int = 0
    _srv: asyncio.Server | None = None

    tls: bool = False

    def url(self, path: str) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def count(self, path: str) -> int:
        return sum(1 for _, p in self.hits if p == path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            req = (await reader.readline()).decode().split()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            path = req[1]
            self.hits.append((time.monotonic(), path))
            r = self.routes.get(path, Served(status=404))
            if r.status != 200:
                writer.write(f"HTTP/1.1 {r.status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                return
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(r.body)}\r\n\r\n".encode())
            end = len(r.body) // 2 if r.short else r.cut_at if r.cut_at is not None else len(r.body)
            for i in range(0, end, 1024):
                writer.write(r.body[i:min(i + 1024, end)])
                await writer.drain()
                if r.block_s:
                    await asyncio.sleep(r.block_s)
            if r.cut_at is not None:
                writer.transport.abort()
                return
            await writer.drain()
        except (ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        self._srv = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._srv.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._srv:
            self._srv.close()


@pytest.fixture
async def files():
    srv = BundleServer()
    await srv.start()
    yield srv
    await srv.stop()


async def boot(station: Station, **cfg_extra) -> None:
    station.write_config()
    path = station.tmp / "config.json"
    cfg = json.loads(path.read_text())
    cfg.update({"update_trial_s": TRIAL_S, **cfg_extra})
    path.write_text(json.dumps(cfg))
    await station.server.start()
    await station.fw.start()
    await station.booted()
    await station.server.wait_status(1, "Available")


def statuses(station: Station) -> list[str]:
    return [kw["status"] for kw in station.server.actions("FirmwareStatusNotification")]


async def wait_statuses(station: Station, want: list[str], timeout: float = 20.0) -> None:
    await station.server.wait(lambda: statuses(station)[:len(want)] == want and len(statuses(station)) >= len(want),
                              timeout, f"FirmwareStatusNotification {want} (got {statuses(station)})")


async def update(station: Station, location: str, retrieve_in: float = -5, **kw) -> None:
    res = await station.server.cp.call(call.UpdateFirmware(location=location, retrieve_date=utc_in(retrieve_in),
                                                           **kw))
    assert res is not None  # {} (the `ocpp` package checks the answer's schema)


def old_version_runs(station: Station) -> None:
    boots = station.server.actions("BootNotification")
    assert all(b["firmware_version"] == "0.1.0" for b in boots), boots
    assert not (station.tmp / "app" / "boot.json").exists()
    assert not (station.tmp / "data" / "fw.json").exists()


# -- TC_044_1..3 --------------------------------------------------------------------------

# Where the download runs (evse/ocpp/firmware.py): beside the session when the heap has room,
# else in a download boot; a 64-bit session in 120k has not the room (it needs 116k alone).
WHERE = {"session": "256k", "download-boot": "124k"}


@pytest.fixture(params=list(WHERE))
def where(request, station) -> str:
    station.fw.heap = WHERE[request.param]
    return request.param


def dedup(seq: list[str]) -> list[str]:
    """Statuses without repeats in a row: a download boot sends Downloading again after it."""
    return [x for i, x in enumerate(seq) if i == 0 or seq[i - 1] != x]


def ran_where(station: Station, where: str) -> None:
    booted_for_it = bool(station.fw.log_matches(r"firmware download boot"))
    assert booted_for_it == (where == "download-boot"), station.fw.lines[-30:]


async def test_tc044_1_firmware_downloaded_and_installed(station, where, files, bundle_v2):
    """TC_044_1 Firmware update - download and install. "Central System can notify a Charge
    Point that it needs to update its firmware. [...] The Charge Point SHALL send a
    FirmwareStatusNotification.req PDU for informing the Central System about the progress of
    the downloading and installation of a firmware update." The order: Downloading, Downloaded,
    Installing, then the reboot into the new version (BootNotification firmwareVersion 0.2.0)
    and, once it proved healthy, Installed."""
    files.routes["/fw-0.2.0.bundle"] = Served(bundle_v2)
    await boot(station)
    t0 = time.monotonic()
    await update(station, files.url("/fw-0.2.0.bundle"))
    await wait_statuses(station, ["Downloading", "Downloaded", "Installing"])
    await station.fw.wait_log(r"reboot reason=firmware")
    srv = station.server
    b = await srv.wait_msg("BootNotification", n=2, timeout=20)
    installed_in = time.monotonic() - t0
    assert b["firmware_version"] == "0.2.0"
    if where == "session":  # Installed is install.py's, after the trial: the same either way
        await wait_statuses(station, ["Downloading", "Downloaded", "Installing", "Installed"],
                            timeout=3 * TRIAL_S + 10)
    # one reboot (main.py: SIGTERM on unix), two with the download boot
    assert len(station.fw.exits) == (1 if where == "session" else 2) and not station.fw.log_matches(r"crash")
    assert not (station.tmp / "data" / "fw.json").exists()
    ran_where(station, where)
    print(f"\nbundle {len(bundle_v2)} bytes, download in {where}: UpdateFirmware to the new version's "
          f"BootNotification in {installed_in:.1f} s")
    # The connectors came back Available in the new version
    await srv.wait(lambda: [kw for kw in srv.actions("StatusNotification")
                            if kw["connector_id"] == 1][-1]["status"] == "Available", 10, "connector 1 Available")


@pytest.mark.parametrize("fault", ["404", "500", "cut", "truncated"])
async def test_tc044_2_download_fails_old_firmware_stays(station, where, files, bundle_v2, fault):
    """TC_044_2 Firmware update - download failed. "DownloadFailed: Charge point failed to
    download firmware." after `retries` tries (`retryInterval` apart); the old firmware runs on.
    A 404 or 500, a reset mid-body and a body shorter than its Content-Length are all failures
    of the download (the HTTP client tells them: evse/http.py)."""
    served = {"404": Served(status=404), "500": Served(status=500),
              "cut": Served(bundle_v2, cut_at=len(bundle_v2) // 3),
              "truncated": Served(bundle_v2, short=True)}[fault]
    files.routes["/fw.bundle"] = served
    await boot(station)
    await update(station, files.url("/fw.bundle"), retries=2, retry_interval=1)
    await station.server.wait(lambda: "DownloadFailed" in statuses(station), 30, "DownloadFailed")
    assert dedup(statuses(station)) == ["Downloading", "DownloadFailed"]
    assert files.count("/fw.bundle") == 2
    t = [at for at, p in files.hits]
    assert t[1] - t[0] >= 0.9  # retryInterval 1 s
    await asyncio.sleep(0.5)
    assert dedup(statuses(station)) == ["Downloading", "DownloadFailed"]
    assert len(station.fw.exits) == (0 if where == "session" else 4)  # two download boots, and back
    ran_where(station, where)
    old_version_runs(station)
    assert not list((station.tmp / "app").glob("*/evse"))  # nothing staged stays


async def test_tc044_2_a_location_that_is_not_http_fails_at_once(station, files):
    """TC_044_2: "instant failure may skip Downloading" (ocpp16-profiles.md section 5): an ftp://
    location, which this charger does not speak (SupportedFileTransferProtocols HTTP,HTTPS)."""
    await boot(station)
    await update(station, "ftp://127.0.0.1/fw.bundle", retries=3)
    await wait_statuses(station, ["DownloadFailed"])
    old_version_runs(station)


async def test_tc044_3_installation_fails_old_firmware_stays(station, where, files, bundle_v2):
    """TC_044_3 Firmware update - installation failed. "InstallationFailed: Installation of new
    firmware has failed." A bundle with a file whose sha256 does not match: its read stops
    there, and it is refused before anything is switched (the status order kept); the old version runs on and the connector stays
    Available."""
    files.routes["/bad.bundle"] = Served(corrupted(bundle_v2))
    await boot(station)
    await update(station, files.url("/bad.bundle"), retries=3, retry_interval=1)
    await wait_statuses(station, ["Downloading", "Downloaded", "Installing", "InstallationFailed"])
    assert files.count("/bad.bundle") == 1  # a bad bundle is not fetched again
    await asyncio.sleep(0.5)
    assert len(station.fw.exits) == (0 if where == "session" else 2)
    ran_where(station, where)
    old_version_runs(station)
    av = [kw["status"] for kw in station.server.actions("StatusNotification") if kw["connector_id"] == 1]
    assert av[-1] == "Available"
    if where == "session":  # a download boot waits with its connectors Unavailable, as an install
        assert "Unavailable" not in av
    assert station.fw.log_matches(r"firmware bundle=.*bad file sha256") or \
        station.fw.log_matches(r"firmware install=.*bad file sha256")


@pytest.mark.parametrize("ca", ["right", "other", "none", "installed", "dropped"])
async def test_https_download_is_verified_with_the_ocpp_ca(station, bundle_v2, tmp_path_factory, ca):
    """An https:// location is verified against the CA store's CA (wstls.https_ca: config
    ca_cert, or a CentralSystemRootCertificate installed over OCPP; evse/http.py): the right CA
    installs, provisioned or installed; another CA, none configured, or the right one once
    DeleteCertificate dropped it, is DownloadFailed (never an unverified download)."""
    from tests.ocpp.test_certificates import host_hash
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca("Test download CA")
    _, other = _ca("Some other CA")
    pem = {"right": ca_cert, "other": other, "dropped": ca_cert}.get(ca)
    files = BundleServer(tls=True)
    await files.start(_server_ctx(tmp, ca_key, ca_cert, "127.0.0.1", "127.0.0.1"))
    files.routes["/fw.bundle"] = Served(bundle_v2)
    try:
        await boot(station, **({"ca_cert": pem.public_bytes(serialization.Encoding.PEM).decode()} if pem else {}))
        if ca == "installed":
            res = await station.server.cp.call(call.InstallCertificate(
                certificate_type="CentralSystemRootCertificate",
                certificate=ca_cert.public_bytes(serialization.Encoding.PEM).decode()))
            assert res.status == "Accepted"
        elif ca == "dropped":  # not in use: the OCPP connection is ws://
            res = await station.server.cp.call(call.DeleteCertificate(certificate_hash_data=host_hash(ca_cert)))
            assert res.status == "Accepted"
        await update(station, files.url("/fw.bundle"))
        if ca in ("right", "installed"):
            b = await station.server.wait_msg("BootNotification", n=2, timeout=20)
            assert b["firmware_version"] == "0.2.0"
        else:
            await wait_statuses(station, ["Downloading", "DownloadFailed"])
            assert files.hits == []  # refused in the TLS handshake, before any request
            old_version_runs(station)
    finally:
        await files.stop()


async def test_an_esp32_image_is_refused_on_this_board(station, files):
    """An ESP32 application image (first byte 0xE9) goes to an OTA writer where the board has
    one; the virtual board has none: InstallationFailed, the old version runs on. The read stops
    at the first block (downloaded=-1): the rest of a 1 MB image is not waited for."""
    files.routes["/micropython.bin"] = Served(b"\xe9\x06\x02\x20" + bytes(1000000), block_s=0.05)
    await boot(station)
    await update(station, files.url("/micropython.bin"))
    await wait_statuses(station, ["Downloading", "Downloaded", "Installing", "InstallationFailed"])
    assert station.fw.log_matches(r"firmware install=.*an ESP32 image")
    assert station.fw.log_matches(r"firmware downloaded=-1 ")
    old_version_runs(station)


# -- when -----------------------------------------------------------------------------------


async def test_update_during_a_transaction_waits_for_its_end(station, files, bundle_v2):
    """"The Charge Point SHALL NOT interrupt a running transaction for a firmware update" (the
    errata; L01 in 2.0.1): the download goes on, the installation waits for the transaction's
    end, and meanwhile the connector takes no new one (Unavailable once the session ends)."""
    files.routes["/fw.bundle"] = Served(bundle_v2)
    await boot(station)
    srv = station.server
    tid = await start_charging(station)
    await update(station, files.url("/fw.bundle"))
    await wait_statuses(station, ["Downloading", "Downloaded"])
    await asyncio.sleep(2.5)  # a few passes of the job's wait
    assert statuses(station) == ["Downloading", "Downloaded"]
    assert not srv.actions("StopTransaction")
    assert await station.remote_stop(tid) == "Accepted"
    stop = await srv.wait_msg("StopTransaction")
    assert stop["reason"] == "Remote"
    await wait_statuses(station, ["Downloading", "Downloaded", "Installing"])
    got = srv.actions()
    firmware = [i for i, a in enumerate(got) if a == "FirmwareStatusNotification"]
    assert got.index("StopTransaction") < firmware[2]
    b = await srv.wait_msg("BootNotification", n=2, timeout=20)
    assert b["firmware_version"] == "0.2.0"


async def test_retrieve_date_in_the_future_is_honoured(station, files, bundle_v2):
    """"retrieveDate: This specifies the date and time after which the Charge Point must retrieve
    the (new) firmware." Nothing is fetched before it; TriggerMessage meanwhile answers Idle
    (nothing downloads yet)."""
    files.routes["/fw.bundle"] = Served(bundle_v2, block_s=0.05)
    await boot(station)
    t0 = time.monotonic()
    await update(station, files.url("/fw.bundle"), retrieve_in=4)
    await asyncio.sleep(1.5)
    assert files.hits == [] and statuses(station) == []
    res = await station.server.cp.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    assert res.status == "Accepted"
    await wait_statuses(station, ["Idle"])
    await wait_statuses(station, ["Idle", "Downloading"], timeout=15)
    await station.server.wait(lambda: files.hits, 5, "the download's request")
    assert files.hits[0][0] - t0 >= 3.0, files.hits
    # TriggerMessage mid-download: the current status
    res = await station.server.cp.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))
    assert res.status == "Accepted"
    await wait_statuses(station, ["Idle", "Downloading", "Downloading"])
    await wait_statuses(station, ["Idle", "Downloading", "Downloading", "Downloaded", "Installing"], timeout=30)


async def test_a_second_update_replaces_the_first(station, files, bundle_v2):
    """A second UpdateFirmware while one downloads replaces it (evse/ocpp/operations/
    UpdateFirmware.py: OCPP 2.0.1 L01.FR.24's rule, which 1.6 leaves open): the first download
    stops, its staged files go, the second location is installed."""
    files.routes["/slow.bundle"] = Served(bundle_v2, block_s=0.2)
    files.routes["/fast.bundle"] = Served(build_bundle(version="0.3.0"))
    await boot(station)
    await update(station, files.url("/slow.bundle"))
    await wait_statuses(station, ["Downloading"])
    await update(station, files.url("/fast.bundle"))
    b = await station.server.wait_msg("BootNotification", n=2, timeout=30)
    assert b["firmware_version"] == "0.3.0"
    assert statuses(station)[-3:] == ["Downloading", "Downloaded", "Installing"]
    assert "DownloadFailed" not in statuses(station)


# -- malformed UpdateFirmware ---------------------------------------------------------------


@pytest.mark.parametrize("payload,code", [
    ({"location": "not a uri", "retrieveDate": "2026-01-01T00:00:00Z"}, "PropertyConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "yesterday"}, "PropertyConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-13-45T99:00:00Z"}, "PropertyConstraintViolation"),
    ({"location": "http://h/x"}, "OccurenceConstraintViolation"),
    ({"retrieveDate": "2026-01-01T00:00:00Z"}, "OccurenceConstraintViolation"),
    ({"location": 5, "retrieveDate": "2026-01-01T00:00:00Z"}, "TypeConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-01-01T00:00:00Z", "retries": "3"}, "TypeConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-01-01T00:00:00Z", "retries": 1.5}, "TypeConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-01-01T00:00:00Z", "retryInterval": None},
     "TypeConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-01-01T00:00:00Z", "retries": -1}, "PropertyConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-01-01T00:00:00Z", "retryInterval": -5},
     "PropertyConstraintViolation"),
    ({"location": "http://h/x", "retrieveDate": "2026-01-01T00:00:00Z", "extra": 1}, "FormationViolation"),
])
async def test_malformed_update_firmware_answers_the_right_callerror(station, payload, code):
    """A payload that breaks UpdateFirmware's schema (or, for retries and retryInterval, the
    sense of a count and an interval) is answered with the CALLERROR of its fault and starts
    nothing."""
    await boot(station)
    ans = await station.raw(json.dumps([2, "u1", "UpdateFirmware", payload]))
    assert ans[0] == 4 and ans[2] == code, ans
    await asyncio.sleep(0.3)
    assert statuses(station) == []
    old_version_runs(station)


async def test_supported_feature_profiles_and_transfer_protocols(station):
    """SupportedFeatureProfiles names FirmwareManagement; SupportedFileTransferProtocols (R)
    "HTTP,HTTPS" and cannot be changed."""
    await boot(station)
    cp = station.server.cp
    res = await cp.call(call.GetConfiguration(key=["SupportedFeatureProfiles", "SupportedFileTransferProtocols"]))
    values = {k["key"]: (k["value"], k["readonly"]) for k in res.configuration_key}
    assert "FirmwareManagement" in values["SupportedFeatureProfiles"][0].split(",")
    assert values["SupportedFileTransferProtocols"] == ("HTTP,HTTPS", True)
    res = await cp.call(call.ChangeConfiguration(key="SupportedFileTransferProtocols", value="FTP"))
    assert res.status == "Rejected"


# -- power cuts -----------------------------------------------------------------------------


async def kill_during_download(station: Station, files: BundleServer, bundle: bytes, at_block: int,
                               retries: int) -> list[str]:
    """SIGKILL the board once `at_block` KB of the bundle went out; -> the statuses after."""
    files.routes["/fw.bundle"] = Served(bundle, block_s=0.02)
    await boot(station)
    await update(station, files.url("/fw.bundle"), retries=retries, retry_interval=1)
    await wait_statuses(station, ["Downloading"])
    await asyncio.sleep(0.02 * at_block)
    station.fw.kill()
    return statuses(station)


@pytest.mark.parametrize("at_block,retries", [(40, 2)])
async def test_power_cut_mid_download_resumes(station, where, files, bundle_v2, at_block, retries):
    """A power cut mid-download (in the session, or in a download boot): the board boots the
    old version (nothing was switched; a download boot's flag is cleared before it downloads),
    the update resumes with the tries left and installs."""
    await kill_during_download(station, files, bundle_v2, at_block, retries)
    srv = station.server
    b = await srv.wait_msg("BootNotification", n=2, timeout=20)
    assert b["firmware_version"] == "0.1.0"  # the old version boots first
    await srv.wait_msg("BootNotification", firmware_version="0.2.0", timeout=60)
    assert files.count("/fw.bundle") == 2
    ran_where(station, where)


async def test_power_cut_on_the_last_try_reports_download_failed(station, where, files, bundle_v2):
    """The try a power cut ended counts (a bundle that crashes the board mid-download must not
    loop): with one try, the board boots the old version and reports DownloadFailed."""
    await kill_during_download(station, files, bundle_v2, 30, 1)
    await wait_statuses(station, ["Downloading", "DownloadFailed"], timeout=20)
    assert station.server.actions("BootNotification")[-1]["firmware_version"] == "0.1.0"
    await asyncio.sleep(0.5)
    old_version_runs(station)


@pytest.mark.long
@pytest.mark.parametrize("at_block", [1, 5, 20, 50, 80, 120, 160, 200, 240, 280])
async def test_power_cut_sweep(station, where, files, bundle_v2, at_block):
    """Kill points across the whole download (20 ms a KB sent; killed after at_block x 20 ms,
    past the end too, so the switch and the reboot are hit as well), in the session and in a
    download boot: each time a version boots (the old, or the new one if the switch was made),
    and the update ends with the new version running (two tries)."""
    await kill_during_download(station, files, bundle_v2, at_block, 2)
    srv = station.server
    b = await srv.wait(lambda: [x for x in srv.actions("BootNotification") if x["firmware_version"] == "0.2.0"],
                       60, "BootNotification of 0.2.0")
    assert b
    assert all(s in ("Downloading", "Downloaded", "Installing", "Installed") for s in statuses(station))


# -- memory ---------------------------------------------------------------------------------


# The heaps the update runs in here, ~2 KB over the smallest that passed (UPDATE_HEAP=... to
# search). In such a heap the download runs in a download boot (evse/ocpp/firmware.py), whose
# peak is far below the session's (unix32 .mpy ~46 KB, frozen ~23 KB); what limits is the job
# that waits beside the session (retrieveDate, the transactions' end): firmware.py, ~2.8 KB of
# heap on a .mpy build, loaded only with 6 KB free (operations/UpdateFirmware.py _JOB_FREE: a
# session left less than ~3 KB beside it dies of MemoryErrors). Measured: .mpy 82k passed before
# the merges; on the merged tree (`app started` 72.7 KB, ~2.5 KB more) 86k passes and 84k has
# not the 6 KB: the update ends DownloadFailed at once, as 80k does
# (test_no_heap_for_the_job_is_download_failed). Frozen 30k
# passes up to the switch, 28k fails; the new version then runs from .mpy files, which such a
# heap cannot hold (the rollback brings the frozen one back: evse/install.py).
HEAPS = {"unix32": "88k", "unix32-frozen": "34k"}


@pytest.mark.parametrize("build", list(HEAPS))
async def test_download_heap_on_32_bits(tmp_path, tmp_path_factory, files, bundle_v2, firmware_lib, build):
    """The update (download, staging, verification, the switch) on the 32-bit builds in a small
    heap (-X heapsize, as tests/ocpp/test_memory.py runs a session): no MemoryError up to the
    reboot; on the .mpy build the new version then boots. The log's "firmware downloaded=..
    peak=.." gives the highest mem_alloc seen at a block (garbage not yet collected included)."""
    from tests import builds
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    lib = tmp_path_factory.mktemp("empty-lib") if builds.frozen(build) else firmware_lib
    station = Station(tmp_path, lib, binary)
    station.fw.heap = os.environ.get("UPDATE_HEAP", HEAPS[build])
    files.routes["/fw.bundle"] = Served(bundle_v2, block_s=0.01)
    try:
        await boot(station)
        await update(station, files.url("/fw.bundle"))
        try:
            await station.fw.wait_log(r"firmware installed=0.2.0", timeout=30)
            await station.fw.wait_log(r"reboot reason=firmware")
            if not builds.frozen(build):  # a download boot (no BootNotification) may come first
                await station.server.wait_msg("BootNotification", firmware_version="0.2.0", timeout=30)
        except AssertionError as e:
            raise AssertionError(f"{e}\n" + "\n".join(station.fw.lines[-30:])) from None
        started = station.fw.log_matches(r"app started .*mem_alloc=(\d+)")[0].group(1)
        peak = station.fw.log_matches(r"firmware downloaded=\d+ peak=(\d+)")[0].group(1)
        where = "a download boot" if station.fw.log_matches(r"firmware download boot") else "the session"
        print(f"\n{build} heap {station.fw.heap}: app started mem_alloc {started}, peak during the download "
              f"{peak}, in {where}")
        lines = station.fw.lines
        if builds.frozen(build):  # up to the switch: the new version is .mpy files in the slot,
            lines = lines[:[i for i, x in enumerate(lines) if "firmware installed=" in x][0]]  # not frozen
        bad = [line for line in lines if "MemoryError" in line or "Traceback" in line]
        assert not bad, "\n".join(station.fw.lines[-40:])
    finally:
        await station.close()


async def test_no_heap_for_the_job_is_download_failed(tmp_path, files, bundle_v2, firmware_lib):
    """Failure is a state: in a 32-bit .mpy session's heap the update's job finds no room (HEAPS
    above). 82k, not the session's 80k: on the merged tree of issues 14/15 the 80k session
    answered UpdateFirmware and DownloadFailed but lost its link at the next CALL (heap), see
    the issue notes. UpdateFirmware is answered, DownloadFailed follows, and the session goes
    on: no crash, no restart, a heartbeat answered after."""
    from tests import builds
    binary = builds.binary("unix32")
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    station = Station(tmp_path, firmware_lib, binary)
    station.fw.heap = "84k"
    files.routes["/fw.bundle"] = Served(bundle_v2)
    try:
        await boot(station)
        await update(station, files.url("/fw.bundle"))
        got = await station.server.wait(lambda: statuses(station), 10, "a FirmwareStatusNotification")
        if got != ["DownloadFailed"]:  # the job did fit (less code resident one day): then it installs
            await station.server.wait_msg("BootNotification", firmware_version="0.2.0", timeout=30)
            return
        res = await station.server.cp.call(call.TriggerMessage(requested_message="Heartbeat"))
        assert res.status == "Accepted"
        await station.server.wait_msg("Heartbeat")
        assert station.fw.exits == [] and not station.fw.log_matches(r"crash|Traceback")
        old_version_runs(station)
    finally:
        await station.close()
