# Every target that needs tools depends on .venv, so each works from a fresh clone alone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser-deps test test-long demo bench bench-memory lint flash clean mpy-unix32 mpy-unix32-frozen mpy-info schemas

# ---- 32-bit unix ports built from MicroPython's source (an ESP32 has 4-byte pointers) --------
# MPY_SRC: a MicroPython v1.28 source tree or its .tar.gz (extracted once under .build/src).
# Two builds, cached under .build/: plain (firmware deployed as .mpy, like a stock image) and
# with `evse` frozen by firmware/manifest.py (rebuilt when a firmware source changes). `make
# test` and `make bench` run their 32-bit parts on them; without MPY_SRC those parts are skipped.
MPY_SRC ?=
BUILD_DIR := $(abspath .build)
MPY_FLAGS := MICROPY_FORCE_32BIT=1 MICROPY_PY_FFI=0 MICROPY_PY_BTREE=0
FIRMWARE_SRC := firmware/manifest.py \
	$(shell find firmware/evse -name __pycache__ -prune -o \( -name '*.py' -o -type d \) -print)
ifneq ($(MPY_SRC),)
ifneq ($(filter %.tar.gz %.tgz,$(MPY_SRC)),)
MPY_KEY := $(patsubst %.tar.gz,%,$(patsubst %.tgz,%,$(notdir $(MPY_SRC))))
MPY_TREE := $(BUILD_DIR)/src/$(MPY_KEY)
MPY_TREE_DEP := $(MPY_TREE)/.extracted
else
MPY_KEY := $(notdir $(abspath $(MPY_SRC)))
MPY_TREE := $(abspath $(MPY_SRC))
MPY_TREE_DEP := $(MPY_TREE)/py/mpconfig.h
endif
MPY_CROSS := $(MPY_TREE)/mpy-cross/build/mpy-cross
MP32 := $(BUILD_DIR)/$(MPY_KEY)/unix32/micropython
MP32F := $(BUILD_DIR)/$(MPY_KEY)/unix32-frozen/micropython
MP32_BUILDS := $(MP32) $(MP32F)
export MICROPYTHON_32 := $(MP32)
export MICROPYTHON_32_FROZEN := $(MP32F)
endif

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The Scan to Pay page's browser tests (tests/browser): Debian's chromium + chromium-driver (apt,
# when missing and running as root, as CI does) and axe-core from npm; without them they skip.
browser-deps:
	@tests/browser/setup.sh

# `long`-marked tests (kill-point sweep, soak: minutes) run only in test-long; `make test` runs
# their bounded versions (seconds).
# The suite waits far more than it computes (firmware intervals, sockets, boards booting): one
# process keeps a 2-core machine under half busy. TEST_WORKERS processes (pytest-xdist) share
# it, a whole file each (`loadfile`: a module's shared rig or station is built once, its tests
# run in order). TEST_WORKERS=0: one process, as before.
TEST_WORKERS ?= 2
test: setup browser-deps $(MP32_BUILDS) mpy-info
	$(BIN)/python -m pytest -m "not long" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-long: setup $(MP32_BUILDS) mpy-info
	$(BIN)/python -m pytest -m long -s $(PYTEST_ARGS)

mpy-info:
ifeq ($(MPY_SRC),)
	@echo "32-bit MicroPython passes skipped: no MPY_SRC. To run them: make $(MAKECMDGOALS) MPY_SRC=/path/to/micropython-1.28.0-src.tar.gz (or a v1.28 source tree); needs gcc-multilib"
else
	@echo "32-bit MicroPython: $(MP32) and $(MP32F) (from $(MPY_SRC))"
endif

mpy-unix32: $(MP32)
mpy-unix32-frozen: $(MP32F)

ifneq ($(MPY_SRC),)
$(MPY_TREE)/.extracted: $(MPY_SRC)
	rm -rf $(MPY_TREE) && mkdir -p $(MPY_TREE)
	tar xzf $(MPY_SRC) -C $(MPY_TREE) --strip-components=1
	touch $@

# the port's make needs the tree's mpy-cross to freeze its own modules (asyncio, ...)
$(MPY_CROSS): $(MPY_TREE_DEP)
	$(MAKE) -C $(MPY_TREE)/mpy-cross -j2 >$(BUILD_DIR)/$(MPY_KEY)-mpy-cross.log 2>&1 \
		|| (tail -30 $(BUILD_DIR)/$(MPY_KEY)-mpy-cross.log; false)
	touch $@

MULTILIB_CHECK := printf 'int main(void){return 0;}' | $(CC) -m32 -x c - -o /dev/null 2>/dev/null \
	|| (echo "the 32-bit build needs gcc-multilib: sudo apt-get install gcc-multilib"; false)

# The port's own make decides what to recompile; touch, so that ours is satisfied next time.
$(MP32): $(MPY_CROSS)
	@$(MULTILIB_CHECK)
	mkdir -p $(@D)
	$(MAKE) -C $(MPY_TREE)/ports/unix -j2 $(MPY_FLAGS) BUILD=$(@D) >$(@D).log 2>&1 \
		|| (tail -30 $(@D).log; rm -rf $(@D); false)
	touch $@

$(MP32F): $(MPY_CROSS) $(FIRMWARE_SRC)
	@$(MULTILIB_CHECK)
	mkdir -p $(@D)
	$(MAKE) -C $(MPY_TREE)/ports/unix -j2 $(MPY_FLAGS) BUILD=$(@D) \
		FROZEN_MANIFEST=$(abspath firmware/manifest.py) >$(@D).log 2>&1 || (tail -30 $(@D).log; rm -rf $(@D); false)
	touch $@
else
mpy-unix32 mpy-unix32-frozen: mpy-info
	@false
endif

demo: setup
	$(BIN)/chargerctl demo

bench: setup $(MP32_BUILDS) mpy-info
	$(BIN)/python -m bench.run

# only the memory benchmark (three builds: 64-bit .mpy, 32-bit .mpy, 32-bit frozen)
bench-memory: setup $(MP32_BUILDS) mpy-info
	$(BIN)/python -m bench.run --only memory

# the compact schemas the firmware checks incoming payloads with, derived from the official OCPP
# 1.6 schemas in the installed `ocpp` package (firmware/evse/ocpp/schemas/: generated, never edited)
schemas: setup
	$(BIN)/python -m host_tools.ocpp_schemas

lint: setup
	$(BIN)/ruff check --exclude tests/firmware host_tools tests bench
	$(BIN)/ruff check --config firmware/ruff.toml firmware tests/firmware

# make flash PORT=/dev/ttyUSB0 BOARD=olimex-esp32-evb CONFIG=config.json
flash: setup
	$(BIN)/chargerctl flash --port $(PORT) --board $(BOARD) --config $(CONFIG)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .build
