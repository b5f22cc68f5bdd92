"""GetDiagnostics and GetLog over the wire, against the `ocpp` central system (every frame
schema-checked) and a loopback HTTP server that receives the uploads: named after the OCA test
cases (TC_045_1/2 diagnostics, TC_079 security log) with the sentence each checks.

One firmware serves the module (one connector, on the 64-bit port; the upload's heap on 32 bits
is measured by tests/ocpp/test_memory.py's way, see the report in firmware/README.md), with
secrets set in config.json (authorization_key, a Wi-Fi password) and over OCPP
(AuthorizationKey): each upload is checked not to contain them. The cases run in the order of
this file, each leaving no upload running.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import pytest_asyncio
from ocpp.v16 import call

from tests.ocpp import conftest
from tests.ocpp.conftest import Station, assert_clean, free_port, recorded, utc_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFIG_KEY = "ConfigAuthKey-7f3a9c21d4"
# The AuthorizationKey arrives hex over OCPP (<= 40 digits, 16-20 bytes); the Basic password is
# its decoded bytes: neither the hex text nor those bytes may be uploaded.
OCPP_KEY_TEXT = "OcppAuthKey-51e8b0c6"
OCPP_KEY = OCPP_KEY_TEXT.encode().hex()
WIFI_PASSWORD = "WifiSecret-c0ffee42"
SECRETS = (CONFIG_KEY, OCPP_KEY, OCPP_KEY.upper(), OCPP_KEY_TEXT, WIFI_PASSWORD)


class Uploads:
    """An HTTP server on 127.0.0.1 that keeps each request (method, path, body) and answers
    with the statuses of `answers` in turn (201 when none is left); `hold` keeps it from
    answering at all until set."""

    def __init__(self, tls=None):
        self.tls = tls  # an ssl.SSLContext: https://
        self.port = free_port()
        self.got: list[tuple[str, str, bytes]] = []
        self.answers: list[int] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self._srv = None

    async def start(self):
        self._srv = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.tls)

    async def _serve(self, r, w):
        try:
            method, path, _ = (await r.readline()).decode().split(" ", 2)
            length = 0
            while (line := await r.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await r.readexactly(length)
            self.got.append((method, path, body))
            recorded()
            await self.hold.wait()
            status = self.answers.pop(0) if self.answers else 201
            w.write(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % status)
            await w.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, OSError):
            pass
        finally:
            w.close()

    def url(self, folder="diag"):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/{folder}"

    async def stop(self):
        self.hold.set()
        self._srv.close()


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit for the shared station (the docstring says where 32 bits are measured)."""
    return request.param


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def st(tmp_path_factory, firmware_lib, micropython):
    station = Station(tmp_path_factory.mktemp("diag"), firmware_lib, micropython)
    station.write_config()
    cfg = json.loads((station.tmp / "config.json").read_text())
    cfg["authorization_key"] = CONFIG_KEY
    cfg["wifi"] = {"ssid": "bench", "password": WIFI_PASSWORD}
    (station.tmp / "config.json").write_text(json.dumps(cfg))
    station.uploads = Uploads()
    await station.uploads.start()
    try:
        await station.server.start()
        await station.fw.start()
        await station.booted()
        await station.server.wait_status(1, "Available")
        yield station
    finally:
        await station.uploads.stop()
        await station.close()
    assert_clean(station)
    shown = [line for line in station.fw.lines if any(s in line for s in SECRETS)]
    assert not shown, f"a secret on the console: {shown}"
    logs = [p for p in (station.tmp / "data").iterdir() if p.name.startswith("log.")]
    assert logs and any(" app started " in p.read_text() for p in logs)
    shown = [p.name for p in logs if any(s in p.read_text() for s in SECRETS)]
    assert not shown, f"a secret in the log on flash: {shown}"


