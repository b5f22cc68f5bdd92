"""Ask the running firmware what it is doing, without interrupting it.

Every board command that needs the raw REPL stops the app with Ctrl-C: every relay opens and
an open transaction is stopped as PowerLoss at the next boot, ending a driver's session. So
those commands ask first. The protocol, on the board's console (`firmware/evse/console.py`):

    host  -> board   b"\\r#evse? <nonce>\\r\\n"     (a comment, should it reach a plain REPL)
    board -> host    b"#evse {json}\\r\\n"           (json["q"] == nonce)

The JSON holds `version`, `board`, `charge_point_id`, `csms_url`, `public_code`,
`connectors` ([[1, "Charging"], ...]), `sim` (a virtual board's settings), `transactions` ([{"connector", "ref", "id_tag",
"start_wh", "meter_wh"}]), `authorised` ([{"connector", "id_tag"}]: authorised, waiting for the
cable) and `deploy` (sha256 of the board's deploy record and lib/evse listing, or null); or, when
the firmware failed to build its answer, only `q` and `error` (the app runs, its state is unknown);
or, when the app halted on an invalid config (relays open, no session), only `q` and `halted`.

Only positive evidence counts as "the app is not running": a REPL echoing the probe back, or a
REPL prompt (a blank board, an app crashed to the REPL). Silence is not: a busy board, or one
running older firmware without the console task, may be charging. So silence is asked again with
a longer wait, and then refused like an open transaction (`NoAnswer`), unless --force.

    state = look("/dev/pts/3", force)    # None: the app does not run (positive evidence)
                                         # raises Refused: a session, or no/an error answer
                                         # (= judge(ask(port), force))
    state = probe("/dev/pts/3")          # None: a REPL answered; raises NoAnswer on silence
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import serial

from host_tools.exits import Exit

PROBE_TIMEOUT_S = 1.5
RETRY_TIMEOUT_S = 3.0  # the second question, after silence: a busy board gets longer
_PREFIX = b"#evse "
NO_ANSWER = "no answer"
_PROMPTS = (b">>> ", b"raw REPL; CTRL-B to exit")  # a REPL runs, not the app

SILENT = ("the board did not answer the firmware's status question; it may be busy or running "
          "older firmware: a restart could end a charging session. Try again, or use --force.")

# What a connector in a transaction is doing, in words for a technician.
_DOING = {"Charging": "charging", "SuspendedEV": "in a session (paused by the EV)",
          "SuspendedEVSE": "in a session (paused by the charger)"}


class PortUnavailable(Exception):
    """The serial port cannot be opened (missing, busy, no permission)."""


class NoAnswer(Exception):
    """Neither the firmware nor a REPL answered the probe: the app may be running."""


class Refused(Exception):
    """Interrupting the firmware could end a session: `str()` says why, `exit_code` which."""

    def __init__(self, message: str, exit_code: Exit) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class BoardState:
    """The running firmware's answer to the probe."""

    data: dict

    @property
    def error(self) -> str | None:
        """The firmware's error instead of its state (or "no answer" under --force): the app
        runs, but what it is doing is unknown."""
        return self.data.get("error")

    @property
    def transactions(self) -> list[dict]:
        return list(self.data.get("transactions") or [])

    def connector_state(self, connector: int) -> str | None:
        for cid, state in self.data.get("connectors") or []:
            if cid == connector:
                return state
        return None

    def describe(self, tx: dict) -> str:
        """'connector 2 is charging (transaction ref 7, idTag 'ABC', 1.2 kWh)'."""
        state = self.connector_state(tx["connector"]) or ""
        wh = max(0.0, float(tx.get("meter_wh") or 0) - float(tx.get("start_wh") or 0))
        energy = f"{wh / 1000:.1f} kWh" if wh >= 1000 else f"{wh:.0f} Wh"
        doing = _DOING.get(state, f"in a session ({state})" if state else "in a session")
        return (f"connector {tx['connector']} is {doing} (transaction ref {tx.get('ref')}, "
                f"idTag {tx.get('id_tag')!r}, {energy})")

    @property
    def authorised(self) -> list[dict]:
        """Connectors authorised (RemoteStart, a card) and waiting for the cable: no
        transaction yet, but a restart would drop the driver's idTag."""
        return list(self.data.get("authorised") or [])

    def refusal(self, connectors: set[int] | None = None, why: str | None = None) -> str | None:
        """The sentence that refuses an interruption while a transaction is open or a driver's
        authorisation waits for the cable (None: neither). `connectors`: only those count
        (None: all); `why`: what stands in the way (default: what a restart would end)."""
        def mine(item: dict) -> bool:
            return connectors is None or item.get("connector") in connectors

        open_txs = [t for t in self.transactions if mine(t)]
        waiting = [a for a in self.authorised if mine(a)]
        if not open_txs and not waiting:
            return None
        parts = [self.describe(t) for t in open_txs]
        parts += [f"connector {a.get('connector')} is authorised for idTag {a.get('id_tag')!r} "
                  "and waits for the cable" for a in waiting]
        many = len(parts) > 1
        if open_txs:
            default = "a restart would end " + ("the drivers' sessions" if many else "the driver's session")
        else:
            default = "a restart would drop " + ("the drivers' authorisations" if many
                                                 else "the driver's authorisation")
        return f"{'; '.join(parts)}: {why or default}. Wait for it to end, or use --force."

    @property
    def deploy_digest(self) -> str | None:
        return self.data.get("deploy")


