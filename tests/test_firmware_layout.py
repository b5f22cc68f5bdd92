"""Architecture rules of the firmware that a grep can keep: hardware only behind hal/."""

import ast
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_machine_is_imported_only_inside_hal():
    offenders = [str(p.relative_to(FIRMWARE)) for p in FIRMWARE.rglob("*.py")
                 if "hal" not in p.relative_to(FIRMWARE).parts and {"machine", "esp32"} & _imports(p)]
    assert offenders == []


def test_connector_state_machine_is_pure():
    # Pure logic: no sockets, files or pins (events in, actions out); time only for ticks_diff
    # arithmetic on the `now` the caller passes in.
    source = (FIRMWARE / "evse" / "connector.py").read_text()
    assert _imports(FIRMWARE / "evse" / "connector.py") <= {"micropython", "time"}
    assert "ticks_ms(" not in source and "open(" not in source