class Since:
    """What the central system and the upload server get from now on."""

    def __init__(self, st: Station):
        self.st = st
        self.n = len(st.server.got)
        self.u = len(st.uploads.got)

    def notes(self, action):
        return [kw for a, kw in self.st.server.got[self.n:] if a == action]

    def uploads(self):
        return self.st.uploads.got[self.u:]

    async def statuses(self, action, n, timeout=15.0, **match):
        def pick():
            found = [kw for kw in self.notes(action) if all(kw.get(k) == v for k, v in match.items())]
            return found if len(found) >= n else None
        return [kw["status"] for kw in await self.st.server.wait(pick, timeout, f"{n} x {action}")]


async def get_diagnostics(st, **kw) -> str | None:
    res = await st.server.cp.call(call.GetDiagnostics(**kw))
    return res.file_name


async def uploaded_text(st, since: Since, name: str) -> str:
    """The body of the upload of `name` once DiagnosticsStatusNotification says Uploaded."""
    assert await since.statuses("DiagnosticsStatusNotification", 2) == ["Uploading", "Uploaded"]
    ups = since.uploads()
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in ups] == [("PUT", name)], ups
    return ups[0][2].decode()


async def test_tc045_1_diagnostics_uploaded_with_summary_and_log(st):
    """TC_045_1. OCPP 1.6 6.22: "Upon receipt of a GetDiagnostics.req PDU, and if diagnostics
    information is available then Charge Point SHALL respond with a GetDiagnostics.conf PDU
    stating the name of the file containing the diagnostic information that will be uploaded.
    Charge Point SHALL upload a single file." 4.4: "Charge Point sends a notification to inform
    the Central System about the status of a diagnostics upload" (Uploading, then Uploaded).
    The file goes to location/fileName; it holds the summary, then the log lines."""
    since = Since(st)
    name = await get_diagnostics(st, location=st.uploads.url() + "/", retries=0)
    assert name and name.startswith("CP-1-diag-") and name.endswith(".txt"), name
    text = await uploaded_text(st, since, name)
    assert st.uploads.got[since.u][1] == f"/diag/{name}"  # location is a directory
    lines = text.splitlines()
    assert lines[0].startswith("# diagnostics ")
    summary = lines[:lines.index(next(x for x in lines if x.startswith("# log ")))]
    for want in ("boot firmwareVersion ", "boot chargePointModel ", "uptime_s ", "heap alloc ",
                 "journal 0 registration Accepted", "connector 1 status Available",
                 "config ocpp HeartbeatInterval 30", "config ocpp MeterValueSampleInterval 1", "config charge_point_id CP-1",
                 "config wifi ssid bench password set", "config authorization_key set",
                 "config csms_url ws://127.0.0.1:"):
        assert any(x.startswith(want) for x in summary), (want, summary)
    log = lines[len(summary) + 1:]
    assert any(" app started " in x for x in log) and any(" boot accepted" in x for x in log), log
    for x in log:  # every line: its OCPP time, then the console line with its ticks
        assert x[4] == "-" and x[19:22] == "Z [", x


async def test_tc045_1_start_and_stop_time_choose_the_lines(st):
    """OCPP 1.6 GetDiagnostics.req: "startTime: This contains the date and time of the oldest
    logging information to include in the diagnostics." / "stopTime: ... the latest logging
    information to include in the diagnostics." Lines of the seconds before startTime and after
    stopTime are left out; the summary is there either way."""
    await asyncio.sleep(1.1)
    middle = utc_in()
    await asyncio.sleep(1.1)
    since = Since(st)
    first = await get_diagnostics(st, location=st.uploads.url())  # logs "upload ok=1" after middle
    await uploaded_text(st, since, first)
    await asyncio.sleep(1.1)

    cut = middle[:19] + "Z"  # the window's bounds are whole seconds, as the lines' times
    since = Since(st)
    name = await get_diagnostics(st, location=st.uploads.url(), start_time=middle)
    text = await uploaded_text(st, since, name)
    assert "# log " in text and "boot firmwareVersion" in text
    log = text.split("\n# log ")[1].splitlines()[1:]
    assert log and all(x[:20] >= cut for x in log), log
    assert any(" upload ok=1 " in x for x in log) and " app started " not in text, text

    since = Since(st)
    name = await get_diagnostics(st, location=st.uploads.url(), stop_time=middle)
    text = await uploaded_text(st, since, name)
    log = text.split("\n# log ")[1].splitlines()[1:]
    assert log and all(x[:20] <= cut for x in log), log
    assert any(" app started " in x for x in log), text

    since = Since(st)  # a window before anything was logged: the summary alone
    name = await get_diagnostics(st, location=st.uploads.url(), start_time="2001-01-01T00:00:00Z",
                                 stop_time="2001-01-02T00:00:00+02:00")
    text = await uploaded_text(st, since, name)
    assert text.splitlines()[-1].startswith("# log 2001-01-01T00:00:00Z 2001-01-01T22:00:00Z"), text


