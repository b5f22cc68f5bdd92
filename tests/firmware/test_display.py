# The status screen: the public code on one line with a zero unlike an O, the QR of the public
# URL with "Scan to pay", each connector's state in a driver's words, banners, read back from
# the framebuffer; the console display prints one line per change; the SSD1306 driver's bytes
# on the I2C bus.
import framebuf
from evse.hal.display import ConsoleScreen, Screen
from evse.hal.ssd1306 import SSD1306, OledScreen


# What a driver must see, independent of the firmware's font: a slashed zero and a round O,
# 5 columns x 7 rows ("#" lit).
ZERO = ".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."
OH = ".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."

# Each OCPP status and what the screen says for it (lettering.py explains the choice).
WORDS = (("Available", "Available"), ("Preparing", "Ready"), ("Charging", "Charging"),
         ("SuspendedEV", "Paused"), ("SuspendedEVSE", "Paused"), ("Finishing", "Unplug"),
         ("Reserved", "Reserved"), ("Unavailable", "Closed"), ("Faulted", "Fault"))

URL10 = "https://app.plugchoice.com/p/ABCDE12345"  # the longest URL of the default public_url
SCAN_Y = 17  # "Scan to pay", under the 14 px tall code
STATE_Y = 27  # the first connector's line; the next ones 9 px apart
PANEL_X = 66  # the text beside a 64 px QR code, 2 px apart


def font_chars():
    from evse.hal import lettering

    return "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + lettering._PUNCT.decode()


def glyph_columns(ch, trim):
    from evse.hal import lettering

    i = font_chars().index(ch) * 5
    cols = list(lettering._FONT[i:i + 5])
    while trim and cols and not cols[0]:
        cols.pop(0)
    while trim and cols and not cols[-1]:
        cols.pop()
    return tuple(cols)


def reader(trim=True):
    return {glyph_columns(ch, trim): ch for ch in font_chars() if ch != " "}


def read_line(fb, x0, y, x1=128):
    """The words at (x0, y), read back through the firmware's font: a glyph is a run of lit
    columns, glyphs are 1 blank column apart, 3 or more blank columns are a space."""
    table = reader()
    out, run, blanks = [], [], 0
    for x in range(x0, x1 + 1):
        col = 0
        if x < x1:
            for r in range(8):
                if fb.pixel(x, y + r):
                    col |= 1 << r
        if col:
            if not run and out and blanks >= 3:
                out.append(" ")
            run.append(col)
            blanks = 0
        else:
            if run:
                out.append(table.get(tuple(run), "?"))
                run = []
            blanks += 1
    return "".join(out)


def code_cells(d):
    """The public code's glyphs as drawn: per character, its 5 columns (bit n = row n), each
    read from a block of widths[c] x sy pixels that must be all lit or all dark."""
    x, y, widths, gap, sy = d.code_box
    w = sum(widths)
    cells = []
    while x + w <= d.width:
        cols, cx = [], x
        for c in range(5):
            col = 0
            for r in range(8):
                block = [d.fb.pixel(cx + dx, y + r * sy + dy) for dx in range(widths[c]) for dy in range(sy)]
                assert min(block) == max(block), ("a scaled pixel is split", cx, r)
                col |= block[0] << r
            cols.append(col)
            cx += widths[c]
        if not any(cols):
            break
        cells.append(tuple(cols))
        x += w + gap
    return cells


def art_columns(rows):
    return tuple(sum(1 << r for r in range(7) if rows[r][c] == "#") for c in range(5))


def lit_rows(d, x0, y0, y1):
    return [y for y in range(y0, y1) if any(d.fb.pixel(x, y) for x in range(x0, d.width))]


def test_public_code_on_one_line_with_a_zero_unlike_an_o():
    d = ConsoleScreen()
    d.show("O0O0D", "http://127.0.0.1:8180/p/O0O0D", [(1, "Available")])
    x0, y0, widths, gap, sy = d.code_box
    assert x0 == PANEL_X and bytes(widths) == b"\x02" * 5 and sy == 2, "five characters at 2x"
    cells = code_cells(d)
    table = reader(trim=False)
    assert "".join(table.get(c, "?") for c in cells) == "O0O0D"
    assert cells[1] == art_columns(ZERO) and cells[0] == art_columns(OH)
    assert cells[0] != cells[1]
    assert lit_rows(d, x0, 0, SCAN_Y) == list(range(14)), "one line, 14 px tall"


