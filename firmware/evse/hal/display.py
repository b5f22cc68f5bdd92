# The charger's screen: the public code on one line in large type, a QR code of the public URL
# with "Scan to pay" beside it, each connector's state in a driver's words and an offline/fault
# banner. Drawing goes through `framebuf` so the same code feeds an SSD1306 on the board and
# the console display of the unix port.
#
# Layout on 128x64: the QR code (a version-3 symbol at 2 px a module) in a 64 px light square
# with its quiet zone on the left, the text beside it from x = 66 (lettering.py: the code,
# "Scan to pay", a line per connector), and at the bottom the banner, inverted, in framebuf's
# 8x8 font, which has every character an error message may hold.
import gc

import framebuf
from evse import drop

DEFAULT_PUBLIC_URL = "https://app.plugchoice.com/p/{public_code}"

_BANNER = const(10)  # a banner line: the 8x8 font with a lit row above and below


def public_url(cfg):
    """The "Scan to Pay" URL: config `public_url` (default Plugchoice's) with {public_code}."""
    code = str(cfg.get("public_code", "")).upper()
    return (cfg.get("public_url") or DEFAULT_PUBLIC_URL).replace("{public_code}", code)


def qr_bitmap(url):
    """Encode `url` and return (size, MONO_HLSB bytearray of size x size, 1 = dark module).

    The encoder is imported for this call only and dropped afterwards: its code would
    otherwise stay in the heap for nothing between public-code changes."""
    try:
        from evse.hal import qr
        return qr.bitmap(url)
    finally:
        # also after a MemoryError half-way through the import
        drop("evse.hal.qr")
        gc.collect()


class Screen:
    """Lays out the status screen on any `framebuf.FrameBuffer` of width x height."""

    def __init__(self, fb, width=128, height=64):
        self.fb = fb
        self.width = width
        self.height = height
        self._last = None
        # Where the public code went: (x, y, column widths, gap, row height); the tests read
        # the glyphs back from there.
        self.code_box = None
        self._qr_url = None
        self._qr = None

    def prime(self, url):
        """Encode the QR code now, while the heap is still empty (board.build calls this at
        boot); show() then reuses the bitmap as long as the URL stays the same."""
        try:
            self._qr = qr_bitmap(url)
            self._qr_url = url
        except (ValueError, MemoryError):
            self._qr_url = self._qr = None  # show() tries again and reports it

    def show(self, public_code, url, states, banner=None):
        """Redraw if anything changed; returns True when it did."""
        key = (public_code, url, tuple(tuple(s) for s in states), banner)
        if key == self._last:
            return False
        self._last = key
        fb = self.fb
        fb.fill(0)
        x0 = 0
        if url:
            try:
                x0 = self._draw_qr(url) + 2
            except (ValueError, MemoryError) as e:
                # Too long for the encoder, or no room to run it: the code alone still works.
                from evse.log import log
                log("display", "qr_error", e)
                self._qr_url = self._qr = None
        room = self.width - x0
        per = max(1, room // 8)  # banner characters a line
        bottom = self.height
        if banner:
            bottom -= _BANNER * ((len(banner) + per - 1) // per)
        self.code_box = None
        lettered = True
        lettering = None
        try:
            from evse.hal import lettering  # per redraw: see lettering.py
            y = lettering.draw(self, public_code, x0, room, states, bottom)
        except MemoryError as e:
            # No heap to load it now: the QR code still works; the next call draws the text.
            from evse.log import log
            log("display", "text_error", e)
            lettered = False
            y = 0
        finally:
            del lettering  # with sys.modules' entry, its last reference: collected right here
            drop("evse.hal.lettering")
            gc.collect()
        if banner:
            y = max(y, bottom)
            for i in range(0, len(banner), per):
                if y + 8 > self.height:
                    break
                fb.fill_rect(x0, y, room, _BANNER, 1)
                fb.text(banner if len(banner) <= per else banner[i:i + per], x0 + 1, y + 1, 0)
                y += _BANNER
        self.flush()
        if not lettered:
            self._last = None
        return True

    def _draw_qr(self, url):
        if url != self._qr_url:
            self._qr = None
            self._qr = qr_bitmap(url)
            self._qr_url = url
        size, buf = self._qr
        h = self.height
        scale = h // (size + 2)  # leave at least one module of quiet zone on each side
        if scale < 1:
            scale = 1
        box = h
        qsize = size * scale
        off = (box - qsize) // 2
        fb = self.fb
        # Light background with dark modules: the way scanners expect a QR code.
        fb.fill_rect(0, 0, box, box, 1)
        src = framebuf.FrameBuffer(buf, size, size, framebuf.MONO_HLSB)
        for yy in range(size):
            for xx in range(size):
                if src.pixel(xx, yy):
                    fb.fill_rect(off + xx * scale, off + yy * scale, scale, scale, 0)
        return box

    def flush(self):
        pass


class ConsoleScreen(Screen):
    """The unix port's display: the same drawing into a MONO_HLSB framebuffer (the sim control
    server hands it out), and one console line whenever the content changes."""

    def __init__(self, width=128, height=64):
        self.buf = bytearray(width * height // 8)
        Screen.__init__(self, framebuf.FrameBuffer(self.buf, width, height, framebuf.MONO_HLSB),
                        width, height)

    def flush(self):
        from evse.log import log
        code, url, states, banner = self._last
        log("display", "code", code, "url", url,
            "states", ",".join("%s:%s" % (s[0], s[1]) for s in states) or "-", "banner", banner or "-")