async def test_the_upload_contains_no_secret(st):
    """Issue 14: "GetDiagnostics uploads to a loopback server and the upload contains no
    secret." The AuthorizationKey set over OCPP, config.json's authorization_key and Wi-Fi
    password: none of them in a GetDiagnostics upload nor a GetLog one."""
    res = await st.server.cp.call(call.ChangeConfiguration(key="AuthorizationKey", value=OCPP_KEY))
    assert res.status == "Accepted"
    since = Since(st)
    name = await get_diagnostics(st, location=st.uploads.url())
    text = await uploaded_text(st, since, name)
    res = await st.server.cp.call(call.GetLog(log_type="DiagnosticsLog", request_id=5,
                                              log={"remoteLocation": st.uploads.url("logs")}))
    assert res.status == "Accepted"
    assert await since.statuses("LogStatusNotification", 2, request_id=5) == ["Uploading", "Uploaded"]
    for _, _, body in since.uploads():
        for secret in SECRETS:
            assert secret not in body.decode(), secret
    assert "AuthorizationKey" not in text and "config wifi ssid bench password set" in text


async def test_tc045_2_upload_fails_after_the_retries(st):
    """TC_045_2. OCPP 1.6 GetDiagnostics.req: "retries: This specifies how many times Charge
    Point must try to upload the diagnostics before giving up." and "retryInterval: The interval
    in seconds after which a retry may be attempted." Here retries=2 is the first try and two
    more, a retryInterval apart; then UploadFailed. A server that answers 500, then one that
    refuses the connection."""
    since = Since(st)
    st.uploads.answers = [500, 500, 500]
    t0 = asyncio.get_running_loop().time()
    name = await get_diagnostics(st, location=st.uploads.url(), retries=2, retry_interval=1)
    assert name
    assert await since.statuses("DiagnosticsStatusNotification", 2) == ["Uploading", "UploadFailed"]
    assert asyncio.get_running_loop().time() - t0 >= 2.0  # two waits of retryInterval
    assert len(since.uploads()) == 3 and not st.uploads.answers

    since = Since(st)
    refused = f"http://127.0.0.1:{free_port()}/nobody"
    assert await get_diagnostics(st, location=refused, retries=1, retry_interval=1)
    assert await since.statuses("DiagnosticsStatusNotification", 2) == ["Uploading", "UploadFailed"]
    await st.fw.wait_log(r"upload try=2 of=2 error=", timeout=5)


async def test_no_file_name_where_nothing_can_be_uploaded(st):
    """OCPP 1.6 GetDiagnostics.conf: "fileName: ... This field is not present when no
    diagnostic information is available." A location we cannot upload to (ftp://; https://
    without a CA in config.json): no fileName, no status notification, no upload."""
    since = Since(st)
    assert await get_diagnostics(st, location="ftp://127.0.0.1/diag") is None
    assert await get_diagnostics(st, location=f"https://127.0.0.1:{st.uploads.port}/diag") is None
    res = await st.server.cp.call(call.GetLog(log_type="DiagnosticsLog", request_id=9,
                                              log={"remoteLocation": "ftp://127.0.0.1/x"}))
    assert res.status == "Rejected" and res.filename is None
    await asyncio.sleep(0.5)
    assert not since.notes("DiagnosticsStatusNotification") and not since.uploads()


