"""Ask the running firmware what it is doing, without interrupting it.

Every board command that needs the raw REPL stops the app with Ctrl-C: every relay opens and
an open transaction is stopped as PowerLoss at the next boot, ending a driver's session. So
those commands ask first. The protocol, on the board's console (`firmware/evse/console.py`):

    host  -> board   b"\\r#evse? <nonce>\\r\\n"     (a comment, should it reach a plain REPL)
    board -> host    b"#evse {json}\\r\\n"           (json["q"] == nonce)

The JSON holds `version`, `board`, `charge_point_id`, `csms_url`, `public_code`,
`connectors` ([[1, "Charging"], ...]), `sim` (a virtual board's settings), `transactions` ([{"connector", "ref", "id_tag",
"start_wh", "meter_wh"}]) and `deploy` (sha256 of the board's deploy.json, or null). No
answer within the timeout: the app is not running (a REPL, a crash, older firmware), so no
transaction can be open either.

    state = probe("/dev/pts/3")          # None: the app does not answer
    if state and (why := state.refusal()):
        ...                              # "connector 2 is charging (transaction ref 7, ...)"
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import serial

PROBE_TIMEOUT_S = 1.5
_PREFIX = b"#evse "

# What a connector in a transaction is doing, in words for a technician.
_DOING = {"Charging": "charging", "SuspendedEV": "in a session (paused by the EV)",
          "SuspendedEVSE": "in a session (paused by the charger)"}


class PortUnavailable(Exception):
    """The serial port cannot be opened (missing, busy, no permission)."""


@dataclass
class BoardState:
    """The running firmware's answer to the probe."""

    data: dict

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

    def refusal(self, connectors: set[int] | None = None, why: str | None = None) -> str | None:
        """The sentence that refuses an interruption while a transaction is open (None: none is).
        `connectors`: only those count (None: all); `why`: what stands in the way (default:
        a restart would end the session)."""
        open_txs = [t for t in self.transactions
                    if connectors is None or t.get("connector") in connectors]
        if not open_txs:
            return None
        sessions = "; ".join(self.describe(t) for t in open_txs)
        whose = "the driver's session" if len(open_txs) == 1 else "the drivers' sessions"
        return f"{sessions}: {why or 'a restart would end ' + whose}. Wait for it to end, or use --force."

    @property
    def deploy_digest(self) -> str | None:
        return self.data.get("deploy")


def probe(port: str, timeout: float = PROBE_TIMEOUT_S) -> BoardState | None:
    """Send the probe and wait up to `timeout` for the answer; None when none comes.
    Raises PortUnavailable when the port cannot be opened."""
    try:
        ser = serial.Serial(port, 115200, timeout=0.05, exclusive=True)
    except (serial.SerialException, OSError) as e:
        raise PortUnavailable(f"cannot open {port}: {e}") from e
    nonce = secrets.token_hex(4)
    echo = b"#evse? " + nonce.encode()
    try:
        ser.reset_input_buffer()  # console output from before: an old answer must not count
        ser.write(b"\r" + echo + b"\r\n")
        ser.flush()
        deadline = time.monotonic() + timeout
        pending = b""
        while time.monotonic() < deadline:
            pending += ser.read(4096)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                state = _parse(line, nonce)
                if state is not None:
                    return state
                if echo in line:
                    return None  # a friendly REPL echoes what it is sent; the app does not
        return None
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
