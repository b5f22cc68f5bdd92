"""Fixtures for the driver tests: the real local backend (a `chargerctl backend` subprocess) with
bench chargers, and `chargerctl` run in-process through click's runner (real exit codes)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from host_tools.bench_rig import LocalBackend, bench_charger
from tests.driver.ocpp_peer import OcppPeer

ROOT = Path(__file__).resolve().parents[2]

# Each test gets a fresh backend: the API's per-IP limits (3 starts/min) are part of what is tested.
CHARGERS = [
    bench_charger("CP-ON", "ONLINE1", connectors=2),
    bench_charger("CP-OFF", "OFFLINE1"),
    bench_charger("CP-PRIV", "PRIVATE1", public_charging=False),
    bench_charger("CP-LIM", "LIMIT1", connectors=2, max_sessions_per_hour=1),
]


@pytest.fixture
def backend(tmp_path: Path):
    # `make setup` always installs the backend's dependencies, so an ImportError here is a bug
    # in the backend: it fails every driver test with its traceback (it used to skip them all).
    import host_tools.backend.cli  # noqa: F401
    with LocalBackend(tmp_path / "backend", CHARGERS) as b:
        yield b


@pytest.fixture
def charger(backend: LocalBackend):
    """CP-ON (ONLINE1) connected through the `ocpp` package; connector 2 is busy charging."""
    with OcppPeer(backend.ws_url, "CP-ON", connectors=2, statuses={2: "Charging"}) as cp:
        yield cp


@dataclass
class Cli:
    api: str
    state: Path

    def __call__(self, args: str | list[str], api: str | None = None) -> Result:
        from host_tools.cli import main

        argv = shlex.split(args) if isinstance(args, str) else args
        if argv and argv[0] == "session":
            argv = ["session", "--api", api or self.api, "--state", str(self.state), *argv[1:]]
        runner = CliRunner(mix_stderr=False)
        return runner.invoke(main, argv, catch_exceptions=False)

    def json(self, args: str) -> dict:
        result = self(args)
        assert result.exit_code == 0, result.stdout + result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def cli(backend: LocalBackend, tmp_path: Path) -> Cli:
    return Cli(backend.api, tmp_path / "cfg" / "session.json")
