# The plugin's own proof: these run inside MicroPython, not CPython.
import sys


def test_runs_inside_micropython():
    assert sys.implementation.name == "micropython"


def test_firmware_package_is_importable():
    import evse

    assert evse.__name__ == "evse"


_ran = []  # what the async test below got to do, checked by the test after it


async def test_async_tests_run_in_asyncio():
    import asyncio

    other = []

    async def task():
        other.append("task ran")

    asyncio.create_task(task())
    await asyncio.sleep_ms(1)
    # Another task ran while this one waited: a real event loop, not a bare send(None).
    assert other == ["task ran"]
    _ran.append("to the end")


def test_async_test_was_awaited_to_its_end():
    # The runner calls the test functions in file order, in one process: a coroutine it only
    # created (and never ran) would leave `_ran` empty while its test "passed".
    assert _ran == ["to the end"]


def test_allocates_48k():
    # tests/test_mp_plugin.py runs this with a 16k heap and expects MemoryError.
    block = bytearray(48 * 1024)
    assert len(block) == 48 * 1024
