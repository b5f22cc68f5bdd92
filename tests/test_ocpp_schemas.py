"""The compact schemas of firmware/evse/ocpp/schemas/ (host_tools/ocpp_schemas.py) and the
firmware's checker of them (evse/ocpp/schema.py) against the official OCPP 1.6 schemas.

- The committed files equal a fresh generation: they are derived, never edited.
- The compiler refuses what it does not understand instead of leaving a check out.
- Differential: for every generated schema, seeded random payloads (valid ones, and valid ones
  with one mutation: a required field dropped, a wrong type, null, an extra property, a string
  too long, a value outside the enum, a bad date-time, a number that is no multiple of 0.1,
  anywhere in the payload, inside chargingProfile / chargingSchedulePeriod too) are judged by
  the `ocpp` package's schemas under jsonschema's Draft4Validator in CPython and by the
  firmware's checker in the MicroPython unix port (one process for all of them): the same
  verdict for every payload, and for a mutated one the 1.6 code its mutation calls for.

Where the two disagree on purpose, the reference is Draft 4 with two changes, both counted:
- format "date-time" is enforced (Draft 4 leaves formats to the application: jsonschema
  accepts any string unless given a format checker) as RFC 3339 says, ranges included (no
  February 30, no hour 24, an offset required): the firmware's evse/ocpp/rfc3339.py.
- multipleOf 0.1 is exact decimal arithmetic: jsonschema divides floats, so it calls 0.3 or
  16.1 no multiple of 0.1 (0.3 / 0.1 = 2.9999999999999996); the firmware accepts them.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from host_tools import ocpp_schemas
from host_tools.ocpp_schemas import SchemaError, compile_schema
from tests import builds

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
PER_SCHEMA = 300
SEED = 1612


# -- the generated files ---------------------------------------------------------------------

def test_generated_files_are_fresh():
    stale = ocpp_schemas.stale()
    assert stale == [], f"regenerate with `make schemas`: {stale}"
    first = (ocpp_schemas.OUT_DIR / "RemoteStartTransaction.py").read_text().splitlines()[0]
    assert first.startswith(f"# Generated from ocpp {ocpp_schemas.ocpp_version()} ") and "do not edit" in first


def test_targets_follow_the_route_table():
    table = ocpp_schemas.routes()
    names = ocpp_schemas.targets(table)
    assert "RemoteStartTransaction" in names and "RemoteStopTransaction" in names
    assert "StartTransaction" not in names and "StartTransactionResponse" in names  # a "cp" row
    no = [a for a, r in table.items() if r[0] == "no"]
    assert not set(no) & set(names)  # "no": answered NotSupported, nothing to check (no such row
    # today: every profile is built; the SendLocalList toggle below checks the rule)
    table["SendLocalList"] = ["no"]  # a profile turned off: nothing generated for it...
    assert "SendLocalList" not in ocpp_schemas.targets(table)
    table["SendLocalList"] = ["use"]  # ...turned on: regenerating gives its checks
    out = ocpp_schemas.generate(table=table)
    assert "S = (5," in out["SendLocalList.py"]


@pytest.mark.parametrize("schema, words", [
    ({"type": "object", "properties": {"a": {"type": "string", "pattern": "^x$"}}}, ["pattern", "T.a"]),
    ({"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}}, ["$ref"]),
    ({"type": "object", "properties": {"u": {"type": "string", "format": "email"}}}, ["email"]),
    ({"type": "object", "definitions": {"x": {"type": "string"}},
      "properties": {"a": {"$ref": "#/definitions/y"}}}, ["$ref", "#/definitions/y"]),
    ({"type": "object", "definitions": {"x": {"$ref": "#/definitions/x"}},
      "properties": {"a": {"$ref": "#/definitions/x"}}}, ["recursive"]),
    ({"type": "object", "properties": {"n": {"type": "number", "multipleOf": 0.5}}}, ["multipleOf"]),
    ({"type": "object", "properties": {"n": {"type": ["string", "null"]}}}, ["type"]),
    ({"type": "object", "properties": {"n": {"type": "integer", "maxLength": 3}}}, ["maxLength", "integer"]),
    ({"type": "object", "additionalProperties": {"type": "string"}}, ["additionalProperties"]),
    ({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}, ["items"]),
])
def test_compiler_refuses_what_it_does_not_understand(schema, words):
    with pytest.raises(SchemaError) as e:
        compile_schema("T", schema)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_compiler_inlines_local_refs_and_knows_uri():
    # the security extension's schemas (DeleteCertificate...) define their types once and $ref them
    schema = {"type": "object", "definitions": {"Kind": {"type": "string", "enum": ["A", "B"]}},
              "properties": {"k": {"$ref": "#/definitions/Kind"}, "u": {"type": "string", "format": "uri"},
                             "v": {"type": "string", "maxLength": 9, "format": "uri"}},
              "required": ["k"], "additionalProperties": False}
    assert compile_schema("T", schema) == (5, True, 1, "k", (3, 0, ("A", "B"), 0),
                                           "u", (3, 0, None, 2), "v", (3, 9, None, 2))


def test_compiler_exits_non_zero_on_an_unknown_keyword(tmp_path):
    (tmp_path / "Reset.json").write_text(json.dumps(
        {"type": "object", "properties": {"type": {"type": "string", "minLength": 1}}}))
    with pytest.raises(SchemaError, match="minLength"):
        ocpp_schemas.generate(src=tmp_path, table={"Reset": ["use"]}, version="test")


# -- differential: jsonschema (CPython) and the firmware's checker (MicroPython) ----------------

SCHEMAS = ocpp_schemas.schemas_dir()
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
GOOD_TIMES = ["2026-11-26T00:33:07Z", "2026-11-26T00:33:07.123Z", "2026-11-26T02:33:07+02:00",
              "1999-01-01T00:00:00-05:30", "2024-02-29T23:59:59.5+05:45", "2000-02-29T00:00:00Z"]
BAD_TIMES = ["", "now", "tomorrow", "2026-01-01", "12:00:00Z", "2026-01-01T12:00", "26/11/2026 00:33",
             "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
             "2026-01-01T24:00:00Z", "2026-01-01T12:60:00Z", "2026-01-01T12:00:61Z", "2026-01-01T12:00:00",
             "2026-01-01 12:00:00Z", "2026-01-01T12:00:00.Z", "2026-01-01T12:00:00+24:00",
             "2026-01-01T12:00:00+0100", "+026-01-01T12:00:00Z", "2026-01-01T12:00:00Zjunk"]
GOOD_URIS = ["http://127.0.0.1:8080/fw/bundle.evb", "https://cs.example.com/diag/", "ftp://u:p@h/d",
             "urn:isbn:0451450523", "a+b-c.d:x"]
BAD_URIS = ["", "bundle.evb", "/fw/bundle.evb", "://x", "1http://x", "ht tp://x", "http://x y",
            "http://x\ty", "h_t://x", ":"]
CHARS = "abcXYZ019 -_.:é\U0001F600"


def _date_time(value) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _multiple_of(validator, m, instance, schema):
    if validator.is_type(instance, "number") and Decimal(str(instance)) % Decimal(str(m)):
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {m}")


_formats = jsonschema.FormatChecker(formats=())
_formats.checks("date-time")(_date_time)


@_formats.checks("uri")
def _uri(value) -> bool:  # RFC 3986's outline, as the firmware checks it
    return not isinstance(value, str) or bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\x00- \x7f]*$", value))
Reference = jsonschema.validators.extend(jsonschema.Draft4Validator, {"multipleOf": _multiple_of})


def _value(rng: random.Random, s: dict, depth=0):
    """A valid instance of schema `s`."""
    t = s["type"]
    if t == "object":
        props = s.get("properties", {})
        req = set(s.get("required", []))
        return {k: _value(rng, v, depth + 1) for k, v in props.items() if k in req or rng.random() < 0.7}
    if t == "array":
        return [_value(rng, s["items"], depth + 1) for _ in range(rng.randint(max(1, s.get("minItems", 0)), 3))]
    if t == "integer":
        return rng.choice([0, 1, 2, rng.randint(-100, 100000), 2**31 - 1, -(2**40)])
    if t == "number":
        if "multipleOf" in s:
            return rng.choice([rng.randint(0, 500), round(rng.randint(0, 5000) / 10, 1), 0.3, 16.1])
        return rng.choice([rng.randint(0, 500), rng.random() * 100])
    if t == "boolean":
        return rng.random() < 0.5
    if "enum" in s:
        return rng.choice(s["enum"])
    if s.get("format") == "date-time":
        return rng.choice(GOOD_TIMES)
    if s.get("format") == "uri":
        return rng.choice(GOOD_URIS)
    n = rng.randint(0, s.get("maxLength", 30))
    return "".join(rng.choice(CHARS) for _ in range(n))


def _sites(s: dict, inst, path=()):
    """(path, schema, value) of every value in the instance, the payload itself first."""
    yield path, s, inst
    if s["type"] == "object" and isinstance(inst, dict):
        for k, v in inst.items():
            yield from _sites(s["properties"][k], v, path + (k,))
    elif s["type"] == "array" and isinstance(inst, list):
        for i, v in enumerate(inst):
            yield from _sites(s["items"], v, path + (i,))


def _set(inst, path, value):
    for p in path[:-1]:
        inst = inst[p]
    inst[path[-1]] = value


_WRONG = {"integer": ["7", 1.5, 2.0, True, [], {}], "number": ["7", True, [1], {}],
          "string": [7, 1.5, False, ["a"], {"a": "b"}], "boolean": [0, 1, "true", []],
          "object": [[], "x", 3], "array": [{}, "x", 3]}
CODES = {"drop": "OccurenceConstraintViolation", "null": "TypeConstraintViolation",
         "type": "TypeConstraintViolation", "extra": "FormationViolation",
         "long": "PropertyConstraintViolation", "enum": "PropertyConstraintViolation",
         "time": "PropertyConstraintViolation", "uri": "PropertyConstraintViolation", "tenths": "PropertyConstraintViolation"}


def _mutate(rng: random.Random, s: dict, inst) -> str | None:
    """Break `inst` in one place: a kind of mutation that has a site in it, at one of its sites
    (kind, or None when the payload has no site for any)."""
    sites = list(_sites(s, inst))
    where = {
        "drop": [x for x in sites if x[1]["type"] == "object" and x[1].get("required")],
        "extra": [x for x in sites if x[1]["type"] == "object" and x[1].get("additionalProperties") is False],
        "null": sites[1:],
        "type": sites[1:],
        "long": [x for x in sites if x[1]["type"] == "string" and "maxLength" in x[1]],
        "enum": [x for x in sites if "enum" in x[1]],
        "time": [x for x in sites if x[1].get("format") == "date-time"],
        "uri": [x for x in sites if x[1].get("format") == "uri"],
        "tenths": [x for x in sites if "multipleOf" in x[1]],
    }
    kinds = [k for k in CODES if where[k]]
    if not kinds:
        return None
    kind = rng.choice(kinds + [k for k in ("time", "uri", "tenths") if where[k]] * 2)  # the rare ones more
    sites = where[kind]
    path, sub, value = rng.choice(sites)
    if kind == "drop":
        del value[rng.choice(sub["required"])]
    elif kind == "extra":
        value[rng.choice(["x", "extra", "idTag2", "\U0001F600"])] = rng.choice([1, "a", None, {}])
    elif kind == "null":
        _set(inst, path, None)
    elif kind == "type":
        _set(inst, path, rng.choice(_WRONG[sub["type"]]))
    elif kind == "long":
        n = sub["maxLength"] + rng.randint(1, 3)
        _set(inst, path, "".join(rng.choice(CHARS) for _ in range(n)))
    elif kind == "enum":
        _set(inst, path, rng.choice(["", "accepted", sub["enum"][0] + " ", "Other"]))
    elif kind == "time":
        _set(inst, path, rng.choice(BAD_TIMES))
    elif kind == "uri":
        _set(inst, path, rng.choice(BAD_URIS))
    else:
        _set(inst, path, rng.choice([7.25, 0.05, 13.37, 1.01]))
    return kind


def _cases(names):
    rng = random.Random(SEED)
    cases = []
    for name in names:
        schema = ocpp_schemas.resolve_refs(name, json.loads((SCHEMAS / f"{name}.json").read_text()))
        for i in range(PER_SCHEMA):
            inst = _value(rng, schema)
            kind = _mutate(rng, schema, inst) if i % 4 else None  # a quarter stay valid
            cases.append((name, schema, inst, kind))
    return cases


_CHECKER = """
import sys, json
from evse.ocpp.schema import fault
for line in open(sys.argv[1]):
    name, text = line.rstrip("\\n").split("\\t", 1)
    f = fault(name, json.loads(text))
    print(json.dumps(f and f[0]))
