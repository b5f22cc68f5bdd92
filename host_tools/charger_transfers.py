"""A firmware update and a diagnostics upload, followed through the backend to their end, for
`chargerctl charger update` and `chargerctl charger diagnostics`.

    data, version = read_bundle_file(path)        NotABundle (exit 15): nothing is sent
    update(ops, identity, data, version, ...)     -> summary; TransferFailed / TransferTimeout
    diagnostics(ops, identity, ...)               -> (file_name, content, summary)

The backend records each FirmwareStatusNotification / DiagnosticsStatusNotification the
charger sends (and each boot's firmwareVersion); these functions long-poll that history from
the sequence number the action answered, so no status between the call and the first poll is
missed and nothing is polled faster than the charger reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host_tools.bundle import MAX_BUNDLE, BundleCheck, BundleInvalid
from host_tools.driver_errors import ChargerOffline, DriverError, Unprocessable
from host_tools.exits import Exit
from host_tools.operator_client import ChargerSaidNo, OperatorClient

FIRMWARE_FAILED = ("DownloadFailed", "InstallationFailed")
POLL_S = 20.0  # one long poll; the backend holds it up to 25 s

Event = dict[str, Any]


class NotABundle(DriverError):
    exit_code = Exit.BUNDLE


class TransferFailed(DriverError):
    exit_code = Exit.TRANSFER_FAILED
    events: list | None = None


class TransferTimeout(DriverError):
    exit_code = Exit.TRANSFER_TIMEOUT
    events: list | None = None


def read_bundle_file(path: str) -> tuple[bytes, str]:
    """The file's bytes and its version, after the check the backend and the board make."""
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_BUNDLE + 1)
    except OSError as err:
        raise NotABundle(f"Cannot read {path}: {err.strerror or err}.") from None
    if len(data) > MAX_BUNDLE:
        raise NotABundle(f"{path} is larger than {MAX_BUNDLE // 1024} KB: not a firmware "
                         "bundle.")
    check = BundleCheck()
    try:
        for at in range(0, len(data), 64 * 1024):
            check.feed(data[at:at + 64 * 1024])
        version = check.finish()
    except BundleInvalid as err:
        what = f"{path} is {err}" if str(err).startswith("not ") else \
            f"{path} is not a usable firmware bundle: {err}"
        raise NotABundle(f"{what}. Build one with `chargerctl bundle`; nothing was sent.") \
            from None
    return data, version