async def test_trigger_diagnostics_status_idle_then_uploading(st):
    """OCPP 1.6 4.4 / TriggerMessage: "Charge Point SHALL send a DiagnosticsStatusNotification.req
    ... with status Idle ... when it is not busy uploading diagnostics" (the only time Idle is
    sent); while an upload runs, the trigger answers Uploading."""
    since = Since(st)
    res = await st.server.cp.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
    assert res.status == "Accepted"
    assert await since.statuses("DiagnosticsStatusNotification", 1) == ["Idle"]

    st.uploads.hold.clear()  # the upload waits for its answer
    try:
        since = Since(st)
        name = await get_diagnostics(st, location=st.uploads.url(), retries=0)
        await st.server.wait(lambda: since.uploads(), 10, "the upload")
        res = await st.server.cp.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
        assert res.status == "Accepted"
        assert await since.statuses("DiagnosticsStatusNotification", 2) == ["Uploading", "Uploading"]
    finally:
        st.uploads.hold.set()
    assert await since.statuses("DiagnosticsStatusNotification", 3) == ["Uploading", "Uploading", "Uploaded"]
    assert since.uploads()[0][1].endswith(name)


async def test_tc079_get_security_log(st):
    """TC_079. Security whitepaper GetLog: "logType: This contains the type of log file that
    the Charge Point should send." / LogStatusNotification: "requestId: The request id that
    was provided in the GetLogRequest that started this log upload." A SecurityLog upload holds
    the security log's lines (StartupOfTheDevice at least), as JSON lines, and no secret."""
    since = Since(st)
    res = await st.server.cp.call(call.GetLog(log_type="SecurityLog", request_id=7,
                                              log={"remoteLocation": st.uploads.url("sec") + "/",
                                                   "oldestTimestamp": "2020-01-01T00:00:00Z"},
                                              retries=1, retry_interval=1))
    assert res.status == "Accepted" and res.filename.startswith("CP-1-security-"), res
    assert await since.statuses("LogStatusNotification", 2, request_id=7) == ["Uploading", "Uploaded"]
    (method, path, body), = since.uploads()
    assert (method, path) == ("PUT", f"/sec/{res.filename}")
    events = [json.loads(x) for x in body.decode().splitlines()]
    assert events and all("timestamp" in e and "type" in e for e in events), body
    assert any(e["type"] == "StartupOfTheDevice" for e in events), events
    assert not any(s in body.decode() for s in SECRETS)

    since = Since(st)  # a window that holds nothing: an empty file, still uploaded
    res = await st.server.cp.call(call.GetLog(log_type="SecurityLog", request_id=8,
                                              log={"remoteLocation": st.uploads.url("sec"),
                                                   "latestTimestamp": "2020-01-01T00:00:00Z"}))
    assert res.status == "Accepted"
    assert await since.statuses("LogStatusNotification", 2, request_id=8) == ["Uploading", "Uploaded"]
    assert since.uploads()[0][2] == b""


