"""Firmware updates and diagnostics through the backend (transfers.py, transfer_routes.py, the
update-firmware and get-diagnostics actions), under uvicorn on 127.0.0.1, with a real OCPP 1.6
charge point from the `ocpp` package as the charger (its schema checks on: what the backend
sends must be valid UpdateFirmware and GetDiagnostics).

OCPP 1.6 section 6.17 UpdateFirmware: "the Central System SHALL send an UpdateFirmware.req PDU
to instruct the Charge Point to install new firmware. The PDU SHALL contain a date and time
after which the Charge Point is allowed to retrieve the new firmware and the location from
which the firmware can be downloaded." Section 6.6 GetDiagnostics: "The Central System can
request a Charge Point for diagnostic information ... The Charge Point SHALL respond with a
GetDiagnostics.conf stating the name of the file containing the diagnostic information that
will be uploaded."
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
import websockets
from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v16 import call
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action

from host_tools.backend import transfers as transfers_module

from .conftest import (
    OPERATOR_AUTH,
    OPERATOR_TOKEN,
    T0,
    FakeClock,
    Server,
    TestChargePoint,
    connect,
    make_bundle,
    operator_server,
    until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN, AUTH = OPERATOR_TOKEN, OPERATOR_AUTH
ACTIONS = "/api/v3/chargers/{}/actions/"


GOOD = make_bundle()


class Charger(TestChargePoint):
    """Answers UpdateFirmware ({}) and GetDiagnostics (fileName), or a CALLERROR when told."""

    __test__ = False

    def __init__(self, identity, ws):
        super().__init__(identity, ws)
        self.got: asyncio.Queue = asyncio.Queue()
        self.error = False
        self.file_name: str | None = "CP-1-diag-20260110T011432Z.txt"
        self.upload_early: bytes | None = None
        self.early_put: asyncio.Future | None = None

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw):
        self.got.put_nowait(("UpdateFirmware", kw))
        if self.error:
            raise NotSupportedError(description="no FirmwareManagement")
        return result.UpdateFirmware()

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, **kw):
        self.got.put_nowait(("GetDiagnostics", kw))
        if self.error:
            raise NotSupportedError(description="no FirmwareManagement")
        if self.upload_early is not None:  # the upload starts before the answer goes out
            self.early_put = asyncio.ensure_future(self._put(
                f"{kw['location']}/{self.file_name}", self.upload_early))
            await asyncio.sleep(0.3)
        return result.GetDiagnostics(file_name=self.file_name)

    @staticmethod
    async def _put(url: str, content: bytes) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.put(url, content=content)

    def drain(self) -> list:
        out = []
        while not self.got.empty():
            out.append(self.got.get_nowait())
        return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory):
    srv = operator_server(tmp_path_factory.mktemp("fw"), 1.0)
    await srv.start()
    yield srv
    await srv.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cp(server):
    link = await connect(server, charge_point=Charger)
    yield link.cp
    await link.close()


@pytest_asyncio.fixture(loop_scope="module")
async def http(server, cp):
    cp.error = False
    cp.file_name = "CP-1-diag-20260110T011432Z.txt"
    cp.upload_early = None
    cp.drain()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
        yield client


async def upload(http, data: bytes, headers: dict | None = None) -> httpx.Response:
    return await http.post("/api/v3/firmware", content=data,
                           headers=AUTH if headers is None else headers)


async def act(http, action: str, body: object, identity: str = "CP-1",
              headers: dict | None = None) -> httpx.Response:
    return await http.post(ACTIONS.format(identity) + action, json=body,
                           headers=AUTH if headers is None else headers)


def stored(server) -> list[str]:
    """Every file in the backend's firmware folder (temporary ones too)."""
    folder = server.backend.central.transfers.data_dir / "firmware"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- authentication ---------------------------------------------------------------------------

def _requests():
    return [("POST", "/api/v3/firmware", {"content": GOOD}),
            ("GET", "/api/v3/firmware", {}),
            ("GET", "/api/v3/chargers/CP-1/firmware", {}),
            ("GET", "/api/v3/chargers/CP-1/diagnostics", {}),
            ("GET", "/api/v3/chargers/CP-1/diagnostics/x.txt", {}),
            ("POST", ACTIONS.format("CP-1") + "update-firmware", {"json": {"location":
                                                                           "http://a/b"}}),
            ("POST", ACTIONS.format("CP-1") + "get-diagnostics", {"json": {}})]


