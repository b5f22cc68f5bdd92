# ESP32 image updates: a whole MicroPython firmware image (.bin, e.g. with evse frozen in)
# written into the OTA partition that does not run, in 4096-byte blocks as it arrives, checked
# by reading it back, then made the one the bootloader starts next. ESP-IDF's bootloader boots
# it once "pending verify": unless the app marks it valid (keep(), from install.keep() once the
# trial passed), the next reset goes back to the old image. Loaded per use by the updater.
# Not run on hardware yet: tested against a simulated partition (tests/firmware/test_ota.py).
import hashlib
from binascii import hexlify

_BLOCK = const(4096)  # the partition's block size: writeblocks(n, buf) erases and writes one
_COUNT = const(4)  # ioctl: number of blocks
_SIZE = const(5)  # ioctl: block size


class ImageError(ValueError):
    # An image refused; the argument is a short reason.
    pass


class ImageWriter:
    """ImageWriter(size, sha256_hex) -> feed(chunk) ..., finish(): the image is the next boot.
    `partition`: the target (default: the OTA partition after the running one)."""

    def __init__(self, size, sha256_hex, partition=None):
        if partition is None:
            import esp32
            # Partition(id) takes a label or Partition.BOOT / RUNNING; the stub knows labels only
            running = esp32.Partition(esp32.Partition.RUNNING)  # pyright: ignore[reportArgumentType]
            partition = running.get_next_update()
        if partition.ioctl(_SIZE, 0) != _BLOCK:
            raise ImageError("block size")
        if not 0 < size <= partition.ioctl(_COUNT, 0) * _BLOCK:
            raise ImageError("image too large")
        if len(sha256_hex) != 64:
            raise ImageError("bad sha256")
        self.part = partition
        self.size = size
        self.want = sha256_hex.lower()
        self.buf = bytearray(_BLOCK)  # the one buffer: the block being filled, then read back
        self.n = 0  # bytes in it
        self.block = 0  # the next block to write
        self.got = 0

    def feed(self, chunk):
        mv = memoryview(chunk)
        if self.got + len(mv) > self.size:
            raise ImageError("longer than its size")
        self.got += len(mv)
        i = 0
        while i < len(mv):
            k = min(_BLOCK - self.n, len(mv) - i)
            self.buf[self.n:self.n + k] = mv[i:i + k]
            self.n += k
            i += k
            if self.n == _BLOCK:
                self._write()

    def finish(self):
        """Check what is on flash against the sha256, then boot it next (set_boot)."""
        if self.got != self.size:
            raise ImageError("truncated")
        if self.n:
            for i in range(self.n, _BLOCK):
                self.buf[i] = 0xFF  # erased flash
            self._write()
        h = hashlib.sha256()
        left = self.size
        for b in range(self.block):
            self.part.readblocks(b, self.buf)
            k = min(left, _BLOCK)
            h.update(memoryview(self.buf)[:k])
            left -= k
        if str(hexlify(h.digest()), "ascii") != self.want:
            raise ImageError("bad image sha256")
        self.part.set_boot()

    def _write(self):
        self.part.writeblocks(self.block, self.buf)
        self.block += 1
        self.n = 0


def keep():
    """The image that runs is good: cancel the bootloader's rollback."""
    import esp32
    esp32.Partition.mark_app_valid_cancel_rollback()
