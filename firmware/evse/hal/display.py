# The charger's screen: public code in large type, a QR code of the public URL, each
# connector's state and an offline/fault banner. Drawing goes through `framebuf` so the same
# code feeds an SSD1306 on the board and the console display of the unix port.
import gc

import framebuf
from evse import drop

DEFAULT_PUBLIC_URL = "https://app.plugchoice.com/p/{public_code}"

_SHORT = {
    "Available": "FREE", "Preparing": "PREP", "Charging": "CHRG", "SuspendedEV": "SUSEV",
    "SuspendedEVSE": "SUSP", "Finishing": "FIN", "Reserved": "RSVD", "Unavailable": "UNAV",
    "Faulted": "FAULT",
}


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
        self.code_box = None  # (x, y, x scale, y scale, chars per line) of the public code
        self._qr_url = None
        self._qr = None
        self._glyph = bytearray(8)
        self._glyph_fb = framebuf.FrameBuffer(self._glyph, 8, 8, framebuf.MONO_HLSB)

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
        y = 0
        if public_code:
            y = self._big_text(public_code, x0, room)
        for cid, status in states:
            if y + 8 > self.height:
                break
            fb.text(("%d %s" % (cid, _SHORT.get(status, status)))[: room // 8], x0, y, 1)
            y += 9
        if banner:
            per = max(1, room // 8)
            lines = [banner[i:i + per] for i in range(0, len(banner), per)]
            y = max(y, self.height - 10 * len(lines))
            for line in lines:
                if y + 8 > self.height:
                    break
                fb.fill_rect(x0, y, room, 10, 1)
                fb.text(line, x0 + 1, y + 1, 0)
                y += 10
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

    def _big_text(self, text, x0, room):
        """The code in the 8x8 font scaled 2x, wrapped in `room` pixels over at most two lines;
        a longer code is drawn 1x wide and 2x tall (8x16), which still fits ten characters
        beside the QR code. Returns the next free y."""
        sy = 2
        sx = 2
        per = room // 16
        if per < 1 or (len(text) + per - 1) // per > 2:
            sx, per = 1, max(1, room // 8)
        lines = (len(text) + per - 1) // per
        per = (len(text) + lines - 1) // lines  # balanced: "ABCDE" / "12345", not 7 + 3
        g, gfb, fb = self._glyph, self._glyph_fb, self.fb
        self.code_box = (x0, 0, sx, sy, per)
        y = 0
        for i in range(0, len(text), per):
            x = x0
            for ch in text[i:i + per]:
                gfb.fill(0)
                gfb.text(ch, 0, 0, 1)
                for row in range(8):
                    bits = g[row]
                    if not bits:
                        continue
                    for col in range(8):
                        if bits & (0x80 >> col):
                            fb.fill_rect(x + col * sx, y + row * sy, sx, sy, 1)
                x += 8 * sx
            y += 8 * sy + 1
        return y + 1

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
