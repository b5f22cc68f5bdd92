"""Every failure of a deploy (`chargerctl flash`, and the board files it checks): a
DeployError subclass with `exit_code` (host_tools.exits.Exit), a message for people and a
`hint` saying what to do.

Its own module so that `board_files` (which raises ConfigInvalid, BoardFileInvalid, ...) and
`flash` (which imports board_files) both import them without a cycle; `flash` re-exports them.
"""

from __future__ import annotations

from host_tools.exits import Exit


class DeployError(Exception):
    """Base: `message` is for people; `hint` says what to do."""

    exit_code = Exit.ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ConfigInvalid(DeployError):
    exit_code = Exit.CONFIG

    def __init__(self, errors: list[tuple[str, str]], source: str = "config") -> None:
        self.errors = errors
        lines = "".join(f"\n  {k}: {r}" for k, r in errors)
        super().__init__(f"{source} refused, nothing was written:{lines}",
                         "fix the values named above and run the command again")


class BoardFileInvalid(DeployError):
    exit_code = Exit.BOARD_FILE


class Unreachable(DeployError):
    exit_code = Exit.UNREACHABLE


class TransferFailed(DeployError):
    exit_code = Exit.BOARD_ERROR


class EsptoolFailed(DeployError):
    exit_code = Exit.ESPTOOL


class BuildFailed(DeployError):
    exit_code = Exit.BUILD


class Incompatible(DeployError):
    """The board's MicroPython cannot load the compiled firmware (.mpy version)."""

    exit_code = Exit.MICROPYTHON_OLD


class TransactionOpen(DeployError):
    """A charging session runs on the board: interrupting the firmware would end it."""

    exit_code = Exit.TRANSACTION_OPEN


class StateUnknown(DeployError):
    """The firmware did not say whether a session runs (no answer, or an error answer)."""

    exit_code = Exit.STATE_UNKNOWN


class ToolMissing(DeployError):
    exit_code = Exit.TOOL_MISSING