@pytest.mark.parametrize(("method", "path", "kw"), _requests())
@pytest.mark.parametrize("header", [None, f"Bearer {TOKEN}x", f"Basic {TOKEN}"])
async def test_operator_calls_need_the_token(http, cp, server, method, path, kw, header):
    before = stored(server)
    r = await http.request(method, path, headers={"Authorization": header} if header else {},
                           **kw)
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert cp.drain() == [] and stored(server) == before


async def test_without_an_operator_token_they_are_off(tmp_path):
    srv = Server(str(tmp_path / "db"), FakeClock())
    await srv.start()
    try:
        async with httpx.AsyncClient(base_url=srv.base) as http:
            for method, path, kw in _requests():
                r = await http.request(method, path, headers=AUTH, **kw)
                assert r.status_code == 403, (path, r.text)
    finally:
        await srv.stop()


# --- bundles ----------------------------------------------------------------------------------

async def test_a_bundle_is_stored_by_version_and_sha256_and_served_with_its_length(http, server):
    r = await upload(http, GOOD)
    assert r.status_code == 201, r.text
    body = r.json()
    sha = hashlib.sha256(GOOD).hexdigest()
    assert body == {"name": f"evse-0.2.0-{sha[:16]}.bundle", "version": "0.2.0", "sha256": sha,
                    "size": len(GOOD), "files": 2, "url": f"/firmware/evse-0.2.0-{sha[:16]}.bundle"}
    again = await upload(http, GOOD)
    assert again.json()["name"] == body["name"]  # the same bundle, the same name
    # the charger's download: public, no token, Content-Length set
    got = await http.get(body["url"])
    assert got.status_code == 200
    assert got.content == GOOD and got.headers["content-length"] == str(len(GOOD))
    listed = (await http.get("/api/v3/firmware", headers=AUTH)).json()["data"]
    assert {"name": body["name"], "version": "0.2.0", "size": len(GOOD)} in listed
    assert not [n for n in stored(server) if n.startswith(".")]  # no temporary file left
    # the data folder's default: beside the database, named after it
    assert server.backend.central.transfers.data_dir == Path(server.db).with_name("backend-files")


async def test_the_list_survives_files_that_vanish(http, server):
    """An upload's temporary file is gone when the upload ends, and a bundle may be deleted by
    hand while the folder is listed: a name listed whose file is gone (here: a dangling link)
    is left out, not a 500."""
    await upload(http, GOOD)
    folder = server.backend.central.transfers.data_dir / "firmware"
    gone = [folder / ".upload-vanished", folder / "evse-9.9.9-0123456789abcdef.bundle"]
    for link in gone:
        link.symlink_to(folder / "no-such-file")
    try:
        r = await http.get("/api/v3/firmware", headers=AUTH)
        assert r.status_code == 200, r.text
        names = [b["name"] for b in r.json()["data"]]
        assert names and gone[1].name not in names
    finally:
        for link in gone:
            link.unlink()


async def test_a_version_is_kept_as_given_and_escaped_in_the_name(http):
    data = make_bundle(version="0.2/0~rc")
    r = await upload(http, data)
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    assert r.json()["version"] == "0.2/0~rc" and name.startswith("evse-0.2_0_rc-")
    assert (await http.get(f"/firmware/{name}")).content == data


async def test_a_bundle_from_chargerctl_bundle_is_taken_as_is(http):
    """What host_tools/bundle.py builds the backend stores, with the version and file count
    the bundle says."""
    from host_tools import bundle

    data = bundle.encode("0.3.0", {"main.py": b"print(1)\n", "lib/evse/x.mpy": b"\x4d" * 999})
    assert bundle.read_bundle(data)[0] == "0.3.0"
    r = await upload(http, data)
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["files"]) == ("0.3.0", 2)


def _with_path(path: str) -> bytes:
    """A bundle whose one file has this board path (the builder refuses to write a bad one)."""
    return make_bundle(files={"main.py": b"x"}).replace(b"main.py ", path.encode() + b" ", 1)


