"""`chargerctl config get|set` on a virtual board flashed with the real firmware (evse.app runs:
its watchdog, its console, its boot): the firmware's rules, secrets hidden, real JSON values.

No transaction is open here (the board's csms_url leads nowhere); the refusals while one is
open are in test_board_transactions.py.
"""

from __future__ import annotations

import json

import pytest

from host_tools.board_probe import probe
from host_tools.exits import Exit
from tests.host.conftest import chargerctl

SECRET = "0123456789abcdef-SECRET"  # the authorization_key in good_config


def _stored(vb) -> dict:
    return json.loads((vb.flash_dir / "config.json").read_text())


def _booted_again(vb, mark: int, text: str = "app started") -> str:
    return vb.wait_for_console(text, timeout=20, since=mark)


def test_get_shows_config_but_never_the_authorization_key(flashed):
    proc = chargerctl("config", "get", "--port", flashed.port)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert lines["charge_point_id"] == "CP-TEST-1"
    assert lines["public_code"] == "ABC123"  # stored upper-case by the firmware's rules
    assert lines["authorization_key"] == "set"
    assert lines["wifi"] == "not set"
    assert lines["public_url"] == "https://app.plugchoice.com/p/ABC123 (default)"
    assert SECRET not in proc.stdout + proc.stderr


