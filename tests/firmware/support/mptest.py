# Test support that runs inside MicroPython: the runner the pytest plugin drives, skips, and a
# fake clock. The host side (tests/mp_plugin.py) parses the markers this prints.
import sys

_MARK = "@@MPTEST"


class SkipTest(Exception):
    pass


def skip(reason):
    raise SkipTest(reason)


def requires_unix():
    """Skip on a real board: the test needs the unix port (files, sockets, processes)."""
    if sys.platform != "linux":
        raise SkipTest("needs the unix port")


def requires_board():
    if sys.platform == "linux":
        raise SkipTest("needs real hardware")


class FakeClock:
    """Milliseconds that only move when a test says so (time is injected, never slept)."""

    def __init__(self, ms=0, epoch=1767225600):
        self.ms = ms
        self.epoch = epoch  # unix seconds at ms == 0 (2026-01-01T00:00:00Z)

    def ticks_ms(self):
        return self.ms

    def time(self):
        return self.epoch + self.ms // 1000

    def advance(self, s=0, ms=0):
        self.ms += int(s * 1000) + ms


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %r" % (exc.__name__, fn))


def _run_one(fn):
    result = fn()
    if result is not None and type(result).__name__ == "generator":
        import asyncio

        asyncio.run(result)


def main(module_name, names):
    mod = __import__(module_name)
    for name in names:
        print(_MARK, "BEGIN", name)
        status, detail = "PASS", ""
        try:
            _run_one(getattr(mod, name))
        except SkipTest as e:
            status, detail = "SKIP", str(e)
        except BaseException as e:  # noqa: B036 - a failing test must be reported, whatever it raised
            status = "FAIL"
            sys.print_exception(e, sys.stdout)
        print(_MARK, "END", name, status, detail)
    print(_MARK, "DONE")