def _damaged() -> dict[str, tuple[bytes, str]]:
    good = GOOD
    header_end = good.index(b"\n") + 1
    body_at = good.index(b"import evse")
    return {
        "empty": (b"", "the file is empty"),
        "text": (b"hello world\n", "not an evse-bundle 1"),
        "zip": (b"PK\x03\x04" + bytes(500), "line too long"),
        "format 2": (good.replace(b"evse-bundle 1", b"evse-bundle 2", 1),
                     "not an evse-bundle 1"),
        "no version": (b"evse-bundle 1 \n" + good[header_end:], "not an evse-bundle 1"),
        "version with a space": (good.replace(b"1 0.2.0\n", b"1 0.2 0\n", 1),
                                 "not an evse-bundle 1"),
        "header only": (good[:header_end], "truncated"),
        "truncated in a file": (good[:body_at + 5], "truncated"),
        "truncated before end": (good[:good.rindex(b"end ")], "truncated"),
        "end line cut": (good[:-10], "truncated"),
        "a file's byte changed": (good[:body_at] + b"X" + good[body_at + 1:],
                                  "bad file sha256: main.py"),
        "whole sha256 wrong": (good[:-65] + b"0" * 64 + b"\n", "bad bundle sha256"),
        "count wrong": (good.replace(b"end 2 ", b"end 3 "), "bad file count"),
        "bytes after the end": (good + b"x", "bytes after the end"),
        "path with ..": (_with_path("../boot.py"), "bad path: '../boot.py'"),
        "path lib/": (_with_path("lib/"), "bad path: 'lib/'"),
        "absolute path": (_with_path("/main.py"), "bad path"),
        "size not a number": (good.replace(b"main.py 16 ", b"main.py sixteen ", 1), "bad size"),
        "a line too long": (b"evse-bundle 1 " + b"9" * 300 + b"\n", "line too long"),
    }


@pytest.mark.parametrize("case", list(_damaged()))
async def test_a_file_that_is_not_a_good_bundle_is_refused_and_not_kept(http, server, case):
    data, why = _damaged()[case]
    before = stored(server)
    r = await upload(http, data)
    assert r.status_code == 422, r.text
    assert why in r.json()["message"], r.json()
    assert r.json()["errors"]["bundle"]
    assert stored(server) == before


async def test_a_bundle_too_large_is_413(http, server, monkeypatch):
    """Past the limit: refused by its Content-Length before the body is read, and, streamed
    without one, while it is read; nothing is kept either way."""
    monkeypatch.setattr(transfers_module, "BUNDLE_MAX_BYTES", len(GOOD) - 1)
    before = stored(server)
    r = await upload(http, GOOD)  # httpx sends the Content-Length
    assert r.status_code == 413, r.text
    assert r.json()["message"] == (f"A bundle is at most {len(GOOD) - 1} bytes; this one is "
                                   f"{len(GOOD)}.")

    async def body():  # streamed, no Content-Length: the limit holds while reading
        yield GOOD[:100]
        yield GOOD[100:]

    r = await http.post("/api/v3/firmware", content=body(), headers=AUTH)
    assert r.status_code == 413, r.text
    assert r.json()["message"] == f"A bundle is at most {len(GOOD) - 1} bytes."
    assert stored(server) == before
    monkeypatch.undo()  # at the limit exactly: taken
    monkeypatch.setattr(transfers_module, "BUNDLE_MAX_BYTES", len(GOOD))
    assert (await upload(http, GOOD)).status_code == 201


@pytest.mark.parametrize("name", ["nope.bundle", "evse-0.2.0-0000000000000000.bundle",
                                  "..%2Fbackend.db", "%2E%2E"])
async def test_an_unknown_bundle_is_404(http, name):
    r = await http.get(f"/firmware/{name}")
    assert r.status_code == 404


async def _names_bad_field(http, cp, action: str, body: dict, field: str, said: str) -> None:
    """422 with `said` in `field`'s errors, and nothing sent to the charger."""
    r = await act(http, action, body)
    assert r.status_code == 422, r.text
    assert said in " ".join(r.json()["errors"][field]), r.json()
    assert cp.drain() == []


# --- update-firmware --------------------------------------------------------------------------

