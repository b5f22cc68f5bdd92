"""Security events and ExtendedTriggerMessage (OCPP 1.6 security whitepaper, edition 2) against
a central system on the `ocpp` package, every frame schema-checked (conftest).

The firmware keeps a security log on flash (data/security.jsonl, rotated to
data/security.1.jsonl) and a queue of the notifications still owed (data/secq.jsonl):
firmware/evse/ocpp/security_events.py says the formats; operations/SecurityEventNotification.py
sends them. Whitepaper: "The Charge Point SHALL store critical security events [...] and SHALL
send them [...] even when it is offline, at the moment the connection has been restored" (in
the reference: critical ones pushed, queued till delivered).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

ONLY64 = pytest.mark.unix64_only("control flow and file formats: pointer-size independent")


def events(srv, kind=None):
    return [kw for kw in srv.actions("SecurityEventNotification") if kind is None or kw["type"] == kind]


def logged(station) -> list[dict]:
    """The security log on the board's flash, oldest first (both halves)."""
    lines = []
    for name in ("security.1.jsonl", "security.jsonl"):
        path = station.tmp / "data" / name
        if path.exists():
            lines += [json.loads(x) for x in path.read_text().splitlines() if x.endswith("}")]
    return lines


def near_now(stamp: str, seconds: float = 30) -> bool:
    t = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return abs((t - datetime.now(UTC)).total_seconds()) < seconds


