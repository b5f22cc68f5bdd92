# evse.bundle (an "evse-bundle 1" written into an update slot as it arrives, in chunks of any
# size) and evse.install (the slots, app/boot.json, switch, keep, rollback). The bundles here are
# built in MicroPython with the format of host_tools/bundle.py; tests/host/test_bundle.py checks
# that the host's builder and the board's stager agree on real bundles.
import gc
import hashlib
import os
from binascii import hexlify

from evse import install
from evse.bundle import BundleError, Stager
from flashdir import done, flash
from mptest import raises

FILES = [("main.py", b"import sys\n"), ("lib/evse/__init__.mpy", b"M\x06" + bytes(range(256)) * 3),
         ("lib/evse/ocpp/operations/Reset.mpy", b"x" * 5000), ("lib/evse/empty.mpy", b"")]


def sha(b):
    return str(hexlify(hashlib.sha256(b).digest()), "ascii")


def bundle(files=FILES, version="0.2.0", count=None, total=None):
    out = bytearray(b"evse-bundle 1 " + version.encode() + b"\n")
    for path, data in files:
        out += b"%s %d %s\n" % (path.encode(), len(data), sha(data).encode())
        out += data
    out += b"end %d %s\n" % (len(files) if count is None else count, (total or sha(out)).encode())
    return bytes(out)


def stage(data, chunk=4096, slot="app/a"):
    s = Stager(slot)
    mv = memoryview(data)
    for i in range(0, len(data), chunk):
        s.feed(mv[i:i + chunk])
    return s, s.finish()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def refused(data, reason, chunk=4096):
    """The bundle is refused with this reason, and abort() leaves no file in the slot."""
    d = flash("install")
    slot = install.stage_dir()
    s = Stager(slot)
    def run():
        for i in range(0, len(data), chunk):
            s.feed(data[i:i + chunk])
        s.finish()

    try:
        e = raises(BundleError, run)
        assert reason in e.args[0], (reason, e.args)
        assert isinstance(e, ValueError) and len(e.args[0]) <= 40
        s.abort()
        assert "a" not in os.listdir("app")
    finally:
        done(d)


def test_a_good_bundle_is_written_into_the_slot_with_lib_as_its_root():
    d = flash("install")
    try:
        slot = install.stage_dir()
        assert slot == "app/a"
        _, version = stage(bundle(), slot=slot)
        assert version == "0.2.0"
        assert read("app/a/main.py") == FILES[0][1]
        assert read("app/a/evse/__init__.mpy") == FILES[1][1]
        assert read("app/a/evse/ocpp/operations/Reset.mpy") == FILES[2][1]
        assert read("app/a/evse/empty.mpy") == b""
        assert "lib" not in os.listdir("app/a")
    finally:
        done(d)


def test_chunks_of_every_size_from_1_to_4096_bytes():
    data = bundle()
    d = flash("install")
    try:
        for chunk in (1, 2, 3, 7, 64, 199, 200, 201, 1000, 4095, 4096):
            _, version = stage(data, chunk, install.stage_dir())
            assert version == "0.2.0", chunk
            assert read("app/a/evse/ocpp/operations/Reset.mpy") == FILES[2][1], chunk
        s = Stager(install.stage_dir())  # bytes, bytearray and memoryview alike
        s.feed(data[:100])
        s.feed(bytearray(data[100:3000]))
        s.feed(memoryview(data)[3000:])
        assert s.finish() == "0.2.0"
    finally:
        done(d)


def test_a_file_whose_bytes_do_not_match_its_sha256():
    data = bytearray(bundle())
    data[data.find(b"xxxx") + 10] = ord("y")
    refused(bytes(data), "bad file sha256")
    refused(bytes(data), "bad file sha256", chunk=1)


def test_a_bundle_whose_total_sha256_does_not_match():
    refused(bundle(total="0" * 64), "bad bundle sha256")
    # a file line changed (and its file's own hash still right) only the total catches
    files = [(p.replace("Reset", "Reser"), d) for p, d in FILES]
    good = bundle()
    cut = good.rfind(b"end ")
    forged = bundle(files)[:cut] + good[cut:]
    refused(forged, "bad bundle sha256")