def _bad_update_bodies():
    return [
        ({}, "bundle", "required when location"),
        ({"bundle": "x", "location": "http://a/b"}, "bundle", "prohibits"),
        ({"bundle": "evse-9.9.9-0000000000000000.bundle"}, "bundle", "upload it first"),
        ({"bundle": 7}, "bundle", "upload it first"),
        ({"location": "ftp://host/fw.bundle"}, "location", "http:// or https://"),
        ({"location": "http://"}, "location", "http:// or https://"),
        ({"location": "http://a b/c"}, "location", "http:// or https://"),
        ({"location": ["http://a/b"]}, "location", "http:// or https://"),
        ({"location": "http://a/" + "x" * 600}, "location", "512"),
        ({"location": "http://a/b", "retrieve_date": "tomorrow"}, "retrieve_date", "offset"),
        ({"location": "http://a/b", "retrieve_date": "2026-01-10T14:30:00"}, "retrieve_date",
         "offset"),
        ({"location": "http://a/b", "retrieve_date": 5}, "retrieve_date", "offset"),
        ({"location": "http://a/b", "retrieve_date": "2027-01-10T14:30:00Z"}, "retrieve_date",
         "30 days"),
        ({"location": "http://a/b", "retries": -1}, "retries", "between 0 and 10"),
        ({"location": "http://a/b", "retries": 11}, "retries", "between 0 and 10"),
        ({"location": "http://a/b", "retries": "3"}, "retries", "integer"),
        ({"location": "http://a/b", "retries": True}, "retries", "integer"),
        ({"location": "http://a/b", "retry_interval": 0}, "retry_interval", "between 1 and"),
        ({"location": "http://a/b", "retry_interval": 86401}, "retry_interval", "between 1"),
        ({"location": "http://a/b", "retry_interval": 2.5}, "retry_interval", "integer"),
    ]


@pytest.mark.parametrize(("body", "field", "said"), _bad_update_bodies())
async def test_update_firmware_names_every_bad_field(http, cp, body, field, said):
    await _names_bad_field(http, cp, "update-firmware", body, field, said)


async def test_update_firmware_of_an_unknown_or_offline_charger(http, cp):
    body = {"location": "http://127.0.0.1/fw.bundle"}
    assert (await act(http, "update-firmware", body, identity="CP-NONE")).status_code == 404
    r = await act(http, "update-firmware", body, identity="CP-PRIV")  # known, not connected
    assert r.status_code == 400 and "offline" in r.json()["message"]
    r = await act(http, "get-diagnostics", {}, identity="CP-PRIV")
    assert r.status_code == 400
    assert cp.drain() == []