def look(port: str, force: bool = False, connectors: set[int] | None = None,
         why: str | None = None) -> BoardState | None:
    """Ask before interrupting: `ask` then `judge`. Raises Refused and PortUnavailable."""
    state = ask(port)
    judge(state, force, connectors, why)
    return state


def ask(port: str) -> BoardState | None:
    """None when a REPL answered (the app does not run) or the app says it is halted on a bad
    config (relays open, no session can run); the app's state; or, on silence,
    `BoardState({"error": "no answer"})`: the app may run, what it does is unknown."""
    try:
        state = probe(port)
    except NoAnswer:
        return BoardState({"error": NO_ANSWER})
    return None if state is not None and state.data.get("halted") else state


def judge(state: BoardState | None, force: bool = False, connectors: set[int] | None = None,
          why: str | None = None) -> None:
    """Raise Refused when interrupting could end a session: a transaction open on `connectors`
    (see BoardState.refusal), or no answer / an error answer; never under `force`."""
    if state is None or force:
        return
    if state.error == NO_ANSWER:
        raise Refused(SILENT, Exit.STATE_UNKNOWN)
    if state.error:
        raise Refused(f"the board's firmware could not report its state ({state.error}): a "
                      "restart could end a charging session. Try again, or use --force.",
                      Exit.STATE_UNKNOWN)
    refusal = state.refusal(connectors, why)
    if refusal:
        raise Refused(refusal, Exit.TRANSACTION_OPEN)


def probe(port: str, timeout: float = PROBE_TIMEOUT_S,
          retry_timeout: float = RETRY_TIMEOUT_S) -> BoardState | None:
    """Send the probe and wait up to `timeout` for the answer, then once more up to
    `retry_timeout`. None when a REPL answers instead (it echoes the probe, or prompts);
    raises NoAnswer when nothing does, PortUnavailable when the port cannot be opened."""
    try:
        ser = serial.Serial(port, 115200, timeout=0.05, exclusive=True)
    except (serial.SerialException, OSError) as e:
        raise PortUnavailable(f"cannot open {port}: {e}") from e
    nonce = secrets.token_hex(4)
    echo = b"#evse? " + nonce.encode()
    try:
        ser.reset_input_buffer()  # console output from before: an old answer must not count
        pending = b""
        for wait in (timeout, retry_timeout):
            ser.write(b"\r" + echo + b"\r\n")  # the same nonce: a late first answer counts
            ser.flush()
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                pending += ser.read(4096)
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    state = _parse(line, nonce)
                    if state is not None:
                        return state
                    if echo in line or line.rstrip().startswith(_PROMPTS[1]):
                        return None  # a friendly REPL echoes what it is sent; the app does not
                if pending.endswith(_PROMPTS[0]):
                    return None  # a REPL prompt waits for input
        raise NoAnswer(SILENT)
    except (serial.SerialException, OSError) as e:
        raise PortUnavailable(f"lost {port}: {e}") from e
    finally:
        ser.close()


def _parse(line: bytes, nonce: str) -> BoardState | None:
    i = line.find(_PREFIX)
    if i < 0:
        return None
    try:
        data = json.loads(line[i + len(_PREFIX):].decode(errors="replace"))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("q") != nonce:
        return None
    return BoardState(data)
