"""`chargerctl config get|set` on a flashed virtual board: the firmware's rules, secrets hidden."""

from __future__ import annotations

import json

import pytest

from host_tools import flash as fl
from tests.host.conftest import chargerctl, require_schema, snapshot

SECRET = "0123456789abcdef-SECRET"  # the authorization_key in good_config


@pytest.fixture
def flashed(vboard, firmware, good_config):
    """A virtual board flashed with the test firmware and good_config, booted."""
    require_schema()
    board, raw = fl.load_board("unix-sim")
    fl.deploy(vboard.port, fl.build_image(firmware), raw, fl.check_config(good_config, board))
    vboard.wait_boot(2)
    vboard.wait_for_console("BOOT CP-TEST-1")
    return vboard


def _stored(vb) -> dict:
    return json.loads((vb.flash_dir / "config.json").read_text())


def test_get_shows_config_but_never_the_authorization_key(flashed):
    proc = chargerctl("config", "get", "--port", flashed.port)
    assert proc.returncode == 0, proc.stderr
    assert "CP-TEST-1" in proc.stdout and "ABC123" in proc.stdout
    assert "authorization_key  set" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr

    proc = chargerctl("config", "get", "--port", flashed.port, "--json")
    data = json.loads(proc.stdout)
    assert data["charge_point_id"] == "CP-TEST-1"
    assert data["authorization_key"] == "set"
    assert SECRET not in proc.stdout

    proc = chargerctl("config", "get", "--port", flashed.port, "authorization_key")
    assert proc.stdout.strip() == "set"


def test_get_restarts_the_firmware_it_interrupted(flashed):
    mark = flashed.console_mark()
    assert chargerctl("config", "get", "--port", flashed.port, "identity").stdout.strip() == "CP-TEST-1"
    flashed.wait_boot(3)
    flashed.wait_for_console("BOOT CP-TEST-1", since=mark)


def test_set_identity_is_written_and_booted(flashed):
    mark = flashed.console_mark()
    proc = chargerctl("config", "set", "--port", flashed.port, "identity", "CP-NEW-7")
    assert proc.returncode == 0, proc.stderr
    assert _stored(flashed)["charge_point_id"] == "CP-NEW-7"
    flashed.wait_for_console("BOOT CP-NEW-7", since=mark)
    assert not (flashed.flash_dir / "config.json.tmp").exists()  # written via temp + rename


def test_set_public_code_is_normalised_by_the_firmware_rules(flashed):
    assert chargerctl("config", "set", "--port", flashed.port, "public_code", "xyz9").returncode == 0
    assert _stored(flashed)["public_code"] == "XYZ9"


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


def test_bad_value_is_refused_with_the_reason_and_nothing_written(flashed):
    before = snapshot(flashed.flash_dir)
    proc = chargerctl("config", "set", "--port", flashed.port, "csms_url", "https://example.com/ocpp")
    assert proc.returncode == 3
    assert "csms_url" in proc.stderr and "ws://" in proc.stderr
    assert snapshot(flashed.flash_dir) == before


def test_short_authorization_key_refused_without_echo(flashed):
    before = snapshot(flashed.flash_dir)
    proc = chargerctl("config", "set", "--port", flashed.port, "authorization_key", "short-SECRET")
    assert proc.returncode == 3
    assert "authorization_key" in proc.stderr
    assert "short-SECRET" not in proc.stderr + proc.stdout
    assert snapshot(flashed.flash_dir) == before


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
    shown = json.loads(chargerctl("config", "get", "--port", flashed.port, "--json").stdout)
    assert shown["wifi"] == {"ssid": "Depot-WLAN", "password": "set"}
    assert shown["ca_cert"].startswith("set (")


def test_unset_optional_key_and_required_key_refused(flashed):
    assert chargerctl("config", "set", "--port", flashed.port, "authorization_key", "--unset").returncode == 0
    assert "authorization_key" not in _stored(flashed)
    proc = chargerctl("config", "set", "--port", flashed.port, "csms_url", "--unset")
    assert proc.returncode == 3 and "required" in proc.stderr


def test_unknown_key_names_the_known_ones(flashed):
    proc = chargerctl("config", "set", "--port", flashed.port, "colour", "red")
    assert proc.returncode == 2
    assert "csms_url" in proc.stderr


def test_console_log_keeps_raw_repl_traffic_out(flashed):
    """Reading config.json goes over the console; the virtual board's log must not keep it."""
    import base64

    raw = (flashed.flash_dir / "config.json").read_bytes()
    assert chargerctl("config", "get", "--port", flashed.port).returncode == 0
    flashed.wait_boot(3)
    flashed.wait_for_console("BOOT CP-TEST-1", since=flashed.console_mark() - 100)
    text = flashed.console_text()
    assert "not logged" in text
    assert SECRET not in text
    assert base64.b64encode(raw)[:40].decode() not in text
    assert "BOOT CP-TEST-1" in text  # the firmware's own output is still there
