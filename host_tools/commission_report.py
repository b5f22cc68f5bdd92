"""What a commissioning check reports: its steps, their results, the report written as JSON,
and its time limits (host_tools/commission.py runs the check)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from host_tools.exits import Exit

STEPS = (
    ("board", "board reachable"),
    ("config", "config sane"),
    ("online", "charger online in the backend"),
    ("session", "public session started"),
    ("charging", "relay closed, energy rising"),
    ("stopped", "session stopped, relay open"),
    ("settled", "session settled"),
)
PASS, FAIL, SKIP = "pass", "fail", "skip"

class StepFailed(Exception):
    """A commissioning step did not pass; the message says what was seen; `exit_code` is the
    command's exit code for it."""

    def __init__(self, message: str, exit_code: Exit = Exit.STEP_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class StepResult:
    name: str
    title: str
    status: str = SKIP
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    port: str
    code: str
    connector: int
    api: str
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    steps: list[StepResult] = field(default_factory=list)
    exit_code: int = int(Exit.OK)
    connector_left: str = ""  # the state the check left the connector in, in words

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.status == PASS for s in self.steps)

    @property
    def failed_step(self) -> str | None:
        return next((s.name for s in self.steps if s.status == FAIL), None)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "failed_step": self.failed_step, "port": self.port,
                "code": self.code, "connector": self.connector, "api": self.api,
                "started_at": self.started_at, "exit_code": self.exit_code,
                "connector_left": self.connector_left, "steps": [asdict(s) for s in self.steps]}


@dataclass
class Timeouts:
    board: float = 10.0  # raw REPL answer
    online: float = 45.0  # board restarts and reconnects
    boot: float = 15.0  # real board: a reset's old connection may look online this long
    charging: float = 60.0  # confirm -> charging
    energy: float = 150.0  # real board: two MeterValues at the default 60 s sample interval
    settle: float = 60.0  # stop -> completed
