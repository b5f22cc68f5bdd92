"""`chargerctl session` against the real local backend, one test per documented outcome.

The charger side is the `ocpp` package's charge point (tests/driver/ocpp_peer.py); the API, its
status codes and its limits are the backend's own. Each error test checks the sentence a driver
reads and the exit code a script sees (host_tools.exits.Exit).
"""

from __future__ import annotations

import json
import re
import stat
from decimal import ROUND_HALF_UP, Decimal

import pytest
from click.testing import CliRunner

from host_tools.bench_rig import free_port
from host_tools.driver import shorten
from host_tools.exits import Exit


def _lines(result) -> list[dict]:
    return [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]


def test_charger_lookup_is_case_insensitive(cli, charger):
    """GET /chargers/{code}: `code` case-insensitive; 200 with online, connectors, pricing."""
    data = cli.json("session charger online1 --json")
    assert data["public_code"] == "ONLINE1"
    assert data["online"] is True
    assert [c["connector_id"] for c in data["connectors"]] == [1, 2]
    assert data["pricing"] == {"currency": "EUR", "price_per_kwh": 35, "start_fee": 50}
    text = cli("session charger ONLINE1")
    assert text.exit_code == 0 and "online" in text.stdout and "0.35 EUR" in text.stdout


def test_unknown_code_is_404_exit_20(cli):
    """404 unknown code."""
    result = cli("session charger NOPE42")
    assert result.exit_code == Exit.NOT_FOUND == 20
    assert "No charger with public code 'NOPE42' offers public charging" in result.stderr


def test_charger_without_public_charging_is_404(cli):
    """404 ... or charger without public charging."""
    result = cli("session start --code PRIVATE1 --connector 1")
    assert result.exit_code == Exit.NOT_FOUND
    assert "offers public charging" in result.stderr


def test_offline_charger_is_400_exit_21(cli):
    """Start: 400 if the charger is offline."""
    result = cli("session start --code OFFLINE1 --connector 1")
    assert result.exit_code == Exit.REFUSED == 21
    assert "Charger OFFLINE1 is offline" in result.stderr


def test_unknown_connector_is_422_exit_22(cli, charger):
    """Start: 422 if the connector is unknown."""
    result = cli("session start --code ONLINE1 --connector 7")
    assert result.exit_code == Exit.UNPROCESSABLE == 22
    assert "Charger ONLINE1 has no connector 7" in result.stderr


def test_invalid_email_is_422_exit_22(cli, charger):
    """Start: email optional, valid email; any validation failure is 422."""
    result = cli("session start --code ONLINE1 --connector 1 --email not-an-email --json")
    assert result.exit_code == Exit.UNPROCESSABLE
    assert "email" in result.stderr
    assert _lines(result)[0]["exit_code"] == 22


def test_busy_connector_is_409_exit_23(cli, charger):
    """Start: 409 if the connector is unavailable (connector 2 reports Charging)."""
    result = cli("session start --code ONLINE1 --connector 2")
    assert result.exit_code == Exit.CONFLICT == 23
    assert "Connector 2 of charger ONLINE1 is Charging: it is in use" in result.stderr


def _no_repeats(sentence: str) -> None:
    words = re.findall(r"[a-z]+", sentence.lower())
    triples = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)]
    assert len(triples) == len(set(triples)), f"a phrase repeats itself: {sentence}"


@pytest.mark.parametrize(("state", "words"), [
    ("Finishing", "the last session ended; unplug the EV to start a new one (on a virtual board: "
                  "`chargerctl sim plug --control-port P --connector 1 --unplugged`"),
    ("SuspendedEV", "it is in use: a session is open and the EV has paused charging"),
    ("SuspendedEVSE", "it is in use: a session is open and the charger is holding back power"),
    ("Reserved", "it is reserved for another driver"),
    ("Unavailable", "it is out of service"),
    ("Faulted", "it has a fault (for example a welded relay or a lost meter)"),
])
def test_every_refusal_names_the_connector_state_in_plain_words(cli, backend, state, words):
    """409 connector unavailable: the sentence says the state, what it means and what to do,
    once (the server's message is not repeated inside the driver's)."""
    from tests.driver.ocpp_peer import OcppPeer

    with OcppPeer(backend.ws_url, "CP-ON", connectors=2, statuses={1: state}):
        result = cli("session start --code ONLINE1 --connector 1 --json")
    assert result.exit_code == Exit.CONFLICT, result.stderr
    message = _lines(result)[0]["error"]
    assert message.startswith(f"Connector 1 of charger ONLINE1 is {state}: {words}"), message
    assert "not available" not in message and "in use, reserved or faulted" not in message
    _no_repeats(message)