async def test_startup_of_the_device_after_boot(station):
    """Whitepaper, security events: StartupOfTheDevice, critical: "The Charge Point has booted".
    Sent once BootNotification is Accepted, on the central system's clock, logged on flash, and
    the queue empty once it is answered."""
    await station.start()
    await station.booted()
    srv = station.server
    ev = await srv.wait_msg("SecurityEventNotification", type="StartupOfTheDevice")
    assert near_now(ev["timestamp"])
    assert [e["type"] for e in logged(station)] == ["StartupOfTheDevice"]
    await srv.wait(lambda: not (station.tmp / "data" / "secq.jsonl").exists(), what="the queue emptied")
    # a reconnect within the same boot raises nothing new
    await srv.stop()
    await srv.start()
    await station.fw.wait_log(r"boot accepted resend=0", timeout=15)
    assert (await srv.cp.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await srv.wait_msg("Heartbeat")  # the sender has had its turns since the reconnect
    assert len(events(srv, "StartupOfTheDevice")) == 1


@ONLY64
async def test_reset_or_reboot_after_reset_offline_then_delivered(station):
    """ResetOrReboot, critical: "The Charge Point was rebooted or reset". Queued on flash before
    the Reset's reboot; the central system is offline while the board boots again, so the
    event waits on flash through the reboot and the reconnect; that boot raises no
    StartupOfTheDevice (its cause is the Reset)."""
    await station.start()
    await station.booted()
    srv = station.server
    await srv.wait_msg("SecurityEventNotification", type="StartupOfTheDevice")
    assert (await srv.cp.call(call.Reset(type="Hard"))).status == "Accepted"
    await station.fw.wait_log(r"security event type=ResetOrReboot")
    await srv.stop()  # offline for the reboot
    await srv.wait(lambda: len(station.fw.exits) == 1, what="the reboot")
    await station.fw.wait_log(r"app started", n=2)
    queued = (station.tmp / "data" / "secq.jsonl").read_text()
    assert "ResetOrReboot" in queued
    await srv.start()
    ev = await srv.wait_msg("SecurityEventNotification", type="ResetOrReboot", timeout=20)
    assert ev["tech_info"] == "Hard reset by the central system" and near_now(ev["timestamp"])
    await srv.wait_msg("BootNotification", n=2)
    await srv.wait(lambda: not (station.tmp / "data" / "secq.jsonl").exists(), what="the queue emptied")
    assert len(events(srv, "StartupOfTheDevice")) == 1
    # this start is logged; its notification is the ResetOrReboot
    assert [(e["type"], e.get("techInfo")) for e in logged(station)] == [
        ("StartupOfTheDevice", "power-up"), ("ResetOrReboot", "Hard reset by the central system"),
        ("StartupOfTheDevice", "after a reset")]


@ONLY64
async def test_queue_survives_power_loss_critical_first(station):
    """Queued notifications survive a power cut (SIGKILL: nothing runs) and go critical first,
    each group oldest first: an earlier boot left an InvalidFirmwareSignature (sent by its flow,
    TC_081) and a FirmwareUpdated (critical) in the queues (data/secq2.jsonl, data/secq.jsonl)
    and a torn line; this boot adds its StartupOfTheDevice."""
    data = station.tmp / "data"
    data.mkdir()
    t = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds").replace("+00:00", "Z")
    (data / "secq2.jsonl").write_text(json.dumps(["InvalidFirmwareSignature", t, "signature does not verify"]) + "\n")
    (data / "secq.jsonl").write_text(json.dumps(["FirmwareUpdated", t, None]) + "\n"
                                     + '["Torn", nul')  # a line a power cut tore: passed over, never sent
    station.write_config()
    await station.server.start()
    await station.fw.start()
    srv = station.server
    await srv.wait(lambda: len(events(srv)) == 3, what="three security events")
    assert [e["type"] for e in events(srv)] == ["FirmwareUpdated", "StartupOfTheDevice",
                                               "InvalidFirmwareSignature"]
    assert events(srv)[0]["timestamp"] == t and "tech_info" not in events(srv)[0]
    assert events(srv)[2]["tech_info"] == "signature does not verify"
    await srv.wait(lambda: not (data / "secq.jsonl").exists() and not (data / "secq2.jsonl").exists(),
                   what="the queues emptied")
    # power cut and back: nothing is sent twice, the boot's own event again
    station.fw.kill()
    await station.fw.wait_log(r"app started", n=2)
    await srv.wait(lambda: len(events(srv, "StartupOfTheDevice")) == 2, what="the second boot's event")
    assert len(events(srv)) == 4


@ONLY64
async def test_setting_system_time_on_a_clock_step(station):
    """SettingSystemTime, critical: "The system time on the Charge Point was changed". Raised
    when the central system's currentTime moves the clock by more than a minute (here a
    Heartbeat's, an hour ahead), with the old and the new time; a second's correction is
    none."""
    await station.start()
    await station.booted()
    srv = station.server
    await srv.wait_msg("SecurityEventNotification", type="StartupOfTheDevice")
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    srv.now = lambda: ahead
    assert (await srv.cp.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    ev = await srv.wait_msg("SecurityEventNotification", type="SettingSystemTime")
    assert ev["tech_info"].startswith("from ") and ev["tech_info"].endswith(" to " + ahead[:16] + ev["tech_info"][-4:])
    assert abs((datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00"))
                - datetime.fromisoformat(ahead.replace("Z", "+00:00"))).total_seconds()) < 5
    srv.now = lambda: (datetime.now(UTC) + timedelta(hours=1, seconds=2)).isoformat().replace("+00:00", "Z")
    assert (await srv.cp.call(call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await srv.wait_msg("Heartbeat", n=2)
    await station.fw.wait_log(r"ocpp connected")  # the board is still serving
    assert len(events(srv, "SettingSystemTime")) == 1


async def test_invalid_messages_rate_limited(station):
    """InvalidMessages: "The Charge Point has received messages that are not valid OCPP
    messages". Logged (not critical, not sent), at most one line a minute whatever a hostile
    central system sends, with the count and the last error code: 200 invalid CALLs (bad
    JSON, schema violations) leave one line, and every one is still answered."""
    await station.start()
    await station.booted()
    srv = station.server
    await srv.wait_msg("SecurityEventNotification", type="StartupOfTheDevice")
    ws = srv._conns[-1]
    for i in range(200):
        await ws.send('[2, "x' + str(i) + '", "Reset", {"type": "Warm"}]' if i % 2 else '[2, "y' + str(i) + '", ')
    await ws.send('[2, "last", "Reset", {"type": 5}]')

    def answers():
        return [json.loads(t) for side, t in srv.frames if side == "cp" and t.startswith("[4")]

    await srv.wait(lambda: any(a[1] == "last" for a in answers()), what="the last answer")
    assert answers()[-1][:3] == [4, "last", "TypeConstraintViolation"]
    assert len(answers()) == 201
    await station.fw.wait_log(r"security event type=InvalidMessages")
    invalid = [e for e in logged(station) if e["type"] == "InvalidMessages"]
    assert len(invalid) == 1, invalid
    assert invalid[0]["techInfo"].split()[0].isdigit()
    assert events(srv, "InvalidMessages") == []  # logged only
    size = (station.tmp / "data" / "security.jsonl").stat().st_size
    assert size < 400


async def test_extended_trigger_message_each_requested_message(station):
    """ExtendedTriggerMessage: as TriggerMessage ("The Charge Point SHALL first send the
    ExtendedTriggerMessage.conf, before sending the requested message"), with
    LogStatusNotification (Idle: no upload), FirmwareStatusNotification answered by
    SignedFirmwareStatusNotification ("Idle after Installed, else the last status", requestId
    absent only for Idle) and SignChargePointCertificate NotImplemented (no SignCertificate
    here); connectorId out of range Rejected, nothing sent (TC_055's rule)."""
    await station.start()
    await station.booted()
    srv = station.server

    async def trigger(what, **kw):
        return (await srv.cp.call(call.ExtendedTriggerMessage(requested_message=what, **kw))).status

    assert await trigger("BootNotification") == "Accepted"
    await srv.wait_msg("BootNotification", n=2)
    assert await trigger("Heartbeat") == "Accepted"
    await srv.wait_msg("Heartbeat")
    assert await trigger("MeterValues", connector_id=1) == "Accepted"
    mv = await srv.wait_msg("MeterValues")
    assert mv["meter_value"][0]["sampled_value"][0]["context"] == "Trigger"
    n = len(srv.actions("StatusNotification"))
    assert await trigger("StatusNotification", connector_id=1) == "Accepted"
    await srv.wait(lambda: len(srv.actions("StatusNotification")) == n + 1, what="StatusNotification")
    assert await trigger("LogStatusNotification") == "Accepted"
    assert await srv.wait_msg("LogStatusNotification") == {"status": "Idle"}
    assert await trigger("FirmwareStatusNotification", connector_id=1) == "Accepted"
    assert await srv.wait_msg("SignedFirmwareStatusNotification") == {"status": "Idle"}
    fw = station.tmp / "data" / "fw.json"
    fw.write_text(json.dumps({"st": "Downloading", "requestId": 7}))
    assert await trigger("FirmwareStatusNotification") == "Accepted"
    assert await srv.wait_msg("SignedFirmwareStatusNotification", n=2) == {"status": "Downloading", "request_id": 7}
    for last in ("Installed", "Bogus"):
        fw.write_text(json.dumps({"st": last, "requestId": 7}))
        assert await trigger("FirmwareStatusNotification") == "Accepted"
    await srv.wait(lambda: len(srv.actions("SignedFirmwareStatusNotification")) == 4, what="two more")
    assert srv.actions("SignedFirmwareStatusNotification")[2:] == [{"status": "Idle"}] * 2
    assert await trigger("SignChargePointCertificate") == "NotImplemented"
    before = len(srv.got)
    assert await trigger("MeterValues", connector_id=2) == "Rejected"
    assert await trigger("LogStatusNotification", connector_id=-1) == "Rejected"
    assert await trigger("FirmwareStatusNotification", connector_id=9) == "Rejected"
    assert await trigger("Heartbeat") == "Accepted"  # the sender's turns have passed: nothing else came
    await srv.wait_msg("Heartbeat", n=2)
    assert [a for a, _ in srv.got[before:]] == ["Heartbeat"]


MALFORMED = [
    ({}, "OccurenceConstraintViolation"),
    ({"requestedMessage": "DiagnosticsStatusNotification"}, "PropertyConstraintViolation"),
    ({"requestedMessage": 5}, "TypeConstraintViolation"),
    ({"requestedMessage": None}, "TypeConstraintViolation"),
    ({"requestedMessage": "Heartbeat", "connectorId": "1"}, "TypeConstraintViolation"),
    ({"requestedMessage": "Heartbeat", "connectorId": 1.5}, "TypeConstraintViolation"),
    ({"requestedMessage": "Heartbeat", "extra": 1}, "FormationViolation"),
]


@ONLY64
async def test_extended_trigger_message_malformed(station):
    """A malformed ExtendedTriggerMessage gets the CALLERROR of its schema violation (a
    requestedMessage of TriggerMessage only, DiagnosticsStatusNotification, is not in this
    one's enum) and triggers nothing."""
    await station.start()
    await station.booted()
    srv = station.server
    await srv.wait_msg("SecurityEventNotification", type="StartupOfTheDevice")
    before = len(srv.got)
    for i, (payload, code) in enumerate(MALFORMED):
        answer = await station.raw(json.dumps([2, f"m{i}", "ExtendedTriggerMessage", payload]))
        assert answer[:3] == [4, f"m{i}", code], payload
    assert (await srv.cp.call(call.ExtendedTriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
    await srv.wait_msg("Heartbeat")
    assert [a for a, _ in srv.got[before:]] == ["Heartbeat"]
