"""The central system's record of SecurityEventNotifications (security whitepaper ed. 2), the
operator's GET and `chargerctl charger security-events`, against a real `ocpp` charge point."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from .conftest import assert_loopback_only

EVENTS = "/api/v3/operator/chargers/{}/security-events"


async def _send(charger, kind: str, stamp: str, tech_info: str | None = None):
    return await charger.cp.call(call.SecurityEventNotification(type=kind, timestamp=stamp,
                                                                tech_info=tech_info))


async def test_events_recorded_newest_first_and_a_repeat_stored_once(server, http, charger):
    """Whitepaper: "The Central System SHALL respond with SecurityEventNotification.conf" and
    keep what it was told; a charger delivers critical events at least once, so the same event
    again (a power cut between the answer and its queue's update) is one row."""
    await _send(charger, "StartupOfTheDevice", "2026-12-05T01:00:00Z", "power-up")
    await _send(charger, "ResetOrReboot", "2026-12-05T01:05:00Z")
    await _send(charger, "StartupOfTheDevice", "2026-12-05T01:00:00Z", "power-up")
    r = await http.get(EVENTS.format("CP-1"))
    assert r.status_code == 200
    body = r.json()
    assert body["online"] is True
    assert [(e["type"], e["timestamp"], e["tech_info"]) for e in body["data"]] == [
        ("ResetOrReboot", "2026-12-05T01:05:00Z", None),
        ("StartupOfTheDevice", "2026-12-05T01:00:00Z", "power-up")]
    assert all(isinstance(e["received_at"], float) for e in body["data"])
    r = await http.get(EVENTS.format("CP-1"), params={"limit": 1})
    assert [e["type"] for e in r.json()["data"]] == ["ResetOrReboot"]


async def test_a_malformed_notification_is_refused_and_not_stored(server, http, charger):
    # the `ocpp` package checks the schema: type over 50 characters
    with pytest.raises(OCPPError):
        await _send(charger, "X" * 51, "2026-12-05T01:00:00Z")
    with pytest.raises(OCPPError):
        await _send(charger, "StartupOfTheDevice", "2026-12-05T01:00:00Z", "t" * 256)
    assert (await http.get(EVENTS.format("CP-1"))).json()["data"] == []


@pytest.mark.parametrize("limit", ["0", "501", "-1", "x"])
async def test_bad_limit_is_422(server, http, limit):
    r = await http.get(EVENTS.format("CP-1"), params={"limit": limit})
    assert r.status_code == 422


async def test_unknown_charger_is_404_and_only_for_loopback(server, http):
    await assert_loopback_only(server, http, EVENTS)


async def _cli(*args: str) -> tuple[int, str, str]:
    # a subprocess, awaited: the backend runs in this event loop
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "host_tools.cli", "charger", "security-events", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_chargerctl_charger_security_events(server, charger):
    api = server.base + "/api/v3"
    code, out, _ = await _cli("--charger", "CP-1", "--api", api)
    assert code == 0 and "CP-1 has reported no security events." in out
    await _send(charger, "SettingSystemTime", "2026-12-05T02:00:00Z", "from A to B")
    code, out, _ = await _cli("--charger", "CP-1", "--api", api)
    assert code == 0 and "2026-12-05T02:00:00Z  SettingSystemTime" in out and "from A to B" in out
    code, out, _ = await _cli("--charger", "CP-1", "--api", api, "--json", "--limit", "5")
    assert code == 0 and json.loads(out)["data"][0]["type"] == "SettingSystemTime"
    code, _, err = await _cli("--charger", "CP-NOPE", "--api", api)
    assert code == 20 and "CP-NOPE" in err
    code, _, err = await _cli("--charger", "CP-1", "--api", api, "--limit", "0")
    assert code == 2 and "--limit" in err
    code, _, err = await _cli("--charger", "CP-1", "--api", "http://127.0.0.1:9/api/v3")
    assert code == 25 and "cannot reach the backend" in err
    code, _, err = await _cli("--api", api)
    assert code == 2 and "--charger" in err
