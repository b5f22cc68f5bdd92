"""`chargerctl backend` as a technician runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from host_tools.backend.cli import backend

from .conftest import CHARGERS, free_port


def test_backend_serves_the_chargers_file(tmp_path):
    chargers = tmp_path / "chargers.json"
    chargers.write_text(json.dumps(CHARGERS))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools.cli", "backend", "--host", "127.0.0.1", "--port",
         str(port), "--db", str(tmp_path / "backend.db"), "--chargers", str(chargers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v3/public-charging/chargers/abc123", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "backend did not start"
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["data"]["public_code"] == "ABC123"
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "event=backend.start" in err
    assert "event=http method=GET path=/api/v3/public-charging/chargers/abc123 status=200" in err
    assert (tmp_path / "backend.db").exists()


def test_bad_chargers_file_is_explained(tmp_path):
    bad = tmp_path / "chargers.json"
    bad.write_text(json.dumps({"chargers": [{"identity": "CP 1", "public_code": "X"}]}))
    result = CliRunner().invoke(backend, ["--chargers", str(bad), "--db", str(tmp_path / "db")])
    assert result.exit_code != 0
    assert "identity must be" in result.output and "'CP 1'" in result.output


def test_bad_vat_rate_is_explained(tmp_path):
    ok = tmp_path / "chargers.json"
    ok.write_text(json.dumps(CHARGERS))
    result = CliRunner().invoke(backend, ["--chargers", str(ok), "--vat-rate", "21%"])
    assert result.exit_code != 0 and "--vat-rate" in result.output


def test_rate_limit_overrides(tmp_path):
    from host_tools.backend.cli import parse_rate_limits

    assert parse_rate_limits(("get=600", "start=100")) == {"get": 600, "start": 100}
    ok = tmp_path / "chargers.json"
    ok.write_text(json.dumps(CHARGERS))
    for bad in ("polls=5", "get=0", "get=fast", "get"):
        result = CliRunner().invoke(backend, ["--chargers", str(ok), "--rate-limit", bad])
        assert result.exit_code != 0 and "--rate-limit" in result.output, bad


def test_create_app_takes_a_file_its_json_or_entries(tmp_path):
    from host_tools.backend import create_app

    path = tmp_path / "chargers.json"
    path.write_text(json.dumps(CHARGERS))
    for n, given in enumerate((str(path), path, CHARGERS, CHARGERS["chargers"])):
        app = create_app(given, tmp_path / f"{n}.db")
        store = app.state.backend.store
        assert store.charger_by_code("abc123")["identity"] == "CP-1"
        assert store.charger("CP-KEY")["authorization_key"] == "0123456789abcdef0123"
        store.close()


def test_help_has_examples_the_chargers_file_and_exit_codes():
    from click.testing import CliRunner

    from host_tools.cli import main

    text = CliRunner().invoke(main, ["backend", "--help"]).output
    assert "Examples:" in text and "chargerctl backend --chargers chargers.json" in text
    assert '"public_code": "ABC123"' in text and "curl -s http" in text
    assert "Exit codes:" in text and "chargerctl ocpp-log CP-1" in text
