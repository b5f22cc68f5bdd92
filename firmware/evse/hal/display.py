# The charger's screen: the public code on one line in large type, a QR code of the public URL
# with "Scan to pay" beside it, each connector's state in a driver's words and an offline/fault
# banner. Drawing goes through `framebuf` so the same code feeds an SSD1306 on the board and
# the console display of the unix port.
#
# Layout on 128x64 with the QR code (a version-3 symbol at 2 px a module, 64 px square with its
# quiet zone) on the left; the panel beside it is 62 px wide:
#   y  0..13  the public code, our font 2 px tall per row, one line, as wide as it fits
#   y 17..24  "Scan to pay"
#   y 27..    one line per connector: "1 Available", "2 Charging" (9 px apart)
#   y 54..63  the banner, inverted ("offline"); framebuf's 8x8 font, which has every character
# framebuf's own font is 8 px a character (7 per line here, "Scan to pay" would need 88 px) and
# draws 0 and O nearly alike, so the text is drawn in a 5x8 font of our own: 6 px a character,
# proportional (i, l, t narrower), with a slashed zero.
import gc

import framebuf
from evse import drop

DEFAULT_PUBLIC_URL = "https://app.plugchoice.com/p/{public_code}"

# A connector's state in the words a driver knows. Each has to fit after "1 " in the 62 px
# beside the QR code: 52 px, 9 letters of our font. "Ready": an EV is plugged in (or a start
# is authorised) and the session starts once paid and plugged; "Paused": the car or the
# charger holds the power back, which one does not matter to the driver; "Unplug": the session
# is over and the next one can only start once the cable is out; "Closed": taken out of
# service by the operator ("Unavailable" and "Out of order" do not fit); "Fault": out of
# order until a technician comes.
_WORDS = {
    "Available": "Available", "Preparing": "Ready", "Charging": "Charging",
    "SuspendedEV": "Paused", "SuspendedEVSE": "Paused", "Finishing": "Unplug",
    "Reserved": "Reserved", "Unavailable": "Closed", "Faulted": "Fault",
}

# The font: 5 columns of 8 rows a glyph, a column one byte (bit n = row n; capitals and digits
# use rows 0-6, row 7 holds descenders), in the order 0-9, A-Z, a-z, _PUNCT; blank columns at
# either side are trimmed when words are drawn (the public code keeps all five: monospaced).
# Every glyph is unique and has no blank column inside (tests/firmware/test_display.py).
_FONT = (
    b"\x3e\x51\x49\x45\x3e\x00\x42\x7f\x40\x00\x42\x61\x51\x49\x46\x21\x41\x45\x4b\x31"  # 0123
    b"\x18\x14\x12\x7f\x10\x27\x45\x45\x45\x39\x3c\x4a\x49\x49\x30\x01\x71\x09\x05\x03"  # 4567
    b"\x36\x49\x49\x49\x36\x06\x49\x49\x29\x1e\x7e\x09\x09\x09\x7e\x7f\x49\x49\x49\x36"  # 89AB
    b"\x3e\x41\x41\x41\x22\x7f\x41\x41\x22\x1c\x7f\x49\x49\x49\x41\x7f\x09\x09\x09\x01"  # CDEF
    b"\x3e\x41\x49\x49\x7a\x7f\x08\x08\x08\x7f\x00\x41\x7f\x41\x00\x20\x40\x41\x3f\x01"  # GHIJ
    b"\x7f\x08\x14\x22\x41\x7f\x40\x40\x40\x40\x7f\x02\x0c\x02\x7f\x7f\x04\x08\x10\x7f"  # KLMN
    b"\x3e\x41\x41\x41\x3e\x7f\x09\x09\x09\x06\x3e\x41\x51\x21\x5e\x7f\x09\x19\x29\x46"  # OPQR
    b"\x46\x49\x49\x49\x31\x01\x01\x7f\x01\x01\x3f\x40\x40\x40\x3f\x1f\x20\x40\x20\x1f"  # STUV
    b"\x3f\x40\x38\x40\x3f\x63\x14\x08\x14\x63\x03\x04\x78\x04\x03\x61\x51\x49\x45\x43"  # WXYZ
    b"\x20\x54\x54\x54\x78\x7f\x48\x44\x44\x38\x38\x44\x44\x44\x20\x38\x44\x44\x48\x7f"  # abcd
    b"\x38\x54\x54\x54\x18\x04\x7e\x05\x05\x00\x18\xa4\xa4\xa4\x7c\x7f\x08\x04\x04\x78"  # efgh
    b"\x00\x44\x7d\x40\x00\x00\x80\x84\x7d\x00\x7f\x10\x28\x44\x00\x00\x41\x7f\x40\x00"  # ijkl
    b"\x7c\x04\x78\x04\x78\x7c\x08\x04\x04\x78\x38\x44\x44\x44\x38\xfc\x24\x24\x24\x18"  # mnop
    b"\x18\x24\x24\x24\xfc\x7c\x08\x04\x04\x00\x48\x54\x54\x54\x24\x04\x3f\x44\x44\x00"  # qrst
    b"\x3c\x40\x40\x20\x7c\x1c\x20\x40\x20\x1c\x3c\x40\x30\x40\x3c\x44\x28\x10\x28\x44"  # uvwx
    b"\x1c\xa0\xa0\xa0\x7c\x44\x64\x54\x4c\x44\x00\x00\x00\x00\x00\x00\x00\x60\x00\x00"  # yz .
    b"\x00\x00\x36\x00\x00\x00\x08\x08\x08\x00\x60\x10\x08\x04\x03"  # :-/
)
_PUNCT = b" .:-/"  # after the digits, capitals and small letters
_SPACE = const(1)  # a space is a blank glyph 1 px wide: 3 px with the gaps either side
_AFTER_ID = const(5)  # connector id to word: after a digit, a 3 px space reads as none
_LINE = const(9)  # a line of words: 8 rows and one blank
_BANNER = const(10)  # a banner line: the 8x8 font with a lit row above and below
# Column widths of the public code's glyphs, widest first: 2x (10 px); 8 px, where the outer
# and middle columns are doubled, so stems stay 2 px and only diagonals are thinner; 1x (5 px).
# The widest that puts the whole code on one line is used: 5 characters at 2x, 6 or 7 at 8 px,
# up to 10 at 1x beside the QR code; 10 at 2x without it.
_ONE = b"\x01\x01\x01\x01\x01"
_CODE_WIDTHS = (b"\x02\x02\x02\x02\x02", b"\x02\x01\x02\x01\x02", _ONE)
_CODE_SY = const(2)  # the code's rows are 2 px tall: 14 px for capitals and digits


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


