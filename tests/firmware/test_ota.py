# evse.hal.ota: an ESP32 image streamed into the next OTA partition in 4096-byte blocks, read
# back and checked before set_boot(). The partition is simulated (the interface of MicroPython's
# esp32.Partition: ioctl 4/5, writeblocks(n, buf) erasing a whole block, readblocks, set_boot);
# nothing of this ran on an ESP32 (firmware/README.md, "Updates").
import hashlib
import sys
from binascii import hexlify

from evse.hal import ota
from mptest import raises

BLOCK = 4096


class Partition:
    def __init__(self, blocks=8, flip=None):
        self.flash = bytearray(b"\xff" * (blocks * BLOCK))
        self.blocks = blocks
        self.flip = flip  # a byte offset written wrong (worn flash)
        self.booted = False
        self.writes = []

    def ioctl(self, op, arg):
        return {4: self.blocks, 5: BLOCK}.get(op)

    def writeblocks(self, n, buf):
        assert len(buf) == BLOCK and 0 <= n < self.blocks
        self.writes.append(n)
        self.flash[n * BLOCK:(n + 1) * BLOCK] = buf
        if self.flip is not None and n * BLOCK <= self.flip < (n + 1) * BLOCK:
            self.flash[self.flip] ^= 1

    def readblocks(self, n, buf):
        buf[:] = self.flash[n * BLOCK:(n + 1) * BLOCK]

    def set_boot(self):
        self.booted = True


def image(n):
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


def sha(b):
    return str(hexlify(hashlib.sha256(b).digest()), "ascii")


def write(data, part, chunk, size=None, digest=None):
    w = ota.ImageWriter(len(data) if size is None else size, digest or sha(data), part)
    for i in range(0, len(data), chunk):
        w.feed(data[i:i + chunk])
    w.finish()


def test_an_image_in_chunks_of_any_size_is_written_block_by_block_and_booted():
    for n, chunk in ((BLOCK * 3, 4096), (BLOCK * 3 + 5, 1000), (10, 1), (BLOCK * 2 - 1, 4097)):
        data = image(n)
        part = Partition()
        write(data, part, chunk)
        assert part.booted, (n, chunk)
        assert part.flash[:n] == data
        assert part.flash[n:] == b"\xff" * (len(part.flash) - n)  # the last block padded as erased
        assert part.writes == list(range((n + BLOCK - 1) // BLOCK))


def test_flash_that_reads_back_wrong_is_never_booted():
    data = image(BLOCK * 2 + 100)
    part = Partition(flip=BLOCK + 17)
    e = raises(ota.ImageError, write, data, part, 512)
    assert e.args[0] == "bad image sha256" and not part.booted


def test_refused_images():
    data = image(5000)
    assert raises(ota.ImageError, write, data, Partition(), 4096, digest="0" * 64).args[0] == "bad image sha256"
    assert raises(ota.ImageError, write, data, Partition(), 4096, size=6000).args[0] == "truncated"
    assert raises(ota.ImageError, write, data, Partition(), 4096, size=4000).args[0] == "longer than its size"
    assert raises(ota.ImageError, ota.ImageWriter, 9 * BLOCK, "0" * 64, Partition()).args[0] == "image too large"
    assert raises(ota.ImageError, ota.ImageWriter, 0, "0" * 64, Partition()).args[0] == "image too large"
    assert raises(ota.ImageError, ota.ImageWriter, 10, "abc", Partition()).args[0] == "bad sha256"


class FakeEsp32:
    # Stands in for the esp32 module: what ota uses of it, and a record of the calls.
    calls = []

    class Partition:
        RUNNING = 0

        def __init__(self, which):
            FakeEsp32.calls.append(("Partition", which))

        def get_next_update(self):
            FakeEsp32.calls.append(("get_next_update",))
            return Partition()

        @staticmethod
        def mark_app_valid_cancel_rollback():
            FakeEsp32.calls.append(("valid",))


def test_the_default_target_is_the_next_update_partition_and_keep_cancels_the_rollback():
    sys.modules["esp32"] = FakeEsp32
    try:
        w = ota.ImageWriter(10, sha(image(10)))
        w.feed(image(10))
        w.finish()
        ota.keep()
        assert FakeEsp32.calls == [("Partition", 0), ("get_next_update",), ("valid",)], FakeEsp32.calls
    finally:
        del sys.modules["esp32"]


def test_install_keeps_an_image_update_with_the_bootloader():
    from evse import install
    from flashdir import done, flash
    d = flash("ota")
    sys.modules["esp32"] = FakeEsp32
    FakeEsp32.calls = []
    try:
        install.switch("0.3.0", image=True)  # the image written, set_boot() done: same code path
        b = install.status()
        assert b["run"] == "lib" and b["prev"] == "lib" and b["image"] is True and b["state"] == "trial"
        install.keep()
        assert FakeEsp32.calls == [("valid",)]
        assert install.status()["state"] == "kept"
        install.keep()  # kept already: nothing more
        assert FakeEsp32.calls == [("valid",)]
    finally:
        del sys.modules["esp32"]
        done(d)
