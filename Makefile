# Every target that needs tools depends on .venv, so each works from a fresh clone alone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo bench lint flash clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/chargerctl demo

bench: setup
	$(BIN)/python -m bench.run

lint: setup
	$(BIN)/ruff check --exclude tests/firmware host_tools tests bench
	$(BIN)/ruff check --config firmware/ruff.toml firmware tests/firmware

# make flash PORT=/dev/ttyUSB0 BOARD=olimex-esp32-evb CONFIG=config.json
flash: setup
	$(BIN)/chargerctl flash --port $(PORT) --board $(BOARD) --config $(CONFIG)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