def test_code_of_every_length_fits_one_line_beside_the_qr():
    d = ConsoleScreen()
    expect = {1: 10, 5: 10, 6: 8, 7: 8, 8: 5, 10: 5}  # glyph width for a code of n characters
    for n in range(1, 11):
        code = "ABCDE12345O0ZM"[:n]
        d.show(code, URL10, [(1, "Charging")])
        x0, y0, widths, gap, sy = d.code_box
        assert x0 >= 64 and y0 == 0 and gap >= 1
        assert x0 + n * (sum(widths) + gap) - gap <= 128, code
        assert expect.get(n, sum(widths)) == sum(widths), (n, sum(widths))
        assert "".join(reader(trim=False).get(c, "?") for c in code_cells(d)) == code
        assert lit_rows(d, x0, 0, SCAN_Y) == list(range(14)), code
    assert read_line(d.fb, PANEL_X, STATE_Y) == "1 Charging"


def test_each_state_in_a_drivers_words():
    d = ConsoleScreen()
    for status, word in WORDS:
        d.show("DEMO42", URL10, [(1, status), (2, status)])
        for i in range(2):
            line = read_line(d.fb, PANEL_X, STATE_Y + 9 * i)
            assert line == "%d %s" % (i + 1, word), (status, line)
        # nothing cut off at the right edge
        assert not any(d.fb.pixel(127, y) for y in range(STATE_Y, STATE_Y + 18)), status
    # a status the table lacks is still shown as it is
    d.show("DEMO42", URL10, [(1, "Rebooting")])
    assert read_line(d.fb, PANEL_X, STATE_Y) == "1 Rebooting"


def test_scan_to_pay_beside_the_qr_code_only():
    d = ConsoleScreen()
    d.show("DEMO42", URL10, [(1, "Available"), (2, "Charging")], "offline")
    assert read_line(d.fb, PANEL_X, SCAN_Y) == "Scan to pay"
    assert read_line(d.fb, PANEL_X, STATE_Y + 9) == "2 Charging"
    assert d.fb.pixel(PANEL_X, 63) == 1 and d.fb.pixel(127, 54) == 1  # the banner below
    d.show("DEMO42", "", [(1, "Available")])  # no QR code: nothing to scan
    assert d.code_box[0] == 0
    assert read_line(d.fb, 0, SCAN_Y) == "1 Available"


def test_font_glyphs_are_unique_and_have_no_gaps_inside():
    # The proportional spacing (and read_line) take a blank column for the end of a glyph.
    seen = {}
    for ch in font_chars():
        cols = glyph_columns(ch, True)
        if ch == " ":
            assert cols == ()
            continue
        assert all(cols), ch
        assert cols not in seen, (ch, seen.get(cols))
        seen[cols] = ch


def test_a_redraw_leaves_nothing_behind_in_the_heap():
    """The lettering (font, words, the text's layout) is loaded per redraw and dropped: after a
    show() the heap holds what it held before (the new change key replaces the old one)."""
    import gc
    import sys

    v = Screen(framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB))
    v.prime(URL10)
    states = [[1, "Available"], [2, "Charging"]]
    v.show("ABC123", URL10, states, "offline")
    for code in ("DEMO42", "ABCDE12345", "O0O0D"):
        states[1][1] = "SuspendedEVSE" if states[1][1] == "Charging" else "Charging"
        gc.collect()
        before = gc.mem_alloc()
        assert v.show(code, URL10, states) is True
        gc.collect()
        assert gc.mem_alloc() - before <= 0, "a redraw keeps nothing but the new key"
        assert "evse.hal.lettering" not in sys.modules


def test_no_heap_for_the_lettering_keeps_the_qr_code_and_retries():
    import sys

    import evse.log
    from evse.hal import lettering

    def no_heap(*a):
        raise MemoryError("memory allocation failed, allocating 640 bytes")

    lines = []
    real = evse.log.log
    evse.log.log = lambda *a: lines.append(a)
    lettering.draw = no_heap  # the module is in sys.modules: show() imports this one
    try:
        d = ConsoleScreen()
        assert d.show("DEMO42", URL10, [(1, "Available")]) is True
    finally:
        evse.log.log = real
    assert "evse.hal.lettering" not in sys.modules
    assert any(a[:2] == ("display", "text_error") for a in lines), lines
    assert d.code_box is None and d.fb.pixel(0, 0) == 1  # the QR code's square is there
    # The same content again: drawn this time (the failed redraw was not taken as done).
    assert d.show("DEMO42", URL10, [(1, "Available")]) is True
    assert read_line(d.fb, PANEL_X, STATE_Y) == "1 Available"


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
    x0, y0, widths, gap, sy = d.code_box
    assert x0 >= 45 and 10 * (sum(widths) + gap) - gap <= 128 - x0
    assert "".join(reader(trim=False).get(c, "?") for c in code_cells(d)) == "ABCDEFGHIJ"
    assert read_line(d.fb, x0, STATE_Y) == "1 Paused"


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