async def events(http, topic: str, after: int = 0, wait: float = 0) -> dict:
    r = await http.get(f"/api/v3/chargers/CP-1/{topic}",
                       params={"after": after, "wait": wait}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


async def test_tc_044_1_update_firmware_sends_the_bundle_url_and_records_each_status(
        http, cp, server):
    """TC_044_1: "the Charge Point SHALL send a FirmwareStatusNotification.req PDU ... to
    inform the Central System about the progress of the downloading and installation of a
    firmware update" - each one is kept, in order, and the version of the next boot."""
    name = (await upload(http, GOOD)).json()["name"]
    r = await act(http, "update-firmware", {"bundle": name, "retries": 2, "retry_interval": 30,
                                            "retrieve_date": "2026-01-10T02:00:00+01:00"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "Accepted" and answer["version"] == "0.2.0"
    assert answer["location"] == f"{server.base}/firmware/{name}"
    action, payload = await asyncio.wait_for(cp.got.get(), 2)
    assert action == "UpdateFirmware"
    assert payload == {"location": answer["location"], "retries": 2, "retry_interval": 30,
                       "retrieve_date": "2026-01-10T01:00:00.000Z"} == {
        **payload, "retrieve_date": answer["retrieve_date"]}
    # the charger downloads from the location it was given: this very backend
    async with httpx.AsyncClient() as charger_http:
        got = await charger_http.get(payload["location"])
    assert got.content == GOOD

    after = answer["after"]
    waiting = asyncio.create_task(events(http, "firmware", after, wait=5))
    await asyncio.sleep(0.1)
    seen = (await events(http, "firmware", after))["data"]["events"]
    assert [(e["kind"], e["status"]) for e in seen] == [("request", "Accepted")]
    first = seen[0]["seq"]
    for status in ("Downloading", "Downloaded", "Installing"):
        await cp.call(call.FirmwareStatusNotification(status=status))
    woke = await asyncio.wait_for(waiting, 5)  # the long poll answered at the first event
    assert woke["data"]["events"][0]["kind"] == "request"
    await cp.call(call.BootNotification(charge_point_model="Virtual", charge_point_vendor="Test",
                                        firmware_version="0.2.0"))
    await cp.call(call.FirmwareStatusNotification(status="Installed"))
    doc = await events(http, "firmware", after)
    assert doc["data"]["firmware_version"] == "0.2.0" and doc["data"]["online"] is True
    assert [(e["kind"], e["status"], e["detail"]) for e in doc["data"]["events"]] == [
        ("request", "Accepted", answer["location"]), ("status", "Downloading", None),
        ("status", "Downloaded", None), ("status", "Installing", None),
        ("boot", None, "0.2.0"), ("status", "Installed", None)]
    assert doc["last_seq"] == doc["data"]["events"][-1]["seq"]
    assert (await events(http, "firmware", doc["last_seq"]))["data"]["events"] == []
    assert first == after + 1


async def test_a_charger_without_firmware_management_is_502_and_the_request_not_sent(http, cp):
    cp.error = True
    r = await act(http, "update-firmware", {"location": "http://127.0.0.1:1/fw.bundle"})
    assert r.status_code == 502, r.text
    assert r.json()["ocpp_error"]["code"] == "NotSupported"
    last = (await events(http, "firmware"))["data"]["events"][-1]
    assert (last["kind"], last["status"]) == ("request", "NotSent")


# --- get-diagnostics --------------------------------------------------------------------------

def _bad_diagnostics_bodies():
    return [
        ({"start_time": "yesterday"}, "start_time", "offset"),
        ({"stop_time": 17}, "stop_time", "offset"),
        ({"start_time": "2026-01-10T02:00:00Z", "stop_time": "2026-01-10T01:00:00Z"},
         "stop_time", "after start time"),
        ({"start_time": "2026-01-10T02:00:00Z", "stop_time": "2026-01-10T02:00:00Z"},
         "stop_time", "after start time"),
        ({"retries": 99}, "retries", "between 0 and 10"),
        ({"retries": None, "retry_interval": "60"}, "retry_interval", "integer"),
    ]


@pytest.mark.parametrize(("body", "field", "said"), _bad_diagnostics_bodies())
async def test_get_diagnostics_names_every_bad_field(http, cp, body, field, said):
    await _names_bad_field(http, cp, "get-diagnostics", body, field, said)


async def get_diagnostics(http, cp, body=None) -> dict:
    r = await act(http, "get-diagnostics", body or {})
    assert r.status_code == 200, r.text
    action, payload = await asyncio.wait_for(cp.got.get(), 2)
    assert action == "GetDiagnostics"
    return {**r.json(), "sent": payload}


async def test_tc_045_1_get_diagnostics_receives_the_upload_and_serves_it(http, cp, server):
    """TC_045_1: "Central System sends a GetDiagnostics.req ... Charge Point responds with a
    GetDiagnostics.conf with a fileName ... sends DiagnosticsStatusNotification.req with status
    Uploading ... Uploaded"."""
    answer = await get_diagnostics(http, cp, {"start_time": "2026-01-10T00:00:00Z",
                                              "retries": 1, "retry_interval": 10})
    location = f"{server.base}/diagnostics/CP-1"
    assert answer["location"] == location and answer["file_name"] == cp.file_name
    assert answer["sent"] == {"location": location, "start_time": "2026-01-10T00:00:00.000Z",
                              "retries": 1, "retry_interval": 10}
    await cp.call(call.DiagnosticsStatusNotification(status="Uploading"))
    text = b"version 0.1.0\nuptime 42\n" * 100
    put = await http.put(f"{location}/{cp.file_name}", content=text)
    assert put.status_code == 201, put.text
    assert put.json()["size"] == len(text)
    await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
    doc = await events(http, "diagnostics", answer["after"])
    assert [(e["kind"], e["status"]) for e in doc["data"]["events"]] == [
        ("request", "Accepted"), ("status", "Uploading"), ("file", "Received"),
        ("status", "Uploaded")]
    files = doc["data"]["files"]
    assert files[-1]["file_name"] == cp.file_name and files[-1]["size"] == len(text)
    got = await http.get(f"/api/v3/chargers/CP-1/diagnostics/{cp.file_name}", headers=AUTH)
    assert got.status_code == 200 and got.content == text
    # one request, one upload: the file the operator fetched is not replaced behind it
    again = await http.put(f"{location}/{cp.file_name}", content=b"something else")
    assert again.status_code == 403 and "received already" in again.json()["message"]
    got = await http.get(f"/api/v3/chargers/CP-1/diagnostics/{cp.file_name}", headers=AUTH)
    assert got.content == text


async def test_diagnostics_are_taken_only_as_announced_from_the_charger(http, cp, server):
    await get_diagnostics(http, cp)
    base = f"{server.base}/diagnostics"
    # another file name than the charger announced
    assert (await http.put(f"{base}/CP-1/other.txt", content=b"x")).status_code == 403
    # not a plain file name
    assert (await http.put(f"{base}/CP-1/.hidden", content=b"x")).status_code == 422
    # an unknown charger, one that is not connected
    assert (await http.put(f"{base}/CP-NONE/{cp.file_name}", content=b"x")).status_code == 404
    assert (await http.put(f"{base}/CP-PRIV/{cp.file_name}", content=b"x")).status_code == 403
    # from another address than the charger's connection (127.0.0.2 is loopback too)
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient(transport=transport) as other:
        r = await other.put(f"{base}/CP-1/{cp.file_name}", content=b"x")
    assert r.status_code == 403 and "own address" in r.json()["message"]
    # too large
    limit = transfers_module.DIAGNOSTICS_MAX_BYTES
    r = await http.put(f"{base}/CP-1/{cp.file_name}", content=b"x" * (limit + 1))
    assert r.status_code == 413
    # and an hour after the request, nothing more
    server.clock.advance(transfers_module.DIAGNOSTICS_WINDOW_S + 1)
    try:
        r = await http.put(f"{base}/CP-1/{cp.file_name}", content=b"x")
        assert r.status_code == 403 and "pending" in r.json()["message"]
    finally:
        server.clock.t = T0
    names = [f["file_name"] for f in (await events(http, "diagnostics"))["data"]["files"]]
    assert "other.txt" not in names and ".hidden" not in names


async def test_an_upload_before_the_answer_is_processed_is_taken(http, cp, server):
    """A charger may start its PUT right behind its GetDiagnostics.conf, and the PUT may
    arrive before the backend has that answer: it waits for the answer instead of being
    refused."""
    cp.file_name = "early.txt"
    cp.upload_early = b"uploaded while the CALL was in flight\n"
    await get_diagnostics(http, cp)
    assert cp.early_put is not None
    put = await asyncio.wait_for(cp.early_put, 10)
    assert put.status_code == 201, put.text
    got = await http.get("/api/v3/chargers/CP-1/diagnostics/early.txt", headers=AUTH)
    assert got.content == cp.upload_early


@pytest.mark.parametrize("name", ["diag.txt\n", "../backend.db", ".hidden", "a b.txt",
                                  "x" * 101])
async def test_a_file_name_the_backend_cannot_take_is_502_naming_it(http, cp, server, name):
    """GetDiagnostics.conf's fileName is any CiString255; one this backend would never take
    an upload under is the charger's fault, named at once, and opens no upload."""
    cp.file_name = name
    r = await act(http, "get-diagnostics", {})
    assert r.status_code == 502, r.text
    assert repr(name)[1:-1] in r.json()["message"] and "cannot use" in r.json()["message"]
    assert r.json()["ocpp_error"]["from_charger"] is False
    (action, _), = cp.drain()
    assert action == "GetDiagnostics"
    last = (await events(http, "diagnostics"))["data"]["events"][-1]
    assert (last["kind"], last["status"], last["detail"]) == ("request", "Unusable", name)
    put = await http.put(f"{server.base}/diagnostics/CP-1/{quote(name, safe='')}", content=b"x")
    assert put.status_code in (403, 404, 422), put.text
    assert name not in [f["file_name"] for f in (await events(http, "diagnostics"))["data"]["files"]]


async def test_names_are_matched_whole():
    """`$` also matches before a last newline: the names are checked with fullmatch."""
    assert transfers_module.FILE_NAME.fullmatch("diag.txt")
    assert not transfers_module.FILE_NAME.fullmatch("diag.txt\n")
    good = "evse-0.2.0-0123456789abcdef.bundle"
    assert transfers_module.BUNDLE_NAME.fullmatch(good)
    assert not transfers_module.BUNDLE_NAME.fullmatch(good + "\n")


async def test_a_refused_get_diagnostics_opens_no_upload(http, cp, server):
    cp.error = True
    r = await act(http, "get-diagnostics", {})
    assert r.status_code == 502
    put = await http.put(f"{server.base}/diagnostics/CP-1/{cp.file_name}", content=b"x")
    assert put.status_code == 403


async def test_a_charger_keeps_its_last_twenty_diagnostics(http, cp, server):
    for n in range(transfers_module.DIAGNOSTICS_KEEP + 2):
        cp.file_name = f"diag-{n:02}.txt"
        await get_diagnostics(http, cp)
        r = await http.put(f"{server.base}/diagnostics/CP-1/{cp.file_name}", content=b"%d" % n)
        assert r.status_code == 201, r.text
        server.clock.advance(1)
    server.clock.t = T0
    files = [f["file_name"] for f in (await events(http, "diagnostics"))["data"]["files"]]
    assert len(files) == transfers_module.DIAGNOSTICS_KEEP
    assert files[-1] == f"diag-{transfers_module.DIAGNOSTICS_KEEP + 1:02}.txt"
    assert "diag-00.txt" not in files
    gone = await http.get("/api/v3/chargers/CP-1/diagnostics/diag-00.txt", headers=AUTH)
    assert gone.status_code == 404
    folder = server.backend.central.transfers.data_dir / "diagnostics" / "CP-1"
    assert len(list(folder.iterdir())) == transfers_module.DIAGNOSTICS_KEEP


async def test_get_diagnostics_without_a_file_answers_a_null_file_name(http, cp, server):
    cp.file_name = None
    answer = await get_diagnostics(http, cp)
    assert answer["file_name"] is None and answer["status"] == "Accepted"
    # "not present when no diagnostic information is available": no name, no upload at all
    for name in ("diag.txt", "CP-1-diag-20260110T011432Z.txt"):
        put = await http.put(f"{server.base}/diagnostics/CP-1/{name}", content=b"x")
        assert put.status_code == 403 and "without a fileName" in put.json()["message"]


async def test_the_url_given_to_the_charger_is_the_host_it_connected_to(http, server):
    """An ESP32 on the LAN reaches the backend at the PC's LAN address, not at 127.0.0.1 or
    0.0.0.0: the location is built on the Host its WebSocket request named."""
    ws = await websockets.connect(f"ws://localhost:{server.port}/ocpp/CP-KEY",
                                  subprotocols=["ocpp1.6"], open_timeout=5,
                                  additional_headers={"Authorization": "Basic " + base64.b64encode(
                                      b"CP-KEY:0123456789abcdef0123").decode()})
    try:
        await until(lambda: _connected(server, "CP-KEY"))
        assert server.backend.central.connections["CP-KEY"].base_url == \
            f"http://localhost:{server.port}"
    finally:
        await ws.close()


async def _connected(server, identity):
    return identity in server.backend.central.connections


async def test_the_history_is_bounded_and_the_latest_comes_first(tmp_path, monkeypatch):
    from host_tools.backend import create_app
    from host_tools.backend.config import parse_chargers

    from .conftest import CHARGERS

    monkeypatch.setattr(transfers_module, "EVENTS_KEEP", 150)
    monkeypatch.setattr(transfers_module, "EVENTS_MAX", 40)
    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
    t = app.state.backend.central.transfers
    for n in range(400):
        t.record("CP-1", "firmware", "boot", None, f"v{n}")
    t.record("CP-KEY", "firmware", "boot", None, "other")
    latest = t.events("CP-1", "firmware")  # after 0: the latest ones
    assert [e["detail"] for e in latest] == [f"v{n}" for n in range(360, 400)]
    assert [e["detail"] for e in t.events("CP-1", "firmware", latest[0]["seq"] - 2)][:2] == \
        ["v359", "v360"]
    kept = t.store.one("SELECT count(*) AS n FROM charger_transfers WHERE identity = 'CP-1'")
    assert 150 <= kept["n"] < 150 + 100
    assert [e["detail"] for e in t.events("CP-KEY", "firmware")] == ["other"]
    app.state.backend.store.close()


async def test_each_charger_is_pruned_when_two_alternate(tmp_path, monkeypatch):
    """Pruning counts each charger's and topic's own events: two chargers alternating (each
    one only ever at odd or even sequence numbers) both stay bounded, and so does a backend
    restarted before a charger reaches PRUNE_EVERY."""
    from host_tools.backend import create_app
    from host_tools.backend.config import parse_chargers

    from .conftest import CHARGERS

    monkeypatch.setattr(transfers_module, "EVENTS_KEEP", 30)
    monkeypatch.setattr(transfers_module, "PRUNE_EVERY", 10)

    def count(t, identity: str) -> int:
        row = t.store.one("SELECT count(*) AS n FROM charger_transfers WHERE identity = ?",
                          identity)
        return row["n"] if row else 0

    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
    t = app.state.backend.central.transfers
    for n in range(200):
        t.record("CP-1", "firmware", "boot", None, f"a{n}")
        t.record("CP-KEY", "firmware", "boot", None, f"b{n}")
        assert count(t, "CP-1") < 30 + 10 and count(t, "CP-KEY") < 30 + 10
    assert count(t, "CP-1") >= 30 and count(t, "CP-KEY") >= 30
    assert [e["detail"] for e in t.events("CP-1", "firmware")][-1] == "a199"
    app.state.backend.store.close()
    for restart in range(5):  # fewer than PRUNE_EVERY events per run
        app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
        t = app.state.backend.central.transfers
        for n in range(8):
            t.record("CP-1", "firmware", "boot", None, f"r{restart}.{n}")
        assert count(t, "CP-1") < 30 + 10
        app.state.backend.store.close()


async def test_the_events_stay_after_a_restart(tmp_path):
    """What a charger said is in SQLite, as everything else the backend knows."""
    from host_tools.backend import create_app
    from host_tools.backend.config import parse_chargers

    from .conftest import CHARGERS

    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
    app.state.backend.central.transfers.record("CP-1", "firmware", "status", "Installed")
    app.state.backend.store.close()
    app = create_app(parse_chargers(CHARGERS), tmp_path / "db", clock=FakeClock())
    got = app.state.backend.central.transfers.events("CP-1", "firmware")
    assert [e["status"] for e in got] == ["Installed"]
    assert json.dumps(got)


async def test_the_backend_command_stores_files_in_its_data_dir(tmp_path):
    """`chargerctl backend --data-dir DIR`: bundles go to DIR/firmware; a file is refused."""
    import subprocess
    import sys
    import time

    from click.testing import CliRunner

    from host_tools.backend.cli import backend

    from .conftest import CHARGERS, free_port

    chargers = tmp_path / "chargers.json"
    chargers.write_text(json.dumps(CHARGERS))
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    refused = CliRunner().invoke(backend, ["--chargers", str(chargers), "--data-dir",
                                           str(not_a_dir)])
    assert refused.exit_code == 2 and "--data-dir" in refused.output
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools.cli", "backend", "--port", str(port), "--db",
         str(tmp_path / "b.db"), "--chargers", str(chargers), "--data-dir",
         str(tmp_path / "files")], env={**os.environ,
                                         "CHARGERCTL_OPERATOR_TOKEN": TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/api/v3/firmware", content=GOOD,
                               headers=AUTH, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "backend did not start"
                time.sleep(0.1)
        assert r.status_code == 201, r.text
        assert (tmp_path / "files" / "firmware" / r.json()["name"]).read_bytes() == GOOD
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert f"event=firmware.stored name={r.json()['name']} version=0.2.0" in err
    assert TOKEN not in err