def test_api_and_state_work_after_the_sub_command_too(backend, charger, tmp_path):
    """`session charger X --api URL` as `commission ... --api URL`; the group option still works."""
    from host_tools.cli import main

    runner = CliRunner(mix_stderr=False)
    state = tmp_path / "after.json"
    after = runner.invoke(main, ["session", "start", "--code", "ONLINE1", "--connector", "1",
                                 "--api", backend.api, "--state", str(state), "--json"])
    assert after.exit_code == 0, after.stderr
    assert json.loads(state.read_text())["api"] == backend.api
    before = runner.invoke(main, ["session", "--api", backend.api, "--state", str(state),
                                  "status", "--json"])
    assert before.exit_code == 0, before.stderr
    assert json.loads(before.stdout)["status"] == "created"
    wrong = runner.invoke(main, ["session", "charger", "ONLINE1", "--api",
                                 f"http://127.0.0.1:{free_port()}/api/v3"])
    assert wrong.exit_code == Exit.NETWORK, wrong.stderr
    assert runner.invoke(main, ["session", "cancel", "--state", str(state),
                                "--api", backend.api]).exit_code == 0


def test_too_many_starts_is_429_exit_24_with_retry_after(cli):
    """Start is limited to 3 requests per minute per IP; a 429 carries Retry-After."""
    results = [cli("session start --code OFFLINE1 --connector 1") for _ in range(5)]
    codes = [r.exit_code for r in results]
    assert Exit.RATE_LIMITED in codes, codes
    limited = results[codes.index(Exit.RATE_LIMITED)]
    assert re.search(r"Too many attempts .*Try again in \d+(\.\d+)? s\.", limited.stderr), limited.stderr


def test_sessions_per_hour_limit_is_429(cli, backend):
    """Each charger accepts a limited number of successful sessions per hour (LIMIT1: 1)."""
    from tests.driver.ocpp_peer import OcppPeer

    with OcppPeer(backend.ws_url, "CP-LIM", connectors=2):
        first = cli("session start --code LIMIT1 --connector 1")
        assert first.exit_code == 0, first.stderr
        assert cli("session confirm").exit_code == 0
        second = cli("session start --code LIMIT1 --connector 2 --replace")
    assert second.exit_code == Exit.RATE_LIMITED
    assert "sessions started on this charger" in second.stderr


def test_network_error_exit_25(cli):
    result = cli("session charger ONLINE1", api=f"http://127.0.0.1:{free_port()}/api/v3")
    assert result.exit_code == Exit.NETWORK == 25
    assert "Cannot reach the API" in result.stderr


def test_no_current_session_exit_2(cli):
    result = cli("session watch")
    assert result.exit_code == Exit.USAGE == 2
    assert "No current session" in result.stderr


def test_unknown_token_is_404_exit_20(cli):
    """GET /sessions/{token}: 404 unknown or expired token; the token is shown shortened."""
    token = "tok_" + "x" * 40
    cli.state.parent.mkdir(parents=True)
    cli.state.write_text(json.dumps({"api": cli.api, "session_token": token}))
    for cmd in ("watch", "receipt", "stop", "cancel", "confirm"):
        result = cli(f"session {cmd}")
        assert result.exit_code == Exit.NOT_FOUND, (cmd, result.stderr)
        assert f"Session {shorten(token)} is unknown or has expired" in result.stderr, cmd
        assert token not in result.stdout + result.stderr


def test_token_file_is_0600_and_token_never_printed_in_full(cli, charger):
    """The session token is a credential: 0600 file, shown only shortened."""
    result = cli("session start --code ONLINE1 --connector 1 --email d@example.com")
    assert result.exit_code == 0, result.stderr
    saved = json.loads(cli.state.read_text())
    token = saved["session_token"]
    assert stat.S_IMODE(cli.state.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.state.parent.stat().st_mode) == 0o700
    assert len(token) >= 16
    assert token not in result.stdout + result.stderr
    assert shorten(token) in result.stdout
    again = cli("session start --code ONLINE1 --connector 1")
    assert again.exit_code == Exit.CONFLICT  # the saved one is still open: never forgotten
    assert f"Session {shorten(token)} is still 'created'" in again.stderr
    assert json.loads(cli.state.read_text())["session_token"] == token
    assert cli("session cancel").exit_code == 0
    as_json = cli("session start --code ONLINE1 --connector 1 --json")  # ended: replaced
    assert as_json.exit_code == 0, as_json.stderr
    assert token not in as_json.stdout
    assert stat.S_IMODE(cli.state.stat().st_mode) == 0o600