async def test_get_log_mid_upload_is_accepted_canceled(st):
    """Security whitepaper GetLog: "AcceptedCanceled: Accepted this log upload, but in doing
    this has canceled an ongoing log file upload." The first upload stops (no Uploaded for it),
    the second goes through. ExtendedTriggerMessage LogStatusNotification (GetLog.status): the
    current status, Uploading with the requestId while an upload runs, Idle when none does
    (ocpp16-profiles.md 4: "with nothing running -> Idle")."""
    since = Since(st)
    st.uploads.hold.clear()
    try:
        res = await st.server.cp.call(call.GetLog(log_type="DiagnosticsLog", request_id=11,
                                                  log={"remoteLocation": st.uploads.url("a")}))
        assert res.status == "Accepted"
        await st.server.wait(lambda: since.uploads(), 10, "the first upload")
        res = await st.server.cp.call(call.ExtendedTriggerMessage(requested_message="LogStatusNotification"))
        assert res.status == "Accepted"
        assert await since.statuses("LogStatusNotification", 2, request_id=11) == ["Uploading", "Uploading"]
        res = await st.server.cp.call(call.GetLog(log_type="SecurityLog", request_id=12,
                                                  log={"remoteLocation": st.uploads.url("b")}))
        assert res.status == "AcceptedCanceled"
    finally:
        st.uploads.hold.set()
    assert await since.statuses("LogStatusNotification", 2, request_id=12) == ["Uploading", "Uploaded"]
    await asyncio.sleep(0.5)
    # the job's Uploading and the triggered one; never an end for the cancelled upload
    assert [kw["status"] for kw in since.notes("LogStatusNotification") if kw["request_id"] == 11] == \
        ["Uploading", "Uploading"]
    assert [p.split("/")[1] for _, p, _ in since.uploads()] == ["a", "b"]
    since = Since(st)  # nothing running: Idle, without a requestId
    res = await st.server.cp.call(call.ExtendedTriggerMessage(requested_message="LogStatusNotification"))
    assert res.status == "Accepted"
    assert await since.statuses("LogStatusNotification", 1) == ["Idle"]
    assert since.notes("LogStatusNotification")[0].get("request_id") is None


@pytest.mark.parametrize("payload, code", [
    ({}, "OccurenceConstraintViolation"),  # location is required
    ({"location": 5}, "TypeConstraintViolation"),
    ({"location": "not a uri"}, "FormationViolation"),
    ({"location": "http://127.0.0.1/d", "retries": "3"}, "TypeConstraintViolation"),
    ({"location": "http://127.0.0.1/d", "retries": -1}, "PropertyConstraintViolation"),
    ({"location": "http://127.0.0.1/d", "retryInterval": -5}, "PropertyConstraintViolation"),
    ({"location": "http://127.0.0.1/d", "startTime": "yesterday"}, "FormationViolation"),
    ({"location": "http://127.0.0.1/d", "stopTime": 1}, "TypeConstraintViolation"),
    ({"location": "http://127.0.0.1/d", "extra": 1}, "FormationViolation"),
])
async def test_malformed_get_diagnostics_is_a_callerror(st, payload, code):
    """OCPP-J 4.2.3: a payload that breaks the schema is answered with a CALLERROR, and nothing
    is uploaded."""
    since = Since(st)
    ans = await st.raw(json.dumps([2, "gd1", "GetDiagnostics", payload]))
    assert ans[0] == 4 and ans[1] == "gd1", ans
    assert ans[2] in conftest.CALLERROR_CODES and ans[2] == code or ans[2] in _SAME[code], ans
    assert not since.notes("DiagnosticsStatusNotification")


# The schema checker's codes where two are defensible (operations/__init__.py, schema.py)
_SAME = {"FormationViolation": ("FormationViolation", "PropertyConstraintViolation"),
         "OccurenceConstraintViolation": ("OccurenceConstraintViolation", "FormationViolation"),
         "TypeConstraintViolation": ("TypeConstraintViolation",),
         "PropertyConstraintViolation": ("PropertyConstraintViolation",)}


@pytest.mark.parametrize("payload", [
    {"logType": "DiagnosticsLog", "requestId": 1},  # no log
    {"logType": "Debug", "requestId": 1, "log": {"remoteLocation": "http://127.0.0.1/x"}},
    {"logType": "SecurityLog", "requestId": "1", "log": {"remoteLocation": "http://127.0.0.1/x"}},
    {"logType": "SecurityLog", "requestId": 1, "log": {}},
    {"logType": "SecurityLog", "requestId": 1, "log": {"remoteLocation": "x" * 513}},
    {"logType": "SecurityLog", "requestId": 1, "log": {"remoteLocation": "http://127.0.0.1/x",
                                                        "oldestTimestamp": "2020-13-01T00:00:00Z"}},
    {"logType": "SecurityLog", "requestId": 1, "retries": -1, "log": {"remoteLocation": "http://127.0.0.1/x"}},
])
async def test_malformed_get_log_is_a_callerror(st, payload):
    """OCPP-J 4.2.3, for GetLog: a CALLERROR, nothing uploaded, nothing notified."""
    since = Since(st)
    ans = await st.raw(json.dumps([2, "gl1", "GetLog", payload]))
    assert ans[0] == 4 and ans[1] == "gl1" and ans[2] in conftest.CALLERROR_CODES, ans
    assert ans[2] not in ("InternalError", "GenericError", "NotImplemented"), ans
    await asyncio.sleep(0.3)
    assert not since.notes("LogStatusNotification") and not since.uploads()


