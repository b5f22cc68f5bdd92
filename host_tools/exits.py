"""Exit codes of every `chargerctl` command: one table, no number with two meanings.

`--help` epilogs and the README print from `TABLE`, so the documentation cannot drift from
what the commands return. Ranges: 1-2 generic, 3-19 boards and local tools, 20-39 the
public-charging API (driver, commissioning), 40+ the commissioning check itself.
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    # boards and local tools
    CONFIG = 3
    BOARD_FILE = 4
    UNREACHABLE = 5
    BOARD_ERROR = 6
    ESPTOOL = 7
    BUILD = 8
    SIM = 9
    MICROPYTHON_OLD = 10
    TRANSACTION_OPEN = 11
    TOOL_MISSING = 12
    NOTHING_FOUND = 13
    STATE_UNKNOWN = 14
    BUNDLE = 15
    # the public-charging API
    NOT_FOUND = 20
    REFUSED = 21
    UNPROCESSABLE = 22
    CONFLICT = 23
    RATE_LIMITED = 24
    NETWORK = 25
    SESSION_FAILED = 26
    ACTION_NEEDED = 27
    CHARGER_REFUSED = 28
    UNAUTHORIZED = 29
    TRANSFER_FAILED = 30
    TRANSFER_TIMEOUT = 31
    # the commissioning check
    STEP_FAILED = 40


TABLE: dict[Exit, str] = {
    Exit.OK: "ok",
    Exit.ERROR: "unexpected error (a bug, ours or the server's)",
    Exit.USAGE: "bad command line, or no current session",
    Exit.CONFIG: "invalid config (key and reason are printed)",
    Exit.BOARD_FILE: "unknown or invalid board file",
    Exit.UNREACHABLE: "board unreachable (port missing, busy or silent)",
    Exit.BOARD_ERROR: "the board refused a write or failed a command",
    Exit.ESPTOOL: "esptool failed to write the MicroPython image",
    Exit.BUILD: "firmware build failed (mpy-cross)",
    Exit.SIM: "simulated hardware unreachable or refused",
    Exit.MICROPYTHON_OLD: "the board's MicroPython cannot load the firmware (flash with --image)",
    Exit.TRANSACTION_OPEN: "a charging session is running on the board (use --force to interrupt it)",
    Exit.TOOL_MISSING: "a local tool is missing (MicroPython unix port, mpy-cross)",
    Exit.NOTHING_FOUND: "nothing found (no serial port, no log line)",
    Exit.STATE_UNKNOWN: ("the board's firmware did not say whether a charging session runs "
                         "(try again, or use --force to interrupt it)"),
    Exit.BUNDLE: "not a firmware bundle, or a damaged one (nothing was sent)",
    Exit.NOT_FOUND: "unknown public code, charger identity or session token (404)",
    Exit.REFUSED: "refused: charger offline, stop refused, or no answer in time (400/504)",
    Exit.UNPROCESSABLE: "invalid input: unknown connector, email, code or another field (422)",
    Exit.CONFLICT: "connector busy or unavailable, or the session can no longer change (409)",
    Exit.RATE_LIMITED: "too many attempts: wait the Retry-After seconds (429)",
    Exit.NETWORK: "the API could not be reached",
    Exit.SESSION_FAILED: "the session failed, was cancelled, or did not get where expected",
    Exit.ACTION_NEEDED: "the payment must be confirmed in a browser",
    Exit.CHARGER_REFUSED: ("the charger said no to an operator action: Rejected, Occupied, "
                           "Faulted, Unavailable, NotSupported, or an OCPP error (502)"),
    Exit.UNAUTHORIZED: "operator token missing or wrong, or operator actions off (401/403)",
    Exit.TRANSFER_FAILED: ("the charger reported a failed firmware update or diagnostics upload "
                           "(DownloadFailed, InstallationFailed, UploadFailed)"),
    Exit.TRANSFER_TIMEOUT: ("no final status from the charger within --timeout (the update or "
                            "upload may still finish: see `chargerctl ocpp-log`)"),
    Exit.STEP_FAILED: "a commissioning step failed (the step is named)",
}


def epilog(*codes: Exit) -> str:
    """The exit-code block for a command's --help (all codes when none are named)."""
    rows = codes or tuple(Exit)
    lines = ["Exit codes:"] + [f"  {int(c):>2}  {TABLE[c]}" for c in rows]
    return "\b\n" + "\n".join(lines)


def markdown() -> str:
    """The README's table."""
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {int(c)} | {TABLE[c]} |" for c in Exit]
    return "\n".join(rows)
