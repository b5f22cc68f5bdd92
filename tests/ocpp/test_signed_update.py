"""SignedUpdateFirmware (security whitepaper ed. 2, "Secure firmware update") against the `ocpp`
central system, the firmware bundle served over HTTP on 127.0.0.1, the certificates and keys
made here by `cryptography`, the signature by `chargerctl sign`'s code (host_tools/bundle_sign.py).

Named after the OCTT cases: TC_080 (a signed update installs) and TC_081 (an invalid firmware
signature); and a signing certificate no installed ManufacturerRootCertificate issued, an
expired one, and malformed requests.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import pytest_asyncio
from ocpp.v16 import call

from host_tools.bundle import build_bundle
from host_tools.bundle_sign import sign_file
from tests import builds
from tests.crypto_material import NOW, ec_key, issue, rsa_key
from tests.ocpp.conftest import (
    FIRMWARE,
    Server,
    Station,
    assert_clean,
    build_lib,
    free_port,
    utc_in,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

MF = "ManufacturerRootCertificate"
VERSION = "0.1.99"  # the bundle's firmwareVersion, other than the running one


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit: the flows are control flow; the heap of the checks is measured on unix32 by
    tests/test_crypto_memory.py."""
    return request.param


class Files:
    """A plain HTTP server on 127.0.0.1 for the firmware files, counting the requests."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.requests: list[str] = []
        files = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server name
                files.requests.append(self.path)
                super().do_GET()

            def log_message(self, format, *args):  # noqa: A002 - the http.server signature
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                     functools.partial(Handler, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The manufacturer's root (installed on the charger), a signing certificate it issued and
    the signed bundle; a second root that is not installed, its signer; an expired signer."""
    folder = tmp_path_factory.mktemp("signed-pki")
    root = issue("Manufacturer Root", rsa_key(2048), ca=True)
    signer = issue("Firmware Signer", rsa_key(2048), root)
    stranger = issue("Unknown Root", ec_key(), ca=True)
    rogue = issue("Rogue Signer", rsa_key(2048), stranger)
    expired = issue("Old Signer", rsa_key(2048), root, not_before=NOW - dt.timedelta(days=30),
                    not_after=NOW - dt.timedelta(days=1))
    bundle = folder / "evse.bundle"
    bundle.write_bytes(build_bundle(FIRMWARE, VERSION))
    from cryptography.hazmat.primitives import serialization
    key_pem = signer.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # type: ignore[attr-defined]
                                       serialization.NoEncryption())
    signed = sign_file(bundle, key_pem, signer.pem.encode())
    other = folder / "other.bin"
    other.write_bytes(b"not the bundle")
    wrong = sign_file(other, key_pem, signer.pem.encode())  # the signer's signature of another file
    return {"root": root, "signer": signer, "rogue": rogue, "expired": expired, "folder": folder,
            "signature": signed.signature, "wrong_signature": wrong.signature}


@pytest.fixture(scope="module")
def files(pki):
    f = Files(pki["folder"])
    yield f
    f.close()


async def _station(folder: Path, lib: Path, binary: str, trial_s: int = 10, heap: str | None = None) -> Station:
    st = Station(folder, lib, binary)
    st.server = Server()
    if heap:
        st.fw.heap = heap
    st.write_config()
    cfg_path = folder / "config.json"
    import json
    cfg = json.loads(cfg_path.read_text())
    cfg["update_trial_s"] = trial_s  # an update on trial this long before it is kept: Installed
    cfg_path.write_text(json.dumps(cfg))
    await st.server.start()
    await st.fw.start()
    await st.booted()
    await st.server.wait_status(1, "Available")
    return st


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def st(tmp_path_factory, firmware_lib, micropython, pki):
    station = await _station(tmp_path_factory.mktemp("signed"), firmware_lib, micropython)
    res = await station.server.cp.call(call.InstallCertificate(certificate_type=MF, certificate=pki["root"].pem))
    assert res.status == "Accepted"
    yield station
    await station.close()
    assert_clean(station)


