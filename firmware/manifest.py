# MicroPython manifest: the `evse` package frozen into the interpreter image, on top of the set
# the port freezes anyway (unix: the standard variant's asyncio, ssl, requests, mip; ESP32: the
# port's boards/manifest.py). Frozen bytecode runs from the image (flash on an ESP32), not from
# the heap. Every module under evse/ is frozen; main.py stays a file on the filesystem.
#   unix, 32-bit: make mpy-unix32-frozen MPY_SRC=...   (firmware/README.md, "Deploy modes")
#   ESP32: make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/abs/path/firmware/manifest.py
# include, package: provided by MicroPython's tools/makemanifest.py.
try:
    include("$(PORT_DIR)/variants/standard/manifest.py")  # noqa: F821 - the unix port
except Exception as unix:  # noqa: BLE001 - no unix variant here: the ESP32 port's default set
    try:
        include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821
    except Exception as esp32:  # noqa: BLE001
        raise RuntimeError(f"neither a unix nor an ESP32 port: {unix}; {esp32}") from esp32
package("evse", base_path=".")  # noqa: F821 - relative to this file: firmware/evse