def test_a_truncated_bundle():
    data = bundle()
    for n in (0, 5, 30, 100, 500, len(data) - 70, len(data) - 1):
        refused(data[:n], "truncated")


def test_bytes_after_the_end():
    refused(bundle() + b"x", "bytes after the end")
    refused(bundle() + bundle(), "bytes after the end", chunk=1)


def test_a_bad_header():
    for head in (b"evse-bundle 2 0.2.0\n", b"evse-bundle 1\n", b"evse-bundle 1 \n", b"zip\n",
                 b"evse-bundle 1 0.2.0 extra\n", b"evse-bundle 1 " + b"1" * 51 + b"\n", b"evse-bundle\t1 0.2.0\n", b"\xff\xfe 1 0.2.0\n"):
        refused(head + bundle()[bundle().find(b"\n") + 1:], "", chunk=3)
    refused(b"evse-bundle 1 " + b"9" * 300 + b"\n", "line too long")


def test_bad_file_lines_and_paths():
    for path in ("../x.py", "/main.py", "lib/../../boot.json", "lib//x", "./x", "lib\\x", "lib/evse/."):
        refused(bundle([(path, b"abc")]), "bad path")
    body = b"evse-bundle 1 0.2.0\n"
    refused(body + b"main.py -3 " + sha(b"").encode() + b"\n", "bad size")
    refused(body + b"main.py 3x " + sha(b"").encode() + b"\n", "bad size")
    refused(body + b"main.py 99999999 " + sha(b"").encode() + b"\n", "bad size")
    refused(body + b"main.py 3 abc\n", "bad file line")
    refused(body + b"main.py 3\n", "bad file line")
    refused(body + b"main py 3 " + sha(b"").encode() + b"\n", "bad file line")  # a space
    refused(bundle(count=5), "bad file count")
    refused(bundle(count=-1), "bad file count")


def test_too_many_files_and_too_many_bytes():
    refused(bundle([("lib/evse/m%d.mpy" % i, b"") for i in range(201)]), "too many files")
    # refused at the file's line, before any of its bytes: 1 MB in all at most
    refused(b"evse-bundle 1 0.2.0\nlib/evse/a.mpy 1048577 " + sha(b"").encode() + b"\n", "too large")
    two = bundle([("lib/evse/a.mpy", b"\0" * 1000)])
    two = two[:two.rfind(b"end ")] + b"lib/evse/b.mpy 1047577 " + sha(b"").encode() + b"\n"
    refused(two, "too large")


def test_staging_takes_little_heap_and_keeps_none():
    # 120 files of 1 KB in 4 KB chunks: the stager's buffer, a hash per file, no copy of a chunk.
    files = [("lib/evse/m%d.mpy" % i, bytes([i]) * 1024) for i in range(120)]
    data = bundle(files)
    d = flash("install")
    try:
        slot = install.stage_dir()
        gc.collect()
        before = gc.mem_alloc()
        s = Stager(slot)
        mv = memoryview(data)
        peak = 0
        for i in range(0, len(data), 4096):
            s.feed(mv[i:i + 4096])
            peak = max(peak, gc.mem_alloc() - before)
        assert s.finish() == "0.2.0"
        del s
        gc.collect()
        assert gc.mem_alloc() - before < 256, gc.mem_alloc() - before
        print("staging heap: peak without a collection", peak)
    finally:
        done(d)


