"""The official OCPP 1.6 JSON schemas (shipped in the `ocpp` package) compiled into the compact
form the firmware checks incoming payloads with (firmware/evse/ocpp/schema.py).

    python -m host_tools.ocpp_schemas            # (re)write firmware/evse/ocpp/schemas/
    python -m host_tools.ocpp_schemas --check    # exit 1 when a committed file is stale

One generated module per action, `schemas/<Action>.py`, holding `S`, one nested tuple of
constants: a frozen build keeps it in flash, an .mpy build loads it per use and drops it like
the operation modules. Which actions: every CALL of the central system that the route table
(operations/__init__.py) answers (rows `keep`/`use`/`rare` without `cp`), and the answers to the
charge point's own CALLs (`<Action>Response`), which are incoming payloads too. A profile that
turns a row from `no` to `use` gets its checks by running this again.

The compact form, one node per value (kinds as in schema.py); few tuples, because on an .mpy
build each is a heap object while its schema is loaded:
    INT | NUM | TENTHS | STR | DATE | BOOL     a bare int: integer (not a bool, not 1.0: Draft 4),
                                               number, number with multipleOf 0.1, string,
                                               string of format date-time, boolean
    (STR, maxLength or 0, enum or None, format)  a string with constraints; format 0 none,
                                               1 date-time, 2 uri (a scheme, then no blank)
    (OBJ, closed, n, name, node, name, node...)   the n required properties first; closed:
                                                  additionalProperties false
    (ARR, item node or None, minItems)
A local `$ref` ("#/definitions/Name", as the security extension's schemas write them) is
inlined from the schema's own `definitions`. A keyword this compiler does not understand stops it with the schema's name and the keyword's
path: a check silently left out would let through what the schema forbids.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import sys
from pathlib import Path

from host_tools import FIRMWARE_DIR

OPERATIONS_INIT = Path(FIRMWARE_DIR) / "evse" / "ocpp" / "operations" / "__init__.py"
OUT_DIR = Path(FIRMWARE_DIR) / "evse" / "ocpp" / "schemas"

# Kinds, as firmware/evse/ocpp/schema.py numbers them.
INT, NUM, STR, BOOL, OBJ, ARR, TENTHS, DATE = 1, 2, 3, 4, 5, 6, 7, 8
_TYPES = {"integer": INT, "number": NUM, "string": STR, "boolean": BOOL, "object": OBJ, "array": ARR}

# The charge point's own CALLs (chargepoint.py, transactions.py, availability.py, operations/
# Authorize.py): their answers are checked too.
OWN_CALLS = ("Authorize", "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
             "Heartbeat", "LogStatusNotification", "MeterValues", "SecurityEventNotification",
             "SignedFirmwareStatusNotification", "StartTransaction", "StatusNotification", "StopTransaction")

# Keywords that only annotate (they change no verdict).
_ANNOTATIONS = {"$schema", "title", "description", "$id", "id"}


class SchemaError(Exception):
    """A schema this compiler cannot turn into the compact form exactly."""


def schemas_dir() -> Path:
    import ocpp
    return Path(ocpp.__file__).parent / "v16" / "schemas"


def ocpp_version() -> str:
    return importlib.metadata.version("ocpp")


def routes(init: Path = OPERATIONS_INIT) -> dict[str, list[str]]:
    """The route table of operations/__init__.py: action -> [how(, "cp")]."""
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_ROUTES":
            value = node.value.args[0] if isinstance(node.value, ast.Call) else node.value
            rows = [line.split(" ") for line in value.value.split("\n") if line]
            return {r[0]: r[1:] for r in rows}
    raise SchemaError(f"no _ROUTES table in {init}")


def targets(table: dict[str, list[str]]) -> list[str]:
    """Schema names to generate: the central system's CALLs we answer, our own CALLs' answers."""
    calls = [a for a, r in table.items() if r[0] in ("keep", "use", "rare") and "cp" not in r[1:]]
    return sorted(calls) + [a + "Response" for a in OWN_CALLS]


_FORMATS = {None: 0, "date-time": 1, "uri": 2}


def _inline(s, defs: dict, where: str, seen: tuple = ()):
    """`s` with every local $ref replaced by its definition (a cycle is refused)."""
    if isinstance(s, list):
        return [_inline(x, defs, where, seen) for x in s]
    if not isinstance(s, dict):
        return s
    if "$ref" in s:
        ref = s["$ref"]
        name = ref[len("#/definitions/"):] if isinstance(ref, str) and ref.startswith("#/definitions/") else None
        if name is None or name not in defs or len(s) != 1:
            raise SchemaError(f"{where}: $ref {ref!r} not understood (only a lone #/definitions/Name)")
        if name in seen:
            raise SchemaError(f"{where}: $ref {ref!r} is recursive")
        return _inline(defs[name], defs, where, seen + (name,))
    return {k: (v if k == "enum" else _inline(v, defs, where, seen)) for k, v in s.items()}


def compile_node(s: dict, where: str) -> tuple | int:
    """One schema (sub)object -> its node; SchemaError on anything not understood."""
    if not isinstance(s, dict):
        raise SchemaError(f"{where}: a schema must be an object, got {s!r}")
    unknown = set(s) - _ANNOTATIONS - {"type", "properties", "required", "additionalProperties",
                                       "enum", "maxLength", "format", "items", "multipleOf",
                                       "minItems"}
    if unknown:
        raise SchemaError(f"{where}: keyword(s) {sorted(unknown)} not understood by host_tools/ocpp_schemas.py")
    typ = s.get("type")
    if not isinstance(typ, str) or typ not in _TYPES:
        raise SchemaError(f"{where}: type {typ!r} not understood (one of {sorted(_TYPES)} expected)")
    kind = _TYPES[typ]
    allowed = {
        INT: set(),
        NUM: {"multipleOf"},
        STR: {"maxLength", "enum", "format", "additionalProperties"},
        BOOL: set(),
        OBJ: {"properties", "required", "additionalProperties"},
        ARR: {"items", "minItems"},
    }[kind]
    # additionalProperties applies to objects only (Draft 4): the 1.6 schemas put it on enum
    # strings too, where it changes nothing; on any other type it is a mistake we want to see.
    misplaced = set(s) - _ANNOTATIONS - {"type"} - allowed
    if misplaced:
        raise SchemaError(f"{where}: {sorted(misplaced)} not understood on type {typ!r}")
    if kind == INT or kind == BOOL:
        return kind
    if kind == NUM:
        m = s.get("multipleOf")
        if m not in (None, 0.1):
            raise SchemaError(f"{where}: multipleOf {m!r} not understood (only 0.1)")
        return TENTHS if m == 0.1 else NUM
    if kind == STR:
        n = s.get("maxLength", 0)
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise SchemaError(f"{where}: maxLength {n!r}")
        enum = s.get("enum")
        if enum is not None and (not enum or not all(isinstance(e, str) for e in enum)):
            raise SchemaError(f"{where}: enum {enum!r} (strings expected)")
        fmt = s.get("format")
        if fmt not in _FORMATS:
            raise SchemaError(f"{where}: format {fmt!r} not understood (only {sorted(f for f in _FORMATS if f)})")
        if not n and enum is None and fmt != "uri":
            return DATE if fmt else STR
        return (STR, n, tuple(enum) if enum is not None else None, _FORMATS[fmt])
    if kind == OBJ:
        props = s.get("properties", {})
        if not isinstance(props, dict):
            raise SchemaError(f"{where}: properties must be an object")
        required = s.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise SchemaError(f"{where}: required {required!r}")
        extra = s.get("additionalProperties", True)
        if extra not in (True, False):
            raise SchemaError(f"{where}: additionalProperties {extra!r} (only true or false)")
        missing = [r for r in required if r not in props]
        if missing or len(set(required)) != len(required):
            raise SchemaError(f"{where}: required {required!r} names properties the schema does not define once")
        names = list(required) + [n for n in props if n not in required]
        flat: list = []
        for n in names:
            flat += [n, compile_node(props[n], f"{where}.{n}")]
        return (OBJ, not extra, len(required), *flat)
    items = s.get("items")
    if items is not None and not isinstance(items, dict):
        raise SchemaError(f"{where}: items must be one schema (tuple form not understood)")
    n = s.get("minItems", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise SchemaError(f"{where}: minItems {n!r}")
    return (ARR, compile_node(items, f"{where}[]") if items is not None else None, n)


def resolve_refs(name: str, schema: dict) -> dict:
    """The schema with its local $refs inlined and its `definitions` gone (as it was)."""
    if not isinstance(schema, dict) or "definitions" not in schema:
        return schema
    defs = schema["definitions"]
    if not isinstance(defs, dict):
        raise SchemaError(f"{name}: definitions must be an object")
    return _inline({k: v for k, v in schema.items() if k != "definitions"}, defs, name)


def compile_schema(name: str, schema: dict) -> tuple:
    node = compile_node(resolve_refs(name, schema), name)
    if not isinstance(node, tuple) or node[0] != OBJ:
        raise SchemaError(f"{name}: a payload schema must be an object")
    return node


def _text(node, indent: int = 4) -> str:
    """Python source of a node: an object's properties one per line, the rest as repr."""
    if isinstance(node, int) or node[0] != OBJ:
        if isinstance(node, tuple) and node[0] == ARR:
            return f"({ARR}, {_text(node[1], indent)}, {node[2]})"
        return repr(node)
    pad = " " * indent
    pairs = "".join(f"\n{pad}{node[i]!r}, {_text(node[i + 1], indent + 4)},"
                    for i in range(3, len(node), 2))
    return f"({OBJ}, {node[1]!r}, {node[2]},{pairs})"


