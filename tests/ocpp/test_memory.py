"""Memory: a whole session (boot, remote start, samples, remote stop) with the firmware as .mpy
in a small MicroPython heap, as on an ESP32 without PSRAM.

`EVSE_MEM_SAMPLES=60` runs the full 60-sample session (one minute); the default keeps the suite
fast. `python -m tests.ocpp.test_memory HEAP [SAMPLES [BUILD]]` runs one session at a given heap size
on a build (unix64, unix32, unix32-frozen: tests/builds.py) and prints the memory lines, to find
the smallest heap that works.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest

from tests import builds
from tests.ocpp.conftest import Station, build_lib, frame_problems
from tests.ocpp.test_core_profile import start_charging

SAMPLES = int(os.environ.get("EVSE_MEM_SAMPLES", "5"))
# Measured (unix port, 64-bit, .mpy without line numbers as flash.build_image deploys it): the
# smallest heap that ran the 60-sample session was 104k at commit 3143d1e (120k before the rare
# OCPP parts, start-up code, the WebSocket handshake and the sim control commands became
# load-per-use modules). Since the console probe task (de59f2d) and the display work (c22ab3e)
# this session needs 116k (112k fails at the sim's plug command), hence 120k here; the field
# session of `make bench-memory` (with Change/GetConfiguration and TriggerMessage) needs 128k.
# The heap after start ("app started mem_alloc") is ~87 KB on 64-bit. Frozen into a 32-bit
# image the code leaves the heap: see BUILDS below and firmware/README.md.
# Since the OCPP layout of issue 10 (one module per operation, feature state in classes of its
# own, RemoteStartTransaction loaded per use) "app started" is ~91.0 KB (~88.2 KB at facea91)
# and 120k fails at the first connect, where the qstr pool has to grow: hence 124k. The extra
# modules and classes cost heap on a 64-bit .mpy build. Since the mem branch (relative source
# names as build_image gives them, private constants as const(), the per-use names interned
# right after start-up, a collection after the boot modules are dropped, gc.threshold(2048))
# 112k passes and 108k fails: 116k keeps a 4k margin. Issue 12 (schema check, relay safety,
# UTF-8 rules: ~4 KB of resident code on 64-bit) put 116k at its edge (it passes alone, fails
# under load at the first sample): 124k. The 32-bit limits below are the ones an ESP32 answers to.
# Issue 13's heap savings (firmware/README.md, "Issue 13"): the 60-sample session passes 112k
# (108k and 110k fail), so 116k.
HEAP = os.environ.get("EVSE_MEM_HEAP", "116k")


async def session(station: Station, samples: int) -> dict:
    await station.start()
    await station.booted()
    srv = station.server
    tid = await start_charging(station)
    await srv.wait_msg("MeterValues", n=samples, transaction_id=tid, timeout=samples + 10)
    assert await station.remote_stop(tid) == "Accepted"
    stop = await srv.wait_msg("StopTransaction")
    await srv.wait_status(1, "Finishing")
    started = station.fw.log_matches(r"app started .*mem_alloc=(\d+) mem_free=(\d+)")[0]
    return {"stop": stop, "code_bytes": int(started.group(1)), "exits": list(station.fw.exits)}


# build -> (heap, most heap the code may take at "app started"). Measured with 60 samples and
# the rare operations by `make bench-memory` (bench/memory.py; figures in firmware/README.md);
# the 5-sample session here keeps a margin. The frozen build's low code figure also proves
# that the frozen copy of evse runs (MICROPYPATH holds no lib/evse).
# Measured on the mem branch (5 samples, gc.threshold(2048) for the whole run): unix32 passes
# 76k (72k fails), frozen 32k (28k fails).
# Since the schema check of issue 12 (evse/ocpp/schema.py, resident: every CALL goes through it,
# and RemoteStopTransaction's schema with it) "app started" is ~2.6 KB higher on 64-bit (90.1 ->
# 92.7 KB) and ~2.0 KB on 32-bit (61.4 -> 63.4 KB); unix32 now needs 80k (76k fails at the first
# connect), frozen still passes 32k. Hence 92 KB for unix64's code here; the heaps are unchanged.
# Issue 12 as a whole (schema check 1.6 KB resident on 32-bit, answers of our own CALLs checked
# too, relay safety ~1.0 KB, per-key ranges -0.2 KB): the session's smallest heap on unix32 went
# from 76k to 80k (78k fails), passing there only just, so the limit is 84k: ~4 KB of margin, still
# inside the 112 KB an ESP32 without PSRAM reaches with its second heap region
# (../shared/reference/micropython-and-esp32.md); frozen still passes 32k. "app started" also
# jumped because start-up now interns 632 names, more than the first five qstr pools hold: the
# sixth (640 entries, ~4.5 KB on 32-bit, ~7 KB on 64-bit), which intern() used to allocate right
# after start-up, now comes before the figure is taken; the session's total does not change by
# it. Measured: unix64 100.6-101.5 KB, unix32 68.8 KB, frozen 23.1 KB.
# The Reservation profile (issue 13, its state resident in authorization.py, the rest per use and
# not interned): "app started" unix64 100.6 -> 101.1 KB, unix32 68.8 -> 69.1 KB, frozen 23.06 ->
# 23.09 KB; smallest heap unix32 80k (78k fails), frozen 32k (30k fails). unix64 passed 116k under
# pytest with less than 256 bytes to spare before it (118528 bytes failed) and needs ~119296 since.
# LocalAuthListManagement (issue 13; the list and the cache in flash, read a line at a time by
# localauth.py, loaded per use and once at start-up to intern its names; the resident cache dict
# gone): "app started" (build_image's .mpy) unix64 102272 -> 102944, unix32 70064 -> 70464 bytes;
# smallest heap unix32 81k -> 82k (81k fails), frozen 32k (30k fails), "app started" 23248.
# The charging limit's way to the hardware (issue 13: Port.offer, the outlet's rating and pilot,
# Current.Offered/Power.Offered, the state machine's no-offer fact): "app started" unix32
# 70064 -> 70656 bytes, frozen 23216 -> 23312; smallest heap unchanged (unix32 82k, 80k fails;
# frozen 32k, 30k fails).
# The SmartCharging profile (issue 13: one resident number, the rest per use and not interned):
# "app started" unix64 102304 -> 103168 B, unix32 70064 -> 70800 B, frozen 23216 -> 23248 B (5
# samples); smallest heap unchanged, unix32 82k (80k fails), frozen 32k (30k fails).
# Issue 13's heap savings, to make room for the SmartCharging and LocalAuthList profiles (the
# table in firmware/README.md, "Issue 13"; 60 samples): an .mpy's source name is its dotted
# module name (one qstr less per module); the .mpy files are found at lib/ as on a board (the
# pytest temporary folder charged each module's path ~33 bytes more); only what every session
# needs is interned at start-up (`use` rows), the rest at first use (`rare`), in ChargePoint()
# before the app's tasks; BootNotification, the handshake's helpers and TLS, the board's
# assembly and the bad-config halt are per use. Smallest heap: unix32 .mpy 82k -> 76k (75k fails
# at a connector's first start), frozen 32k -> 30k (28k fails), unix64 ~119k -> 112k. "app
# started" now comes after intern(), so it holds the sixth qstr pool (4.5 KB on 32-bit) again:
# unix32 67.6 KB, frozen 23.2 KB, unix64 99.4 KB. Limits: ~4 KB over the smallest passing heap.
# All of issue 13 merged (Reservation, SmartCharging, LocalAuthListManagement, the offer, the
# savings; 60 samples, python -m): unix32 .mpy passes 78k (76k fails), "app started" 69296 B;
# frozen passes 30k, 23344 B; unix64 fails 112k, passes 116k, 101472 B. The 80k limit is the
# issue's goal, with ~2 KB over the smallest passing heap.
BUILDS = {"unix64": (HEAP, 104 * 1024), "unix32": ("80k", 72 * 1024),
          "unix32-frozen": ("34k", 26 * 1024)}


@pytest.mark.parametrize("build", list(BUILDS))
async def test_full_session_fits_small_heap(tmp_path, tmp_path_factory, firmware_lib, build):
    """Issue 3: "A full session (boot, remote start, 60 samples, remote stop) runs with .mpy
    files under micropython -X heapsize=..." - no MemoryError, no restart, every frame valid.
    Issue 10: the same on the 32-bit port (.mpy) and with evse frozen into it."""
    binary = builds.binary(build)
    if binary is None:
        pytest.skip(builds.SKIP_REASON)
    heap, code_limit = BUILDS[build]
    flash = tmp_path / "flash"
    flash.mkdir()
    if builds.frozen(build):
        lib = tmp_path_factory.mktemp("empty-lib")
    else:
        (flash / "lib").symlink_to(firmware_lib)
        lib = Path(BOARD_LIB)
    st = Station(flash, lib, binary)
    st.fw.heap = heap
    try:
        res = await session(st, SAMPLES)
    finally:
        await st.close()
    assert res["exits"] == [], "\n".join(st.fw.lines[-30:])
    assert not [line for line in st.fw.lines if "MemoryError" in line or "crash" in line]
    assert frame_problems(st.server.frames) == []
    assert res["code_bytes"] < code_limit, res["code_bytes"]


# Where the .mpy files are found, relative to the flash folder (the firmware's working
# directory), as a board finds them in /lib: the path of each .mpy it imports is a qstr in the
# heap, never freed, so a long temporary folder here (/tmp/pytest-of-.../mpy-lib0) would charge
# the session ~2 KB that no board pays. "lib/evse/..." is one byte shorter than "/lib/evse/...".
BOARD_LIB = "lib"



async def _main(heap: str, samples: int, build: str = "unix64") -> int:
    with tempfile.TemporaryDirectory() as d:
        flash = Path(d) / "flash"
        lib = flash / BOARD_LIB
        lib.mkdir(parents=True)
        if not builds.frozen(build):
            build_lib(lib)
        st = Station(flash, Path(BOARD_LIB), builds.binary(build))
        st.fw.heap = heap
        try:
            res = await session(st, samples)
            ok = not res["exits"] and not any("MemoryError" in x for x in st.fw.lines)
        except AssertionError as e:
            print("FAILED:", str(e)[:300])
            ok, res = False, {}
        finally:
            await st.close()
        for line in st.fw.lines:
            if re.search(r"app started|mem |MemoryError|crash", line):
                print(line)
        print(f"build={build} heap={heap} samples={samples} ok={ok} code_bytes={res.get('code_bytes')}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10,
                               sys.argv[3] if len(sys.argv) > 3 else "unix64")))