async def signed_update(st, req: int, location: str, cert: str, signature: str, install_at: str | None = None,
                        retrieve_in: float = -1, **extra) -> str:
    fw = {"location": location, "retrieve_date_time": utc_in(retrieve_in), "signing_certificate": cert,
          "signature": signature}
    if install_at:
        fw["install_date_time"] = install_at
    res = await st.server.cp.call(call.SignedUpdateFirmware(request_id=req, firmware=fw, **extra))
    return res.status


def statuses(st, req: int) -> list[str]:
    return [kw["status"] for kw in st.server.actions("SignedFirmwareStatusNotification") if kw.get("request_id") == req]


def events(st) -> list[str]:
    return [kw["type"] for kw in st.server.actions("SecurityEventNotification")]


async def test_update_firmware_is_not_supported_once_a_manufacturer_root_is_installed(st, files):
    """OCPP 2.0.1 L01.FR.20: with signed firmware updates built, UpdateFirmware is answered
    NotSupported. Here once a ManufacturerRootCertificate is installed (the module's station
    has one): an unsigned bundle can no longer be pushed past the signature check. Nothing
    starts: no FirmwareStatusNotification, no download."""
    import asyncio
    import json
    ans = await st.raw(json.dumps([2, "u6", "UpdateFirmware",
                                   {"location": files.url("evse.bundle"), "retrieveDate": utc_in(-1)}]))
    assert ans[0] == 4 and ans[2] == "NotSupported", ans
    await asyncio.sleep(0.5)
    assert st.server.actions("FirmwareStatusNotification") == []
    assert not (st.tmp / "data" / "fw.json").exists()


async def test_tc081_invalid_firmware_signature(st, pki, files):
    """Whitepaper, secure firmware update: "If the signature is invalid, the Charge Point SHALL
    send a SignedFirmwareStatusNotification.req with status InvalidSignature and a
    SecurityEventNotification.req with type InvalidFirmwareSignature" (OCTT TC_081). The old
    version runs on; the connectors are Available again."""
    assert await signed_update(st, 81, files.url("evse.bundle"), pki["signer"].pem, pki["wrong_signature"]) == "Accepted"
    await st.server.wait(lambda: "InvalidSignature" in statuses(st, 81), 30, "InvalidSignature")
    assert statuses(st, 81) == ["Downloading", "Downloaded", "InvalidSignature"]
    await st.server.wait(lambda: "InvalidFirmwareSignature" in events(st), 10, "the security event")
    assert not (st.tmp / "app" / "boot.json").exists()  # nothing switched
    assert not (st.tmp / "data" / "fw.json").exists() and not (st.tmp / "data" / "fwsig.json").exists()
    assert not (st.tmp / "app" / "a").exists()  # the badly signed bundle staged there is gone
    assert st.fw.exits == []


async def test_signing_certificate_of_an_unknown_root_is_refused(st, pki, files):
    """Whitepaper: "the Charge Point SHALL validate the signing certificate ... [against] the
    ManufacturerRootCertificate"; if not valid, it answers InvalidCertificate and sends a
    SecurityEventNotification of type InvalidFirmwareSigningCertificate. Nothing is downloaded."""
    before = len(files.requests)
    n = events(st).count("InvalidFirmwareSigningCertificate")
    assert await signed_update(st, 82, files.url("evse.bundle"), pki["rogue"].pem, pki["signature"]) == "InvalidCertificate"
    await st.server.wait(lambda: events(st).count("InvalidFirmwareSigningCertificate") > n, 10, "the security event")
    assert len(files.requests) == before and statuses(st, 82) == []


async def test_expired_signing_certificate_is_refused(st, pki, files):
    """A signing certificate past its notAfter (by the central system's clock) is invalid."""
    n = events(st).count("InvalidFirmwareSigningCertificate")
    assert await signed_update(st, 83, files.url("evse.bundle"), pki["expired"].pem, pki["signature"]) == "InvalidCertificate"
    await st.server.wait(lambda: events(st).count("InvalidFirmwareSigningCertificate") > n, 10, "the security event")
    assert statuses(st, 83) == []


