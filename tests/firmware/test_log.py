# evse.log: the console line, and once the app keeps it, the bounded log on flash that a
# diagnostics upload sends (data/log.txt, rotated to data/log.1).
import os

import flashdir
from evse import log as L
from evse import ocpp

_BOUND = 16384


def _sizes():
    out = []
    for p in ("data/log.txt", "data/log.1"):
        try:
            out.append(os.stat(p)[6])
        except OSError:
            out.append(0)
    return out


def _lines(path):
    with open(path) as f:
        return [x.rstrip("\n") for x in f]


def test_nothing_goes_to_flash_before_keep():
    d = flashdir.flash("log")
    try:
        os.mkdir("data")
        L.log("test event", "k", 1)
        assert os.listdir("data") == []
    finally:
        flashdir.done(d)


def test_a_file_line_is_the_console_line_after_the_ocpp_time():
    d = flashdir.flash("log")
    try:
        os.mkdir("data")
        L.keep()
        L.log("relay", "connector", 1, "closed", 1)
        ocpp.clock_set = False  # an ESP32 before its first currentTime
        L.log("boot", "reason", "power")
        ocpp.clock_set = True
        a, b = _lines("data/log.txt")
        t = ocpp.parse_iso(a[:20])
        assert a[19:21] == "Z " and abs(t - ocpp.now()) <= 2, a
        assert a[21] == "[" and a.endswith("] relay connector=1 closed=1"), a
        assert b.startswith("- [") and b.endswith("] boot reason=power"), b
    finally:
        L._on[0] = 0
        ocpp.clock_set = True
        flashdir.done(d)


def test_the_log_never_holds_more_than_two_files_of_16_kb():
    # Far more than the bound, lines of every length, some of 3-byte UTF-8 characters and some
    # longer than a file line keeps: neither file ever passes 16 KB, and nothing else appears.
    d = flashdir.flash("log")
    try:
        os.mkdir("data")
        L.keep()
        written = 0
        rotations = 0
        last = _sizes()
        for i in range(700):
            text = ("x" * (i % 97)) if i % 5 else ("\u20ac" * (150 + i % 200))
            L.log("filler", "n", i, "text", text)
            written += 40 + len(text)
            s = _sizes()
            assert s[0] <= _BOUND and s[1] <= _BOUND, (i, s)
            if s[0] < last[0]:
                rotations += 1
            last = s
        assert sorted(os.listdir("data")) == ["log.1", "log.txt"]
        assert written > 4 * _BOUND and rotations >= 3, (written, rotations)
        # the newest line is the last of log.txt, log.1 ends where log.txt begins
        assert _lines("data/log.txt")[-1].endswith("filler n=699 text=" + "x" * (699 % 97))
        old, new = _lines("data/log.1"), _lines("data/log.txt")
        n_old = int(old[-1].split("n=")[1].split(" ")[0])
        n_new = int(new[0].split("n=")[1].split(" ")[0])
        assert n_new == n_old + 1
    finally:
        L._on[0] = 0
        flashdir.done(d)


def test_a_write_that_fails_never_breaks_log():
    d = flashdir.flash("log")
    try:
        L.keep()  # no data/ folder: every open fails
        L.log("still printed", "k", 2)
        assert "data" not in os.listdir()
    finally:
        L._on[0] = 0
        flashdir.done(d)