"""


@pytest.mark.parametrize("build", ["unix64", "unix32"])
def test_firmware_checker_agrees_with_jsonschema(tmp_path, build):
    mp = builds.binary(build)
    if mp is None:
        pytest.skip(builds.SKIP_REASON)
    names = ocpp_schemas.targets(ocpp_schemas.routes())
    cases = _cases(names)
    (tmp_path / "cases.txt").write_text("".join(
        f"{name}\t{json.dumps(inst, ensure_ascii=False)}\n" for name, _, inst, _ in cases), encoding="utf-8")
    (tmp_path / "check.py").write_text(_CHECKER)
    out = subprocess.run([mp, str(tmp_path / "check.py"), str(tmp_path / "cases.txt")], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ, MICROPYPATH=str(FIRMWARE)), check=True)
    codes = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(codes) == len(cases), out.stderr[-2000:]
    disagree, plain_differs, kinds = [], 0, {}
    for (name, schema, inst, kind), code in zip(cases, codes, strict=True):
        valid = Reference(schema, format_checker=_formats).is_valid(inst)
        plain_differs += valid != jsonschema.Draft4Validator(schema).is_valid(inst)
        kinds[kind] = kinds.get(kind, 0) + 1
        if valid != (code is None):
            disagree.append(f"{name} {kind}: jsonschema {'valid' if valid else 'invalid'}, firmware {code}: {inst!r}")
        elif kind is not None and not valid and code != CODES[kind]:
            disagree.append(f"{name} {kind}: code {code}, expected {CODES[kind]}: {inst!r}")
    assert not disagree, f"{len(disagree)} of {len(cases)}:\n" + "\n".join(disagree[:20])
    assert len(cases) >= 300 * len(names)
    uris = any('"uri"' in json.dumps(s) for _, s, _, _ in cases)  # none until a route takes a URI
    assert all(kinds.get(k, 0) >= 20 for k in CODES if k != "uri" or uris), sorted(kinds.items(), key=str)
    # the two deliberate changes to plain Draft 4 (see the module docstring) did matter
    assert plain_differs > 0