async def test_malformed_requests(st, pki, files):
    """Every field of the request has its malformed case: the schema's CALLERRORs (requestId,
    firmware, location, retrieveDateTime), a signing certificate that is no certificate
    (InvalidCertificate), a signature that is no base64 (Rejected); nothing downloaded."""
    before = len(files.requests)
    url = files.url("evse.bundle")
    good = {"location": url, "retrieveDateTime": utc_in(-1), "signingCertificate": pki["signer"].pem,
            "signature": pki["signature"]}
    import json as _json

    async def raw(payload):
        return await st.raw(_json.dumps([2, f"m{id(payload)}", "SignedUpdateFirmware", payload]))

    for payload in ({"firmware": good},  # no requestId
                    {"requestId": "1", "firmware": good},
                    {"requestId": 1},
                    {"requestId": 1, "firmware": {**good, "location": None}},
                    {"requestId": 1, "firmware": {k: v for k, v in good.items() if k != "signature"}},
                    {"requestId": 1, "firmware": {**good, "retrieveDateTime": "yesterday"}},
                    {"requestId": 1, "firmware": {**good, "installDateTime": "2026-13-01T00:00:00Z"}},
                    {"requestId": 1, "firmware": good, "retries": "3"},
                    {"requestId": 1, "firmware": good, "retries": -1},
                    {"requestId": 1, "firmware": good, "retryInterval": -5}):
        answer = await raw(payload)
        assert answer[0] == 4, (payload, answer)
    assert (await raw({"requestId": 1, "firmware": {**good, "signingCertificate": "not a certificate"}}))[2] == {
        "status": "InvalidCertificate"}
    cut = pki["signer"].pem[:200] + pki["signer"].pem[-40:]
    assert (await raw({"requestId": 1, "firmware": {**good, "signingCertificate": cut}}))[2] == {
        "status": "InvalidCertificate"}
    assert (await raw({"requestId": 1, "firmware": {**good, "signature": "***"}}))[2] == {"status": "Rejected"}
    assert len(files.requests) == before and statuses(st, 1) == []


async def test_tc080_signed_firmware_update_installs(tmp_path, firmware_lib, micropython, pki, files):
    """OCTT TC_080, the whitepaper's flow: the signing certificate verified against the
    ManufacturerRootCertificate, then SignedFirmwareStatusNotification Downloading, Downloaded,
    SignatureVerified, Installing, the reboot (BootNotification with the new firmwareVersion),
    Installed, each with the request's requestId; the critical security event FirmwareUpdated."""
    await _tc080(tmp_path, firmware_lib, micropython, pki, files)


async def test_download_failures_carry_the_request_id(st, pki, files):
    """A location the charger cannot fetch: not http(s) (DownloadFailed at once), a 404 after
    its one try (retries 1: Downloading, DownloadFailed); each status with its requestId, nothing
    installed, no signature checked."""
    assert await signed_update(st, 84, "ftp://127.0.0.1/evse.bundle", pki["signer"].pem, pki["signature"]) == "Accepted"
    await st.server.wait(lambda: statuses(st, 84), 10, "a status of 84")
    assert statuses(st, 84) == ["DownloadFailed"]
    assert await signed_update(st, 85, files.url("missing.bundle"), pki["signer"].pem, pki["signature"],
                               retries=1) == "Accepted"
    await st.server.wait(lambda: "DownloadFailed" in statuses(st, 85), 30, "DownloadFailed")
    assert statuses(st, 85) == ["Downloading", "DownloadFailed"]
    assert "/missing.bundle" in files.requests
    assert not (st.tmp / "data" / "fwsig.json").exists()


async def test_retrieve_date_time_ahead_is_download_scheduled(st, pki, files):
    """Whitepaper, SignedFirmwareStatusNotification: DownloadScheduled while the download waits
    for retrieveDateTime; then the flow as TC_081 (a signature of another file)."""
    assert await signed_update(st, 86, files.url("evse.bundle"), pki["signer"].pem, pki["wrong_signature"],
                               retrieve_in=3) == "Accepted"
    await st.server.wait(lambda: "InvalidSignature" in statuses(st, 86), 30, "InvalidSignature")
    assert statuses(st, 86) == ["DownloadScheduled", "Downloading", "Downloaded", "InvalidSignature"]