def test_stage_dir_empties_the_slot_that_does_not_run():
    d = flash("install")
    try:
        assert install.status() is None and install.running() == "lib"
        slot = install.stage_dir()
        stage(bundle(), slot=slot)
        with open(slot + "/stray.mpy", "w") as f:
            f.write("x")
        assert install.stage_dir() == "app/a"
        assert os.listdir("app/a") == []
        stage(bundle(), slot="app/a")
        install.switch("0.2.0")
        b = install.status()
        assert b == {"run": "app/a", "prev": "lib", "version": "0.2.0", "state": "trial", "boots": 0,
                     "failed": None, "image": False}, b
        raises(ValueError, install.stage_dir)  # a rollback needs the inactive slot while on trial
        install.keep()
        assert install.status()["state"] == "kept"
        slot = install.stage_dir()
        assert slot == "app/b"
        assert os.listdir("app/a") != []  # the running one is never touched
        raises(ValueError, install.switch, "0.3.0")  # nothing staged there
        stage(bundle(version="0.3.0"), slot=slot)
        install.switch("0.3.0")
        assert install.status()["run"] == "app/b" and install.status()["prev"] == "app/a"
    finally:
        done(d)


def test_rollback_records_the_failure_until_it_is_reported():
    d = flash("install")
    try:
        install.rollback("nothing on trial")  # no update: nothing happens
        assert install.status() is None
        stage(bundle(), slot=install.stage_dir())
        install.switch("0.2.0")
        install.rollback("no boot accepted")
        b = install.status()
        assert b["run"] == "lib" and b["state"] == "kept"
        assert b["failed"] == {"version": "0.2.0", "why": "no boot accepted"}, b
        install.reported()
        assert install.status()["failed"] is None
        assert install.stage_dir() == "app/a"
    finally:
        done(d)


def test_a_bad_boot_json_is_no_update():
    d = flash("install")
    try:
        os.mkdir("app")
        for text in ('{"run": "app/a"', '[]', '{"run": "/etc", "state": "trial"}',
                     '{"run": "app/a", "state": "maybe"}'):
            with open(install.BOOT, "w") as f:
                f.write(text)
            assert install.status() is None and install.running() == "lib", text
    finally:
        done(d)


def test_free_space_is_a_number_of_bytes():
    n = install.free_space()
    assert isinstance(n, int) and n > 0


def test_after_a_crash_the_guard_undoes_a_trial_or_a_kept_update_that_does_not_import():
    from evse import guard as loader
    d = flash("install")
    try:
        assert loader.undo(None, "ImportError()") is None  # no update: the factory code crashed
        stage(bundle(), slot=install.stage_dir())
        install.switch("0.2.0")
        assert loader.undo(object(), "RuntimeError('x')") == "0.2.0"  # on trial: any crash
        b = install.status()
        assert b["run"] == "lib" and b["failed"] == {"version": "0.2.0", "why": "RuntimeError('x')"}
        install.reported()
        stage(bundle(), slot=install.stage_dir())
        install.switch("0.2.0")
        install.keep()
        assert loader.undo(object(), "RuntimeError('y')") is None  # kept, the app ran: a crash only
        assert install.status()["run"] == "app/a"
        stage(bundle(version="0.3.0"), slot=install.stage_dir())  # app/b: the new one runs...
        install.switch("0.3.0")
        install.keep()
        assert install.status()["prev"] == "app/a"
        assert loader.undo(None, "ImportError('evse')") == "0.3.0"  # ...kept, then damaged
        b = install.status()
        assert b["run"] == "lib" and b["state"] == "kept" and b["failed"]["version"] == "0.3.0", b
    finally:
        done(d)


def test_the_loader_counts_boots_of_a_trial_and_ignores_a_bad_boot_json():
    import sys

    from evse import loader
    d = flash("install")
    path = list(sys.path)
    try:
        os.mkdir("app")
        for text in ('{"run": "app/a"', "[]", '{"run": "/etc", "state": "kept"}', "\xff"):
            with open(install.BOOT, "w") as f:
                f.write(text)
            loader.choose()  # never raises: the factory code runs
            assert sys.path == path, text
        stage(bundle(), slot=install.stage_dir())
        install.switch("0.2.0")
        for n in (1, 2, 3):
            loader.choose()
            assert sys.path[0] == "app/a" and install.status()["boots"] == n
            sys.path[:] = path
        loader.choose()  # the 4th boot of a trial: a crash loop
        assert sys.path == path
        b = install.status()
        assert b["run"] == "lib" and b["failed"]["why"] == "crash loop", b
    finally:
        sys.path[:] = path
        done(d)
