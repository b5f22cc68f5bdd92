# The plugin's own proof: these run inside MicroPython, not CPython.
import sys


def test_runs_inside_micropython():
    assert sys.implementation.name == "micropython"


def test_firmware_package_is_importable():
    import evse

    assert evse.__name__ == "evse"


async def test_async_tests_run_in_asyncio():
    import asyncio

    await asyncio.sleep_ms(1)
    assert True


def test_allocates_48k():
    # tests/test_mp_plugin.py runs this with a 16k heap and expects MemoryError.
    block = bytearray(48 * 1024)
    assert len(block) == 48 * 1024