def glyph(c):
    """Offset of character code `c`'s five columns in _FONT, or -1 when the font lacks it."""
    if 48 <= c <= 57:
        return (c - 48) * 5
    if 65 <= c <= 90:
        return (c - 55) * 5
    if 97 <= c <= 122:
        return (c - 61) * 5
    o = 62 * 5
    for p in _PUNCT:  # (bytes.find(int) is missing before MicroPython 1.29)
        if p == c:
            return o
        o += 5
    return -1


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
        y = 0
        self.code_box = None
        if public_code:
            y = self._code(public_code, x0, room) + 3
        if x0:
            self.text("Scan to pay", x0, y)
            y += _LINE + 1
        for cid, status in states:
            if y + 8 > bottom:
                break
            x = self._number(cid, x0, y)
            self.text(_WORDS.get(status, status), x + _AFTER_ID, y)
            y += _LINE
        if banner:
            y = max(y, bottom)
            for i in range(0, len(banner), per):
                if y + 8 > self.height:
                    break
                fb.fill_rect(x0, y, room, _BANNER, 1)
                fb.text(banner if len(banner) <= per else banner[i:i + per], x0 + 1, y + 1, 0)
                y += _BANNER
        self.flush()
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

    def _code(self, code, x0, room):
        """The public code on one line, in the widest of _CODE_WIDTHS that fits `room`, 2 or
        1 px apart; monospaced, so a code reads in columns. Returns its height."""
        n = len(code)
        for widths in _CODE_WIDTHS:
            w = sum(widths)
            gap = 2 if n * (w + 2) - 2 <= room else 1
            if n * (w + gap) - gap <= room:
                break
        self.code_box = (x0, 0, widths, gap, _CODE_SY)
        self.text(code, x0, 0, widths, _CODE_SY, gap, True)
        return 7 * _CODE_SY

    def text(self, s, x, y, widths=_ONE, sy=1, gap=1, mono=False):
        """`s` in our font from (x, y), `gap` px between glyphs; returns the x just after it.
        A character the font lacks is drawn in framebuf's own."""
        for c in s.encode():  # bytes: iterating a str would intern each character as a qstr
            o = glyph(c)
            if o < 0:
                self.fb.text(chr(c), x, y, 1)
                x += 8 + gap
            else:
                x = self._glyph(o, x, y, widths, sy, mono) + gap
        return x - gap

    def _number(self, n, x, y):
        # A connector id in our digits, without building a string; returns the x after it.
        d = 1
        while d * 10 <= n:
            d *= 10
        while d:
            x = self._glyph(n // d % 10 * 5, x, y) + 1
            d //= 10
        return x - 1

    def _glyph(self, o, x, y, widths=_ONE, sy=1, mono=False):
        # The glyph at _FONT[o:o + 5] from (x, y), column c `widths[c]` px wide and each row
        # `sy` px tall. Unless `mono`, its blank side columns are left out and a space is
        # _SPACE px. Returns the x after it.
        a = 0
        b = 4
        if not mono:
            while a < 5 and not _FONT[o + a]:
                a += 1
            if a == 5:
                return x + _SPACE
            while not _FONT[o + b]:
                b -= 1
        fb = self.fb
        for c in range(a, b + 1):
            w = widths[c]
            bits = _FONT[o + c]
            yy = y
            while bits:
                if bits & 1:
                    fb.fill_rect(x, yy, w, sy, 1)
                bits >>= 1
                yy += sy
            x += w
        return x

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
