"""The driver's current session (token, API, payment context) in a file only its owner reads.

The session token is the credential of a public session: `SessionFile` keeps it as JSON in a
0600 file (folder 0700), `~/.config/chargerctl/session.json` unless `--state`/CHARGERCTL_STATE.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host_tools.driver_errors import NoSession

if TYPE_CHECKING:
    from host_tools.driver import Started

STATE_ENV = "CHARGERCTL_STATE"


def default_state_path() -> Path:
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "chargerctl" / "session.json"


class SessionFile:
    """The current session as JSON in a 0600 file."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path else default_state_path()

    def save(self, api: str, started: Started, **extra: Any) -> None:
        data = {"api": api, "session_token": started.token,
                "code": (started.session.get("charger") or {}).get("public_code"),
                "connector_id": started.session.get("connector_id"),
                "payment": started.payment, "saved_at": datetime.now(UTC).isoformat(), **extra}
        self.write(data)

    def write(self, data: dict) -> None:
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask or an older file said
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=2)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)

    def load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            raise NoSession(f"No current session (no {self.path}). Start one with "
                            "`chargerctl session start --code CODE --connector N`, or name one "
                            "with `--token`.") from None
        except ValueError:
            raise NoSession(f"{self.path} is not valid JSON; start a new session.") from None
        if not isinstance(data, dict) or not data.get("session_token"):
            raise NoSession(f"{self.path} holds no session token; start a new session.")
        return data

    def update(self, **changes: Any) -> None:
        data = self.load()
        data.update(changes)
        self.write(data)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
