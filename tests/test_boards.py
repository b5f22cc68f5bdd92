"""Board files: every file in boards/ passes boards/schema.json (JSON Schema 2020-12, what
host_tools checks before flashing), the schema refuses the mistakes that would hurt on a real
board, and the pin maps make electrical sense for the ESP32 family."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from host_tools import BOARDS_DIR

SCHEMA = json.loads((BOARDS_DIR / "schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BOARD_FILES = sorted(p for p in BOARDS_DIR.glob("*.json") if p.name != "schema.json")
# ESP32 (classic) GPIO34-39 are inputs only; GPIO6-11 are the SPI flash.
INPUT_ONLY = {34, 35, 36, 37, 38, 39}
FLASH = {6, 7, 8, 9, 10, 11}


def load(name: str) -> dict:
    return json.loads((BOARDS_DIR / f"{name}.json").read_text())


def errors(board: dict) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(board)]


def test_schema_is_a_valid_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_at_least_three_real_boards_and_the_virtual_one():
    names = {p.stem for p in BOARD_FILES}
    assert "unix-sim" in names
    real = [p for p in BOARD_FILES if json.loads(p.read_text())["platform"] == "esp32"]
    assert len(real) >= 3


@pytest.mark.parametrize("path", BOARD_FILES, ids=lambda p: p.stem)
def test_board_file_is_valid(path):
    board = json.loads(path.read_text())
    assert errors(board) == []
    assert board["name"] == path.stem


def outputs(board: dict) -> list[int]:
    pins = []
    for c in board["connectors"]:
        if "pin" in c["relay"]:
            pins.append(c["relay"]["pin"])
        if c["plug"].get("pwm_pin") is not None:
            pins.append(c["plug"]["pwm_pin"])
    bus = board.get("modbus") or {}
    pins += [bus[k] for k in ("tx", "de") if bus.get(k) is not None]
    return pins


def all_pins(board: dict) -> list[int]:
    pins = outputs(board)
    for c in board["connectors"]:
        fb = c["relay"].get("feedback")
        if fb:
            pins.append(fb["pin"])
        for part in (c["meter"], c["plug"]):
            if "pin" in part:
                pins.append(part["pin"])
    if board.get("modbus"):
        pins.append(board["modbus"]["rx"])
    if board.get("i2c"):
        pins += [board["i2c"]["sda"], board["i2c"]["scl"]]
    if board.get("maintenance"):
        pins.append(board["maintenance"]["pin"])
    return pins


@pytest.mark.parametrize("path", [p for p in BOARD_FILES if p.stem != "unix-sim"], ids=lambda p: p.stem)
def test_pin_map_is_electrically_sensible(path):
    board = json.loads(path.read_text())
    pins = all_pins(board)
    assert len(pins) == len(set(pins)), f"a GPIO is used twice: {sorted(pins)}"
    assert not set(pins) & FLASH or "s3" in board["name"], "GPIO6-11 belong to the SPI flash"
    if "s3" not in board["name"]:
        assert not set(outputs(board)) & INPUT_ONLY, "GPIO34-39 cannot drive a relay or DE"
    for c in board["connectors"]:
        if c["plug"]["type"] == "pilot" and "s3" not in board["name"]:
            assert c["plug"]["pin"] in {32, 33, 34, 35, 36, 37, 38, 39}, "pilot needs ADC1 (ADC2 is lost to Wi-Fi)"


def test_olimex_evb_relays_are_gpio32_and_33():
    b = load("olimex-esp32-evb")
    assert [c["relay"]["pin"] for c in b["connectors"]] == [32, 33]
    assert b["modbus"]["tx"] == 4 and b["modbus"]["rx"] == 36  # UEXT UART
    assert (b["i2c"]["sda"], b["i2c"]["scl"]) == (13, 16)  # UEXT I2C


def mutate(name: str, fn) -> dict:
    b = copy.deepcopy(load(name))
    fn(b)
    return b


@pytest.mark.parametrize("case,fn", [
    ("sdm meter without a modbus bus", lambda b: b.pop("modbus")),
    ("ssd1306 without i2c pins", lambda b: b.pop("i2c")),
    ("relay without a pin", lambda b: b["connectors"][0]["relay"].pop("pin")),
    ("simulated meter on an ESP32", lambda b: b["connectors"][0].update(meter={"type": "sim"})),
    ("unknown meter type", lambda b: b["connectors"][0].update(meter={"type": "sdm72", "address": 1})),
    ("modbus address out of range", lambda b: b["connectors"][0]["meter"].update(address=248)),
    ("pilot without calibration", lambda b: b["connectors"][0].update(plug={"type": "pilot", "pin": 36})),
    ("odd baud rate", lambda b: b["modbus"].update(baud=9601)),
    ("no connectors", lambda b: b.update(connectors=[])),
    ("typo in a key", lambda b: b["connectors"][0]["relay"].update(activehigh=True)),
    ("unknown platform", lambda b: b.update(platform="rp2")),
    ("console display on hardware", lambda b: b.update(display={"type": "console"})),
])
def test_schema_refuses(case, fn):
    assert errors(mutate("olimex-esp32-evb", fn)), case


def test_schema_refuses_s0_without_impulses():
    b = mutate("esp32-s3-devkitc-1", lambda b: b["connectors"][0]["meter"].pop("impulses_per_kwh"))
    assert errors(b)


def test_schema_refuses_real_pins_on_the_virtual_board():
    b = mutate("unix-sim", lambda b: b["connectors"][0].update(relay={"pin": 32}))
    assert errors(b)