def render(name: str, node: tuple, version: str) -> str:
    """The generated module's text."""
    return (f"# Generated from ocpp {version} (ocpp/v16/schemas/{name}.json) by host_tools/ocpp_schemas.py:"
            f" do not edit, run `make schemas`.\n"
            f"# The compact form firmware/evse/ocpp/schema.py checks; the module docstring of\n"
            f"# host_tools/ocpp_schemas.py describes it.\n"
            f"S = {_text(node)}\n")


def generate(src: Path | None = None, table: dict[str, list[str]] | None = None,
             version: str | None = None) -> dict[str, str]:
    """{file name: text} of every generated module (and the package's __init__.py)."""
    src = src or schemas_dir()
    version = version or ocpp_version()
    out = {"__init__.py": f"# Generated from ocpp {version} by host_tools/ocpp_schemas.py: do not edit, run"
                          f" `make schemas`.\n# One module per action: S, the compact form of its"
                          f" schema (evse/ocpp/schema.py checks it).\n"}
    for name in targets(table if table is not None else routes()):
        path = src / f"{name}.json"
        if not path.exists():
            raise SchemaError(f"no official schema {path} for {name}")
        node = compile_schema(name, json.loads(path.read_text()))
        text = render(name, node, version)
        assert ast.literal_eval(text.split("S = ", 1)[1]) == node, name  # the text is the node
        out[f"{name}.py"] = text
    return out


def stale(out_dir: Path = OUT_DIR) -> list[str]:
    """Files under out_dir that differ from a fresh generation (missing, changed or extra)."""
    fresh = generate()
    have = {p.name for p in out_dir.glob("*.py")} if out_dir.exists() else set()
    bad = sorted(n for n in fresh if n not in have or (out_dir / n).read_text() != fresh[n])
    return bad + sorted(have - set(fresh))


def write(out_dir: Path = OUT_DIR) -> list[str]:
    fresh = generate()
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in out_dir.glob("*.py"):
        if p.name not in fresh:
            p.unlink()
    for n, text in fresh.items():
        (out_dir / n).write_text(text)
    return sorted(fresh)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host_tools.ocpp_schemas", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report files that differ from a fresh generation")
    args = ap.parse_args(argv)
    try:
        if args.check:
            bad = stale()
            for n in bad:
                print(f"stale: {OUT_DIR / n} (run `make schemas`)", file=sys.stderr)
            return 1 if bad else 0
        names = write()
    except SchemaError as e:
        print(f"ocpp_schemas: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(names)} files to {OUT_DIR} from ocpp {ocpp_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
