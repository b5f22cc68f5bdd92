"""What each OCPP 1.6 connector status means to a driver, and what to do about it.

One place for the words: the backend's 409 answer and the driver's refusal sentence both use
`explain`, so a refusal always names the state in plain words and never repeats itself.

    explain("Finishing", 1) -> "the last session ended; unplug the EV to start a new one (...)"
"""

from __future__ import annotations

# status -> (what it means, what to do); {n} is the connector number.
_WORDS = {
    "Available": ("it is free but another driver's session holds it (waiting for payment or "
                  "for the charger to start)", "try again in a few minutes or use another "
                  "connector"),
    "Preparing": ("an EV is plugged in and another driver's session holds it (waiting for "
                  "payment or for the charger to start)", "try again in a few minutes or use "
                  "another connector"),
    "Charging": ("it is in use: another session is charging on it",
                 "use another connector or wait until that session ends"),
    "SuspendedEV": ("it is in use: a session is open and the EV has paused charging (battery "
                    "full or the EV's own limit)", "use another connector or wait until that "
                    "session ends"),
    "SuspendedEVSE": ("it is in use: a session is open and the charger is holding back power "
                      "(load management or a smart-charging limit)", "use another connector or "
                      "wait until that session ends"),
    "Finishing": ("the last session ended", "unplug the EV to start a new one"),
    "Reserved": ("it is reserved for another driver",
                 "use another connector or wait until the reservation ends"),
    "Unavailable": ("it is out of service (switched off by the operator, or the charger has "
                    "not reported it yet)", "use another connector or ask the operator"),
    "Faulted": ("it has a fault (for example a welded relay or a lost meter) and cannot charge "
                "until it is repaired", "use another connector and report it to the operator"),
}
# For people at a bench: how to do it on a virtual board.
_BENCH = {"Finishing": " (on a virtual board: `chargerctl sim plug --control-port P --connector "
                       "{n} --unplugged`, then `--plugged`)"}
_UNKNOWN = ("the charger has not reported its state", "try again in a minute or use another "
            "connector")


def explain(status: str | None, connector: int | str = "N", bench: bool = False) -> str:
    """`meaning; what to do`, for the sentence of a refusal (`bench`: the virtual-board way)."""
    meaning, todo = _WORDS.get(status or "", _UNKNOWN)
    hint = _BENCH.get(status or "", "") if bench else ""
    return f"{meaning}; {todo}{hint.format(n=connector)}"


def refusal(status: str | None, connector: int | str, charger: str | None = None,
            bench: bool = False) -> str:
    """The whole sentence: `Connector 1 of charger ABC123 is Finishing: the last session ...`."""
    where = f"Connector {connector}" + (f" of charger {charger}" if charger else "")
    return f"{where} is {status or 'in an unknown state'}: {explain(status, connector, bench)}."