def test_get_never_shows_a_secret_ocpp_key(flashed):
    """config.json's "ocpp" object may hold the AuthorizationKey (the password's text): masked
    like authorization_key, in both forms, and so is any OCPP key named like a secret;
    GetConfigurationMaxKeys and the other keys stay readable."""
    cfg = _stored(flashed)
    cfg["ocpp"] = {"AuthorizationKey": "ocpp-SECRET-key-42", "HeartbeatInterval": 120,
                   "GetConfigurationMaxKeys": 10}
    (flashed.flash_dir / "config.json").write_text(json.dumps(cfg))
    proc = chargerctl("config", "get", "--port", flashed.port, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["config"]["ocpp"] == {
        "AuthorizationKey": "<redacted>", "HeartbeatInterval": 120, "GetConfigurationMaxKeys": 10}
    for args in ((), ("ocpp",)):
        proc = chargerctl("config", "get", "--port", flashed.port, *args)
        assert proc.returncode == 0, proc.stderr
        assert "ocpp-SECRET" not in proc.stdout + proc.stderr and "<redacted>" in proc.stdout


def test_get_json_has_real_values_nulls_and_defaults_apart(flashed):
    proc = chargerctl("config", "get", "--port", flashed.port, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    cfg = data["config"]
    assert cfg["charge_point_id"] == "CP-TEST-1"
    assert cfg["authorization_key"] == "<redacted>"
    assert cfg["wifi"] is None and cfg["public_url"] is None and cfg["ca_cert"] is None
    assert data["defaults"] == {"public_url": "https://app.plugchoice.com/p/ABC123", "connectors": 2}
    assert SECRET not in proc.stdout

    one = json.loads(chargerctl("config", "get", "--port", flashed.port, "public_url", "--json").stdout)
    assert one == {"key": "public_url", "value": None,
                   "default": "https://app.plugchoice.com/p/ABC123"}


def test_get_restarts_the_firmware_it_interrupted(flashed):
    mark, boots = flashed.console_mark(), flashed.boots
    proc = chargerctl("config", "get", "--port", flashed.port, "charge_point_id")
    assert proc.stdout.strip() == "CP-TEST-1", proc.stderr
    flashed.wait_boot(boots + 1)
    _booted_again(flashed, mark)


def test_identity_is_not_a_key_any_more(flashed):
    """`config set` called the key identity while `config get` and the README said
    charge_point_id: there is one name now, and the old one gets a clear error."""
    proc = chargerctl("config", "set", "--port", flashed.port, "identity", "CP-NEW-7")
    assert proc.returncode == Exit.USAGE
    assert "unknown config key 'identity'" in proc.stderr
    assert "charge_point_id" in proc.stderr
    assert _stored(flashed)["charge_point_id"] == "CP-TEST-1"


def test_set_charge_point_id_is_written_and_booted(flashed):
    """The real firmware's app was running: the watchdog feed used to delete the base64
    writer here (NameError: name '_w' isn't defined)."""
    mark = flashed.console_mark()
    proc = chargerctl("config", "set", "--port", flashed.port, "charge_point_id", "CP-NEW-7")
    assert proc.returncode == 0, proc.stderr
    assert "NameError" not in proc.stderr
    assert proc.stdout.strip() == "charge_point_id = CP-NEW-7 (board restarting)"
    assert _stored(flashed)["charge_point_id"] == "CP-NEW-7"
    _booted_again(flashed, mark, "/ocpp/CP-NEW-7")  # the app's "ocpp url=..." line
    assert not (flashed.flash_dir / "config.json.tmp").exists()  # written via temp + rename


def test_set_keeps_the_deploy_record_honest(flashed):
    """flash trusts the deploy record to skip a board that is up to date; a config changed
    behind its back must not look deployed."""
    assert (flashed.flash_dir / "deploy.json").exists()
    assert chargerctl("config", "set", "--port", flashed.port, "public_code", "xyz9").returncode == 0
    assert _stored(flashed)["public_code"] == "XYZ9"  # normalised by the firmware's rules
    assert not (flashed.flash_dir / "deploy.json").exists()


def test_set_removes_the_deploy_record_before_it_writes(flashed):
    """A link lost between the two steps must not leave the old record claiming the old
    config: the record goes first. Here the config write fails (its temp file cannot be
    created), and the record is gone already, so the next flash compares every file."""
    (flashed.flash_dir / "config.json.tmp").mkdir()
    proc = chargerctl("config", "set", "--port", flashed.port, "public_code", "xyz9")
    assert proc.returncode == Exit.BOARD_ERROR, (proc.stdout, proc.stderr)
    assert _stored(flashed)["public_code"] == "ABC123"
    assert not (flashed.flash_dir / "deploy.json").exists()


def test_set_authorization_key_is_stored_but_not_printed(flashed):
    new_key = "ANOTHER-secret-key-42"
    proc = chargerctl("config", "set", "--port", flashed.port, "authorization_key", new_key)
    assert proc.returncode == 0, proc.stderr
    assert _stored(flashed)["authorization_key"] == new_key
    assert new_key not in proc.stdout + proc.stderr
    assert "authorization_key = set" in proc.stdout


def test_set_authorization_key_prompts_hidden_when_no_value(flashed):
    new_key = "prompted-secret-key-0001"
    proc = chargerctl("config", "set", "--port", flashed.port, "authorization_key",
                      input=f"{new_key}\n{new_key}\n")
    assert proc.returncode == 0, proc.stderr
    assert _stored(flashed)["authorization_key"] == new_key
    assert new_key not in proc.stdout


@pytest.mark.parametrize(("url", "says"), [
    ("https://example.com/ocpp", "ws://"),
    ("ws://127.0.0.1:8180/ocpp/CP-TEST-1", "write ws://127.0.0.1:8180/ocpp"),
    ("ws://127.0.0.1:99999/ocpp", "port '99999' must be a number 1..65535"),
])
def test_bad_csms_url_is_refused_with_what_to_write(flashed, url, says):
    before = (flashed.flash_dir / "config.json").read_bytes()
    proc = chargerctl("config", "set", "--port", flashed.port, "csms_url", url)
    assert proc.returncode == Exit.CONFIG, proc.stderr
    assert "csms_url" in proc.stderr and says in proc.stderr
    assert (flashed.flash_dir / "config.json").read_bytes() == before


def test_short_authorization_key_refused_without_echo(flashed):
    before = (flashed.flash_dir / "config.json").read_bytes()
    proc = chargerctl("config", "set", "--port", flashed.port, "authorization_key", "short-SECRET")
    assert proc.returncode == Exit.CONFIG
    assert "authorization_key" in proc.stderr
    assert "short-SECRET" not in proc.stderr + proc.stdout
    assert (flashed.flash_dir / "config.json").read_bytes() == before


def test_wifi_and_ca_cert(flashed, tmp_path):
    proc = chargerctl("config", "set", "--port", flashed.port, "wifi", "Depot-WLAN",
                      "--password", "correct horse")
    assert proc.returncode == 0, proc.stderr
    assert "correct horse" not in proc.stdout
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert chargerctl("config", "set", "--port", flashed.port, "ca_cert", pem).returncode == 0
    stored = _stored(flashed)
    assert stored["wifi"] == {"ssid": "Depot-WLAN", "password": "correct horse"}
    assert stored["ca_cert"] == pem.read_text()
    proc = chargerctl("config", "get", "--port", flashed.port, "--json")
    shown = json.loads(proc.stdout)["config"]
    assert shown["wifi"] == {"ssid": "Depot-WLAN", "password": "<redacted>"}
    assert shown["ca_cert"] == pem.read_text()  # a CA certificate is public
    assert "correct horse" not in proc.stdout


def test_set_ca_cert_forgets_a_ca_the_central_system_dropped(flashed, tmp_path):
    """DeleteCertificate of the provisioned CA leaves data/certs/dropped (its hash), and the
    firmware ignores a ca_cert of that hash; `config set ca_cert` is the operator provisioning
    it again: the note is removed, so the same CA is used again."""
    certs = flashed.flash_dir / "data" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    (certs / "dropped").write_text("ab" * 32)
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    proc = chargerctl("config", "set", "--port", flashed.port, "ca_cert", pem)
    assert proc.returncode == 0, proc.stderr
    assert not (certs / "dropped").exists()
    assert _stored(flashed)["ca_cert"] == pem.read_text()


def test_unset_optional_key_and_required_key_refused(flashed):
    assert chargerctl("config", "set", "--port", flashed.port, "authorization_key", "--unset").returncode == 0
    assert "authorization_key" not in _stored(flashed)
    proc = chargerctl("config", "set", "--port", flashed.port, "csms_url", "--unset")
    assert proc.returncode == Exit.CONFIG and "required" in proc.stderr


def test_unknown_key_names_the_known_ones(flashed):
    proc = chargerctl("config", "set", "--port", flashed.port, "colour", "red")
    assert proc.returncode == Exit.USAGE
    assert "csms_url" in proc.stderr


def test_console_log_keeps_raw_repl_traffic_out(flashed):
    """Reading config.json goes over the console; the virtual board's log must not keep it."""
    import base64

    raw = (flashed.flash_dir / "config.json").read_bytes()
    mark = flashed.console_mark()
    assert chargerctl("config", "get", "--port", flashed.port).returncode == 0
    _booted_again(flashed, mark)
    text = flashed.console_text()
    assert "not logged" in text
    assert SECRET not in text
    assert base64.b64encode(raw)[:40].decode() not in text
    assert "app started" in text  # the firmware's own output is still there


def test_the_app_answers_the_probe_after_config_set(flashed):
    """The probe is how every board command looks before it interrupts: the restarted app
    answers it with the new identity."""
    mark = flashed.console_mark()
    assert chargerctl("config", "set", "--port", flashed.port, "public_code", "NEW1").returncode == 0
    _booted_again(flashed, mark)
    state = probe(flashed.port, timeout=5)
    assert state is not None
    assert state.data["public_code"] == "NEW1" and state.data["charge_point_id"] == "CP-TEST-1"
    assert state.transactions == []


def _client_pem(tmp_path):
    """A CA, and a charger certificate and key it signed (PEM files), made now."""
    from tests.ocpp.test_security_profiles import make_pki
    pki = make_pki(tmp_path)
    files = {}
    for name, text in (("ca.pem", pki.ca_pem), ("cp.pem", pki.client_cert), ("cp.key", pki.client_key)):
        (tmp_path / name).write_text(text)
        files[name] = tmp_path / name
    return pki, files


def test_client_certificate_and_key_set_together_and_the_key_never_shown(flashed, tmp_path):
    """Security profile 3: `config set client_cert CERT --key KEY` (the pair goes together),
    checked by the firmware's rules (PEM, wss://, a CA); `config get` says the key is set and
    never prints it."""
    pki, f = _client_pem(tmp_path)
    body = "".join(pki.client_key.splitlines()[1:-1])
    alone = chargerctl("config", "set", "--port", flashed.port, "client_cert", f["cp.pem"])
    assert alone.returncode == Exit.CONFIG, alone.stdout + alone.stderr
    assert "client_key" in alone.stderr and "go together" in alone.stderr
    bad = chargerctl("config", "set", "--port", flashed.port, "client_cert", f["ca.pem"], "--key", f["ca.pem"])
    assert bad.returncode == Exit.CONFIG and "client_key" in bad.stderr and "private key" in bad.stderr
    assert "client_cert" not in _stored(flashed)
    for key, value in (("ca_cert", f["ca.pem"]), ("csms_url", "wss://127.0.0.1:9/ocpp")):
        proc = chargerctl("config", "set", "--port", flashed.port, key, value)
        assert proc.returncode == 0, proc.stderr
    proc = chargerctl("config", "set", "--port", flashed.port, "client_cert", f["cp.pem"], "--key", f["cp.key"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("client_cert = set (")
    stored = _stored(flashed)
    assert stored["client_key"] == pki.client_key and stored["client_cert"] == pki.client_cert
    get = chargerctl("config", "get", "--port", flashed.port)
    lines = dict(line.split(None, 1) for line in get.stdout.splitlines())
    assert lines["client_key"] == "set" and lines["client_cert"].startswith("set (")
    as_json = chargerctl("config", "get", "--port", flashed.port, "client_key", "--json")
    assert json.loads(as_json.stdout)["value"] == "<redacted>"
    for out in (alone, bad, proc, get, as_json):
        assert body[:40] not in out.stdout + out.stderr and body[-40:] not in out.stdout + out.stderr
    unset = chargerctl("config", "set", "--port", flashed.port, "client_key", "--unset")
    assert unset.returncode == 0, unset.stderr
    assert "client_cert" not in _stored(flashed) and "client_key" not in _stored(flashed)