def _follow(ops: OperatorClient, identity: str, topic: str, after: int, timeout: float,
            on_event: Callable[[Event], None], done: Callable[[Event], bool],
            events: list[Event]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            last = next((e["status"] for e in reversed(events) if e["kind"] == "status"), None)
            raise TransferTimeout(
                f"No final status from {identity} within {timeout:g} s (last: "
                f"{last or 'none yet'}). It may still finish: `chargerctl ocpp-log {identity}` "
                "shows its traffic.", events=events)
        doc = ops.follow(identity, topic, after, min(POLL_S, max(left, 0.1)))
        for event in doc.get("data", {}).get("events", []):
            after = max(after, int(event["seq"]))
            events.append(event)
            on_event(event)
            if done(event):
                return


def update(ops: OperatorClient, identity: str, data: bytes, version: str, *,
           retries: int | None = None, retry_interval: int | None = None,
           retrieve_date: str | None = None, timeout: float = 900.0,
           on_event: Callable[[Event], None] = lambda e: None,
           on_stored: Callable[[dict], None] = lambda s: None) -> dict:
    """Upload, UpdateFirmware, and follow to Installed; the summary {result, version, bundle,
    location, events}. TransferFailed for DownloadFailed/InstallationFailed or an Installed
    charger that did not boot the bundle's version; TransferTimeout past `timeout` seconds."""
    # the charger first: an unknown or offline one gets no bundle stored for nothing
    state = ops.follow(identity, "firmware", 0, 0)
    if not state.get("data", {}).get("online"):
        raise ChargerOffline(f"The charger {identity} is offline: it has no OCPP connection to "
                             "the backend. Nothing was sent.")
    try:
        stored = ops.upload_bundle(data)
    except Unprocessable as err:  # the backend's own check (422) or its size limit (413)
        raise NotABundle(f"The backend refused the bundle: {err.message}") from None
    on_stored(stored)
    body: dict[str, Any] = {"bundle": stored["name"]}
    for key, value in (("retries", retries), ("retry_interval", retry_interval),
                       ("retrieve_date", retrieve_date)):
        if value is not None:
            body[key] = value
    answer = ops.act(identity, "update-firmware", body)
    events: list[Event] = []
    booted: list[str | None] = []

    def done(event: Event) -> bool:
        if event["kind"] == "boot":
            booted.append(event["detail"])
        if event["kind"] != "status":
            return False
        if event["status"] in FIRMWARE_FAILED:
            runs = f" It runs {booted[-1]} (its previous version)." if booted else ""
            why = (f"it could not download {answer['location']}: is that address reachable "
                   "from the charger?" if event["status"] == "DownloadFailed" else
                   "the bundle failed its check there, or the new version did not come up "
                   "healthy and the charger went back to the previous one.")
            raise TransferFailed(f"{identity} reported {event['status']}: {why}{runs}",
                                 events=events)
        return event["status"] == "Installed"

    _follow(ops, identity, "firmware", int(answer["after"]), timeout, on_event, done, events)
    # Installed alone is not proof: only a BootNotification with the bundle's firmwareVersion
    # says the new version came up (the charger's record may hold that version from before)
    if not booted:
        raise TransferFailed(f"{identity} reported Installed, but it did not boot since the "
                             f"update began, so {version} is not known to run (`chargerctl "
                             f"ocpp-log {identity}` shows its traffic).", events=events)
    if booted[-1] != version:
        raise TransferFailed(f"{identity} reported Installed, but it booted {booted[-1]}, not "
                             f"{version}.", events=events)
    return {"identity": identity, "result": "Installed", "version": version,
            "bundle": stored["name"], "location": answer["location"], "events": events}


def diagnostics(ops: OperatorClient, identity: str, *, start_time: str | None = None,
                stop_time: str | None = None, retries: int | None = None,
                retry_interval: int | None = None, timeout: float = 300.0,
                on_event: Callable[[Event], None] = lambda e: None
                ) -> tuple[str, bytes, dict]:
    """GetDiagnostics, then follow until Uploaded and the file is here: (its name, its bytes,
    the summary). TransferFailed for UploadFailed; ChargerSaidNo when it has nothing."""
    body: dict[str, Any] = {}
    for key, value in (("start_time", start_time), ("stop_time", stop_time),
                       ("retries", retries), ("retry_interval", retry_interval)):
        if value is not None:
            body[key] = value
    answer = ops.act(identity, "get-diagnostics", body)
    file_name = answer.get("file_name")
    if not file_name:
        raise ChargerSaidNo(f"{identity} has no diagnostics to upload (its answer named no "
                            "file).", answer=answer)
    events: list[Event] = []
    seen = {"uploaded": False, "received": False}

    def done(event: Event) -> bool:
        if event["kind"] == "file" and event["detail"] == file_name:
            seen["received"] = True
        elif event["kind"] == "status" and event["status"] == "UploadFailed":
            raise TransferFailed(f"{identity} reported UploadFailed: it could not upload "
                                 f"{file_name} to {answer['location']}: is that address "
                                 "reachable from the charger?", events=events)
        elif event["kind"] == "status" and event["status"] == "Uploaded":
            seen["uploaded"] = True
        return seen["uploaded"] and seen["received"]

    _follow(ops, identity, "diagnostics", int(answer["after"]), timeout, on_event, done, events)
    content = ops.diagnostics_file(identity, file_name)
    return file_name, content, {"identity": identity, "result": "Uploaded",
                                "file_name": file_name, "size": len(content), "events": events}