async def test_upload_over_https_is_verified_with_the_ca(tmp_path, firmware_lib, micropython):
    """Issue 14: "upload ... to `location` over HTTP(S)": an https:// location is uploaded to
    over TLS verified with config.json's ca_cert (the CA of the OCPP connection); a server whose
    certificate another CA signed gets nothing: UploadFailed."""
    from cryptography.hazmat.primitives import serialization

    from tests.test_ws_client import _ca, _server_ctx
    ca_key, ca_cert = _ca("Test upload CA")
    other_key, other_cert = _ca("Some other CA")
    good = Uploads(_server_ctx(tmp_path, ca_key, ca_cert, "127.0.0.1", "127.0.0.1"))
    bad = Uploads(_server_ctx(tmp_path, other_key, other_cert, "127.0.0.1", "127.0.0.1"))
    st = Station(tmp_path / "flash", firmware_lib, micropython)
    st.tmp.mkdir()
    st.write_config()
    cfg = json.loads((st.tmp / "config.json").read_text())
    cfg["ca_cert"] = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    (st.tmp / "config.json").write_text(json.dumps(cfg))
    try:
        await good.start()
        await bad.start()
        await st.server.start()
        await st.fw.start()
        await st.booted()
        st.uploads = good
        since = Since(st)
        name = await get_diagnostics(st, location=good.url(), retries=0)
        text = await uploaded_text(st, since, name)
        assert text.startswith("# diagnostics ") and "config ca_cert set" in text
        assert "BEGIN CERTIFICATE" not in text
        st.uploads = bad
        since = Since(st)
        assert await get_diagnostics(st, location=bad.url(), retries=0)
        assert await since.statuses("DiagnosticsStatusNotification", 2) == ["Uploading", "UploadFailed"]
        assert not since.uploads()  # the handshake failed: no request reached it
        # The CA store decides (wstls.https_ca), not config.json alone: the provisioned CA once
        # DeleteCertificate dropped it verifies nothing (no https:// location: no file name)...
        from tests.ocpp.test_certificates import host_hash
        res = await st.server.cp.call(call.DeleteCertificate(certificate_hash_data=host_hash(ca_cert)))
        assert res.status == "Accepted"  # not in use: the OCPP connection is ws://
        assert await get_diagnostics(st, location=good.url(), retries=0) is None
        # ...and a CentralSystemRootCertificate installed over OCPP does
        other_pem = other_cert.public_bytes(serialization.Encoding.PEM).decode()
        res = await st.server.cp.call(call.InstallCertificate(
            certificate_type="CentralSystemRootCertificate", certificate=other_pem))
        assert res.status == "Accepted"
        since = Since(st)
        name = await get_diagnostics(st, location=bad.url(), retries=0)
        assert (await uploaded_text(st, since, name)).startswith("# diagnostics ")
    finally:
        await good.stop()
        await bad.stop()
        await st.close()
    assert_clean(st)


# -- memory: an upload in the middle of a charging session, on the 32-bit builds ---------------

# The heaps of tests/ocpp/test_memory.py's session (unix32 .mpy 80k, frozen 34k): the upload
# (its job, evse.http, the 1 KiB block, the copy of a full log) must fit the same heap.
UPLOAD_HEAPS = {"unix32": "92k", "unix32-frozen": "36k"}


