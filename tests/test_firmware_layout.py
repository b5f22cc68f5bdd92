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


# -- the OCPP layout (issue 10): operations by name, the route table, no circles --------------

EVSE = FIRMWARE / "evse"
OPERATIONS = EVSE / "ocpp" / "operations"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(FIRMWARE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in EVSE.rglob("*.py")}


def _routes() -> dict[str, list[str]]:
    """The route table of operations/__init__.py: action -> [how(, "cp")]."""
    tree = ast.parse((OPERATIONS / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "_ROUTES":
            value = node.value
            if isinstance(value, ast.Call):  # const("""...""")
                value = value.args[0]
            rows = [line.split(" ") for line in value.value.split("\n") if line]
            return {r[0]: r[1:] for r in rows}
    raise AssertionError("no _ROUTES in operations/__init__.py")


def _edges(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of evse that `name` imports anywhere in it (top level or inside a function), and
    the operations it loads through the route table (load("Action") / operation("Action"))."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = node.module + "." + a.name
                out.add(sub if sub in modules else node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("load", "operation") and node.args
              and isinstance(node.args[0], ast.Constant)):
            out.add("evse.ocpp.operations." + node.args[0].value)
    if name == "evse.ocpp.operations":  # it loads any module of the table by its name
        out.update(m for m in modules if m.startswith("evse.ocpp.operations."))
    return {m for m in out if m in modules and m != name}


def test_every_action_of_the_route_table_has_its_module_and_no_module_is_unlisted():
    """A reader finds the module of an action by its name: operations/<Action>.py."""
    routes = _routes()
    files = {p.stem for p in OPERATIONS.glob("*.py") if p.stem != "__init__"}
    for action, (how, *_rest) in routes.items():
        assert how in ("keep", "use", "rare", "no"), action
        assert (action in files) == (how != "no"), action
    assert files <= set(routes)
    for action in ("ChangeAvailability", "Reset", "TriggerMessage", "GetConfiguration",
                   "ChangeConfiguration", "DataTransfer", "RemoteStartTransaction",
                   "RemoteStopTransaction", "UnlockConnector", "ClearCache", "ReserveNow",
                   "CancelReservation", "SendLocalList", "GetLocalListVersion",
                   "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "UpdateFirmware"):
        assert routes[action][0] in ("keep", "use", "rare"), action
    for action in ("GetDiagnostics",):
        assert routes[action][0] == "no", action
    for name in files:  # a CALL of the central system is answered by answer(cp, payload)
        tree = ast.parse((OPERATIONS / f"{name}.py").read_text())
        defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        assert ("answer" in defs) == (routes[name][-1] != "cp"), name


def test_no_import_circles_inside_evse():
    modules = _modules()
    graph = {name: _edges(name, path, modules) for name, path in modules.items()}
    done, stack = set(), []

    def visit(m):
        assert m not in stack, "import circle: " + " -> ".join(stack[stack.index(m):] + [m])
        if m in done:
            return
        stack.append(m)
        for n in sorted(graph[m]):
            visit(n)
        stack.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_no_module_uses_another_modules_private_names():
    """No `from X import _name`, and `obj._name` only for a name its own module defines."""
    offenders = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        own = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                offenders += [f"{name}: from {node.module} import {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
            elif (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                  and not node.attr.startswith("__") and node.attr not in own):
                offenders.append(f"{name}: .{node.attr}")
    assert offenders == []


def test_charge_point_class_is_under_300_lines():
    tree = ast.parse((EVSE / "ocpp" / "chargepoint.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ChargePoint")
    assert cls.end_lineno - cls.lineno + 1 < 300


def test_main_catches_reboot_by_type():
    """main.py restarts cleanly on a Reset: `except Reboot`, the class from evse itself (imported
    inside the crash guard's try: an update's evse that does not import is a crash too)."""
    main = (FIRMWARE / "main.py").read_text()
    tree = ast.parse(main)
    caught = [h.type.id for h in ast.walk(tree)
              if isinstance(h, ast.ExceptHandler) and isinstance(h.type, ast.Name)]
    assert "Reboot" in caught and "__name__" not in main
    assert any(isinstance(n, ast.ImportFrom) and n.module == "evse"
               and "Reboot" in [a.name for a in n.names] for n in ast.walk(tree))
    pkg = ast.parse((EVSE / "__init__.py").read_text())
    assert any(isinstance(n, ast.ClassDef) and n.name == "Reboot"
               and [b.id for b in n.bases] == ["Exception"] for n in pkg.body)