# The heaps a signed update runs in here, ~2 KB over the smallest that passed (bisected with
# SIGNED_UPDATE_HEAP=... / SIGNED_UPDATE_FROZEN_HEAP=...):
# - .mpy: the whole TC_080 passes at 100k, 98k fails at the CALL's certificate check (x509 and
#   signature code, the signing certificate and the root parsed, RSA-2048's pow); this
#   station's "app started" is ~75 KB. In such a heap the download itself runs in a download
#   boot (evse/ocpp/firmware.py), which also verifies the signature; an unsigned update
#   (test_firmware_update.py) passes at 84k: the CALL's check in the session is the signed
#   update's extra;
# - frozen: the signed part (the CALL's check, the download hashed, the signature, Installing)
#   passes at 42k, 40k fails at the CALL. The update itself installs .mpy files, whose code then
#   runs from the heap: an updated frozen board needs the .mpy heap (at 48k it crashes at the
#   boot after the switch and main.py rolls the update back), which is the install's matter.
# test_memory.py's charging session passes in 80k / 34k: an update needs more free heap than a
# session, see firmware/README.md.
HEAP_MPY = os.environ.get("SIGNED_UPDATE_HEAP", "102k")
HEAP_FROZEN = os.environ.get("SIGNED_UPDATE_FROZEN_HEAP", "44k")


async def test_tc080_in_a_small_heap_unix32_mpy(tmp_path, tmp_path_factory, pki, files):
    """TC_080 on the 32-bit .mpy build in a small heap: the certificate check at the CALL
    (x509 + signature + the root from flash), the download hashed as it streams, the signature
    verified, the switch and the boot of the new version: no MemoryError, no restart but the
    update's own. With an installDateTime a few seconds ahead: InstallScheduled until then
    (whitepaper: "installDateTime: date and time at which the firmware shall be installed")."""
    binary = builds.binary("unix32")
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    lib = tmp_path_factory.mktemp("lib32")
    build_lib(lib)
    await _tc080(tmp_path, lib, binary, pki, files, HEAP_MPY, install_in=4)


async def test_tc081_in_a_download_boot_unix32_mpy(tmp_path, tmp_path_factory, pki, files):
    """TC_081 where the session's heap has no room for the download (evse/ocpp/firmware.py's
    download boot): the download boot verifies the signature before any switch, finds it bad,
    switches nothing; the session after it reports Downloaded, InvalidSignature and the security
    event InvalidFirmwareSignature the download boot queued."""
    binary = builds.binary("unix32")
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    lib = tmp_path_factory.mktemp("lib32")
    build_lib(lib)
    # 102k: the CALL passes (100k failed 1 in 4 once the merged resident code grew), and the
    # session never has the download's 16 KB free after it (104k has: the download then runs
    # beside the session, and this case is about the download boot)
    st = await _station(tmp_path, lib, binary, heap=os.environ.get("SIGNED_BOOT_HEAP", "102k"))
    try:
        srv = st.server
        assert (await srv.cp.call(call.InstallCertificate(certificate_type=MF, certificate=pki["root"].pem))).status == "Accepted"
        assert await signed_update(st, 87, files.url("evse.bundle"), pki["signer"].pem, pki["wrong_signature"]) == "Accepted"
        await srv.wait(lambda: "InvalidSignature" in statuses(st, 87), 60, "InvalidSignature")
        assert statuses(st, 87) == ["Downloading", "Downloaded", "InvalidSignature"]
        assert st.fw.log_matches(r"firmware download boot")  # the heap did call for one
        await srv.wait(lambda: "InvalidFirmwareSignature" in events(st), 10, "the security event")
        assert not (st.tmp / "app" / "boot.json").exists()  # nothing switched
        assert [b["firmware_version"] for b in srv.actions("BootNotification")] == ["0.1.0"] * len(
            srv.actions("BootNotification"))
    finally:
        await st.close()
    assert_clean(st)