def test_happy_path_start_confirm_watch_stop_receipt(cli, charger):
    """created -> authorized -> starting -> charging -> stopping -> settling -> completed;
    capture is energy x price_per_kwh + start_fee, never more than amount_authorized."""
    started = cli.json("session start --code online1 --connector 1 --json")
    assert started["data"]["status"] == "created"

    confirmed = cli.json("session confirm --json")
    assert confirmed["data"]["status"] in ("authorized", "starting", "charging")
    assert confirmed["data"]["amount_authorized"] == 5000
    assert json.loads(cli.state.read_text())["payment"] is None  # the client secret is dropped

    watch = cli("session watch --until charging --timeout 30 --json")
    assert watch.exit_code == 0, watch.stderr
    rows = _lines(watch)
    assert rows[-1]["status"] == "charging"
    assert set(rows[-1]) >= {"status", "connector_status", "energy_kwh", "power_kw",
                             "cost_so_far", "elapsed_s"}

    # Live view while charging: energy rises, power is derived from it. --timeout ends the
    # watch while still charging, which is exit 9 ("did not get where expected").
    rising = cli("session watch --json --timeout 5")
    assert rising.exit_code == Exit.SESSION_FAILED, rising.stderr
    assert "still 'charging' after 5 s" in rising.stderr
    rows = [r for r in _lines(rising) if "status" in r]
    energies = [float(r["energy_kwh"]) for r in rows if r["energy_kwh"] is not None]
    assert len(rows) >= 2 and energies[-1] > energies[0], rows
    assert rows[-1]["power_kw"] > 0 and rows[-1]["cost_so_far"] > 50

    stopped = cli.json("session stop --json")
    assert stopped["data"]["status"] in ("stopping", "settling", "completed")

    rec = cli.json("session receipt --wait 30 --json")
    assert rec["status"] == "completed"
    energy = float(rec["energy_kwh"])
    assert energy > 0
    cost = int((Decimal(rec["energy_kwh"]) * 35).quantize(Decimal(1), ROUND_HALF_UP)) + 50
    assert rec["cost_amount"] == min(cost, 5000)
    assert rec["amount_captured"] == rec["cost_amount"] <= rec["amount_authorized"]
    assert rec["amount_released"] == rec["amount_authorized"] - rec["amount_captured"]
    for key in ("created_at", "authorized_at", "charging_started_at", "completed_at", "captured_at"):
        assert rec[key], key

    text = cli("session receipt")
    assert text.exit_code == 0
    assert "Captured" in text.stdout and "Released" in text.stdout and "EUR" in text.stdout
    done = cli("session watch --json")  # a completed session: one poll, exit 0
    assert done.exit_code == 0 and _lines(done)[-1]["status"] == "completed"


def test_cancel_before_charging_releases_the_hold(cli, charger):
    """created|authorized|starting --cancel--> cancelled; watch then ends with exit 9."""
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    first = cli.json("session cancel --json")
    assert first["data"]["status"] == "cancelled"
    watch = cli("session watch")
    assert watch.exit_code == Exit.SESSION_FAILED == 26
    assert "cancelled" in watch.stderr
    rec = cli.json("session receipt --json")
    assert rec["status"] == "cancelled" and not rec["amount_captured"]


def test_cancel_while_charging_is_409_exit_23(cli, charger):
    """Cancel: 409 when it can no longer be cancelled (charging)."""
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    assert cli("session confirm").exit_code == 0
    assert cli("session watch --until charging --timeout 30").exit_code == 0
    again = cli("session cancel")
    assert again.exit_code == Exit.CONFLICT
    assert "can no longer be cancelled" in again.stderr
    assert cli("session stop").exit_code == 0


def test_refused_start_fails_session_exit_26(cli, charger):
    """any non-terminal --charger rejects--> failed (with failure_reason)."""
    charger.refuse_start = True
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    cli("session confirm")  # may already report failed
    result = cli("session watch --timeout 30")
    assert result.exit_code == Exit.SESSION_FAILED
    assert "The session failed:" in result.stderr


def test_refused_stop_is_400_exit_21(cli, charger):
    """Stop: 400 if the charger refuses the stop (the driver then ends it by unplugging)."""
    assert cli("session start --code ONLINE1 --connector 1").exit_code == 0
    assert cli("session confirm").exit_code == 0
    assert cli("session watch --until charging --timeout 30").exit_code == 0
    charger.refuse_stop = True
    result = cli("session stop")
    assert result.exit_code == Exit.REFUSED
    assert "unplug it to end the session" in result.stderr
    charger.refuse_stop = False
    assert cli("session stop").exit_code == 0