def _fill_log(flash: Path):
    """A full log on flash as a long-running board has it: both files near their 16 KB."""
    (flash / "data").mkdir(exist_ok=True)
    line = "2026-01-01T00:00:00Z [  12.345] filler connector=1 text=%s\n" % ("x" * 60)
    for name in ("log.1", "log.txt"):
        (flash / "data" / name).write_text(line * (15000 // len(line)))


_last: list = [None]


async def upload_mid_session(flash: Path, lib: Path, binary: str, heap: str) -> Station:
    from tests.ocpp.test_core_profile import start_charging
    _fill_log(flash)
    st = Station(flash, lib, binary)
    _last[0] = st
    st.fw.heap = heap
    uploads = Uploads()
    await uploads.start()
    try:
        await st.start()
        await st.booted()
        tid = await start_charging(st)
        st.uploads = uploads
        since = Since(st)
        name = await get_diagnostics(st, location=uploads.url(), retries=0)
        assert await since.statuses("DiagnosticsStatusNotification", 2, timeout=30) == ["Uploading", "Uploaded"]
        body = uploads.got[0][2]
        # the boot's own lines may have moved the full log.txt to log.1 already: one file at least
        assert body.count(b" filler ") >= 15000 // 117 and name in uploads.got[0][1], len(body)
        await st.server.wait_msg("MeterValues", n=2, transaction_id=tid, timeout=15)
        assert await st.remote_stop(tid) == "Accepted"
        await st.server.wait_msg("StopTransaction")
        st.restarts = list(st.fw.exits)  # before close() kills it
    finally:
        await uploads.stop()
        await st.close()
    return st


@pytest.mark.parametrize("build", list(UPLOAD_HEAPS))
async def test_an_upload_mid_session_fits_the_32_bit_heap(tmp_path, tmp_path_factory, build):
    """Issue 14's goal for the whole update path, here for the diagnostics upload: it "fits in
    the same heap as a charging session". A GetDiagnostics of a full log (2 x 15 KB) during a
    transaction, on the 32-bit .mpy build at 80k and frozen at 34k: Uploaded, the whole log
    sent, the session goes on to its stop, no MemoryError, no restart."""
    from tests import builds
    from tests.ocpp.test_memory import BOARD_LIB
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    flash = tmp_path / "flash"
    flash.mkdir()
    if builds.frozen(build):
        lib = tmp_path_factory.mktemp("empty-lib")
    else:
        from tests.ocpp.conftest import build_lib
        build_lib(flash / BOARD_LIB)
        lib = Path(BOARD_LIB)
    st = await upload_mid_session(flash, lib, binary, UPLOAD_HEAPS[build])
    assert st.restarts == [], "\n".join(st.fw.lines[-30:])
    assert not [x for x in st.fw.lines if "MemoryError" in x or "crash" in x or "Traceback" in x], \
        "\n".join(st.fw.lines[-40:])
    assert conftest.frame_problems(st.server.frames) == []


async def _main(heap: str, build: str) -> int:
    """`python -m tests.ocpp.test_diagnostics HEAP BUILD`: the upload mid-session at one heap
    size, to find the smallest that works."""
    import tempfile

    from tests import builds
    from tests.ocpp.conftest import build_lib
    from tests.ocpp.test_memory import BOARD_LIB
    with tempfile.TemporaryDirectory() as d:
        flash = Path(d) / "flash"
        (flash / BOARD_LIB).mkdir(parents=True)
        if not builds.frozen(build):
            build_lib(flash / BOARD_LIB)
        ok = True
        try:
            st = await upload_mid_session(flash, Path(BOARD_LIB), builds.binary(build), heap)
        except AssertionError as e:
            print("FAILED:", str(e)[:300])
            print("\n".join(_last[0].fw.lines[-25:]))
            ok = False
        else:
            ok = not st.restarts and not any("MemoryError" in x for x in st.fw.lines)
            for line in st.fw.lines:
                if any(w in line for w in ("app started", "upload", "Memory", "crash", "@@exit", "mem ", "] M", "Trace", "File", "error")):
                    print(line)
        print(f"build={build} heap={heap} ok={ok}")
        return 0 if ok else 1


if __name__ == "__main__":
    import sys
    sys.exit(asyncio.run(_main(sys.argv[1], sys.argv[2])))