async def test_signed_update_in_a_small_heap_unix32_frozen(tmp_path, tmp_path_factory, pki, files):
    """The signed part of TC_080 with evse frozen into the image, in a small heap: Accepted,
    Downloading, Downloaded, SignatureVerified, Installing, without a MemoryError."""
    binary = builds.binary("unix32-frozen")
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    st = await _station(tmp_path, tmp_path_factory.mktemp("empty-lib"), binary, heap=HEAP_FROZEN)
    try:
        srv = st.server
        assert (await srv.cp.call(call.InstallCertificate(certificate_type=MF, certificate=pki["root"].pem))).status == "Accepted"
        assert await signed_update(st, 80, files.url("evse.bundle"), pki["signer"].pem, pki["signature"]) == "Accepted"
        await srv.wait(lambda: "Installing" in statuses(st, 80), 60, "Installing")
        assert statuses(st, 80) == ["Downloading", "Downloaded", "SignatureVerified", "Installing"]
        await st.fw.wait_log(r"firmware installed=" + VERSION.replace(".", r"\."))
        before = [line for line in st.fw.lines[:st.fw.lines.index(next(
            x for x in st.fw.lines if "firmware installed=" in x))]]
        assert not [line for line in before if "MemoryError" in line]
    finally:
        await st.close()


async def _tc080(tmp_path, lib, binary, pki, files, heap=None, install_in=None):
    st = await _station(tmp_path, lib, binary, heap=heap)
    try:
        srv = st.server
        assert (await srv.cp.call(call.InstallCertificate(certificate_type=MF, certificate=pki["root"].pem))).status == "Accepted"
        at = utc_in(install_in) if install_in else None
        assert await signed_update(st, 80, files.url("evse.bundle"), pki["signer"].pem, pki["signature"], at) == "Accepted"
        if install_in:  # while InstallScheduled, a plain TriggerMessage gets a 1.6 status
            await srv.wait(lambda: "InstallScheduled" in statuses(st, 80), 60, "InstallScheduled")
            res = await srv.cp.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))
            assert res.status == "Accepted"
            got = await srv.wait(lambda: srv.actions("FirmwareStatusNotification"), 10, "the triggered status")
            assert got[0]["status"] == "Downloaded"
            # and ExtendedTriggerMessage the signed one, with the requestId (whitepaper: "the last
            # status", so InstallScheduled once more)
            res = await srv.cp.call(call.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification"))
            assert res.status == "Accepted"
            await srv.wait(lambda: statuses(st, 80).count("InstallScheduled") == 2, 10, "the extended trigger")
        try:
            await srv.wait(lambda: "Installing" in statuses(st, 80), 60, "Installing")
        except AssertionError as e:
            raise AssertionError(f"statuses {statuses(st, 80)}; firmware log:\n" + "\n".join(st.fw.lines[-30:])) from e
        # the new version's boot (a small heap may have had a download boot, and its session's
        # boot, before: firmware.py)
        try:
            await srv.wait(lambda: [b for b in srv.actions("BootNotification") if b["firmware_version"] == VERSION],
                           30, "the BootNotification of the new version")
        except AssertionError as e:
            raise AssertionError("\n".join(x for x in st.fw.lines[-60:] if "reset type" not in x)) from e
        await srv.wait(lambda: "Installed" in statuses(st, 80), 40, "Installed")
        scheduled = ["InstallScheduled"] * 2 if install_in else []
        assert statuses(st, 80) == ["Downloading", "Downloaded", "SignatureVerified", *scheduled, "Installing",
                                    "Installed"]
        # the signed flow's own notification only, but for the one triggered above
        assert len(srv.actions("FirmwareStatusNotification")) == (1 if install_in else 0)
        await srv.wait(lambda: "FirmwareUpdated" in events(st), 10, "the FirmwareUpdated event")
        assert 1 <= len(st.fw.exits) <= 3  # the switch's reboot (and a download boot's two)
    finally:
        await st.close()
    assert_clean(st)
