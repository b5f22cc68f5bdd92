# The status screen: large public code, QR of the public URL, connector states, banners; the
# console display prints one line per change; the SSD1306 driver's bytes on the I2C bus.
import framebuf
from evse.hal.display import ConsoleScreen, Screen
from evse.hal.ssd1306 import SSD1306, OledScreen


def glyph_pixels(ch):
    """framebuf's own 8x8 font: the reference the large type is checked against."""
    buf = bytearray(8)
    fb = framebuf.FrameBuffer(buf, 8, 8, framebuf.MONO_HLSB)
    fb.text(ch, 0, 0, 1)
    return [[fb.pixel(x, y) for x in range(8)] for y in range(8)]


def check_code_pixels(d, code):
    x0, y0, sx, sy, per = d.code_box
    for i, ch in enumerate(code):
        gx = x0 + (i % per) * 8 * sx
        gy = y0 + (i // per) * (8 * sy + 1)
        ref = glyph_pixels(ch)
        for y in range(8):
            for x in range(8):
                for dy in range(sy):
                    for dx in range(sx):
                        assert d.fb.pixel(gx + x * sx + dx, gy + y * sy + dy) == ref[y][x], ch


def test_public_code_in_large_type_is_the_font_scaled():
    d = ConsoleScreen()
    d.show("ABC123", "https://app.plugchoice.com/p/ABC123", [(1, "Available")])
    assert d.code_box[2:4] == (2, 2)
    check_code_pixels(d, "ABC123")


def test_ten_character_code_is_drawn_tall_beside_the_qr():
    d = ConsoleScreen()
    d.show("ABCDE12345", "https://app.plugchoice.com/p/ABCDE12345", [(1, "Available"), (2, "Charging")])
    x0, y0, sx, sy, per = d.code_box
    assert (sx, sy) == (1, 2) and per * 8 <= 128 - x0 and (10 + per - 1) // per == 2
    check_code_pixels(d, "ABCDE12345")


def test_qr_area_is_a_light_square_with_dark_modules():
    d = ConsoleScreen()
    d.show("ABC123", "https://app.plugchoice.com/p/ABC123", [])
    # Quiet zone corner lit (light), the finder pattern's corner dark.
    assert d.fb.pixel(0, 0) == 1
    size = 29
    scale = 64 // (size + 2)
    off = (64 - size * scale) // 2
    assert d.fb.pixel(off, off) == 0
    assert d.fb.pixel(off + scale, off + scale) == 1  # the finder's light ring


def test_show_redraws_only_on_change_and_logs_one_line():
    import evse.log

    lines = []
    real = evse.log.log
    evse.log.log = lambda *a: lines.append(a)
    try:
        d = ConsoleScreen()
        assert d.show("ABC", "", [(1, "Available"), (2, "Charging")]) is True
        assert d.show("ABC", "", [(1, "Available"), (2, "Charging")]) is False
        assert d.show("ABC", "", [[1, "Available"], [2, "Charging"]]) is False  # JSON lists too
        assert d.show("ABC", "", [(1, "Faulted"), (2, "Charging")], "RELAY WELDED") is True
    finally:
        evse.log.log = real
    assert len(lines) == 2
    assert lines[0][0] == "display" and "1:Available,2:Charging" in lines[0]
    assert "RELAY WELDED" in lines[1]


def test_banner_is_drawn_inverted_at_the_bottom():
    d = ConsoleScreen()
    d.show("ABC", "", [], "OFFLINE")
    assert d.fb.pixel(0, 63) == 1  # banner background lit
    assert d.fb.pixel(127, 54) == 1


def test_config_error_screen_without_code_or_qr_wraps_the_banner():
    d = ConsoleScreen()
    d.show("", "", [], "config csms_url: must be a ws:// or wss:// URL")
    lit = sum(d.buf)
    assert lit > 0
    assert d.fb.pixel(0, 63) == 1


def test_long_code_and_big_qr_still_fit():
    d = ConsoleScreen()
    d.show("ABCDEFGHIJ", "https://example.com/" + "x" * 80, [(1, "SuspendedEVSE"), (2, "Reserved")], "OFFLINE")
    x0, y0, sx, sy, per = d.code_box
    assert x0 >= 45 and per * 8 * sx <= 128 - x0


class I2C:
    def __init__(self):
        self.writes = []

    def writeto(self, addr, buf):
        self.writes.append((addr, bytes(buf)))

    def writevto(self, addr, bufs):
        self.writes.append((addr, b"".join(bytes(b) for b in bufs)))


def test_ssd1306_init_and_show_bytes():
    bus = I2C()
    oled = SSD1306(bus, 0x3C)
    cmds = [w[1] for w in bus.writes]
    assert all(c[0] == 0x80 and len(c) == 2 for c in cmds)
    seq = [c[1] for c in cmds]
    assert seq[0] == 0xAE and seq[-1] == 0xAF  # display off first, on last
    assert 0x8D in seq and seq[seq.index(0x8D) + 1] == 0x14  # charge pump on
    bus.writes.clear()
    s = OledScreen(oled)
    s.show("AB", "", [(1, "Charging")])
    data = bus.writes[-1]
    assert data[0] == 0x3C and data[1][0] == 0x40 and len(data[1]) == 1 + 1024
    assert any(data[1][1:])


def test_screen_is_format_agnostic():
    # The same drawing code on the SSD1306's page format (MONO_VLSB) and on HLSB.
    vbuf = bytearray(1024)
    v = Screen(framebuf.FrameBuffer(vbuf, 128, 64, framebuf.MONO_VLSB))
    h = ConsoleScreen()
    for s in (v, h):
        s.show("XY12", "http://a.b/XY12", [(1, "Available")], "OFFLINE")
    for y in range(64):
        for x in range(128):
            assert v.fb.pixel(x, y) == h.fb.pixel(x, y)


def test_url_too_long_for_a_qr_code_still_shows_the_code():
    d = ConsoleScreen()
    assert d.show("ABC", "https://x.example/" + "p" * 300, [(1, "Available")]) is True
    assert d.code_box[0] == 0  # no QR square, the text takes the width
    assert d.fb.pixel(0, 0) == 0


def test_i2c_error_on_show_is_logged_not_raised():
    bus = I2C()
    s = OledScreen(SSD1306(bus))

    def broken(addr, bufs):
        raise OSError(19)  # ENODEV: display unplugged

    bus.writevto = broken
    assert s.show("AB", "", []) is True
    bus.writevto = lambda addr, bufs: bus.writes.append((addr, b"".join(bytes(b) for b in bufs)))
    assert s.show("AB", "", []) is True  # redrawn once the bus works again


def test_qr_module_is_dropped_even_when_encoding_fails():
    import sys

    import evse.hal
    from evse.hal.display import qr_bitmap
    from mptest import raises

    raises(ValueError, qr_bitmap, "x" * 500)
    assert "evse.hal.qr" not in sys.modules and not hasattr(evse.hal, "qr")
