# The text on the charger's screen: the public code, "Scan to pay" and a line per connector in
# a 5x8 font of our own. display.Screen.show loads this module per redraw and drops it after: a
# redraw is rare (a state change, the link going up or down), so deployed as .mpy the font and
# this code take no heap between redraws (frozen into the image they stay in flash anyway).
#
# framebuf's own font is 8 px a character (7 fit beside the QR code, "Scan to pay" would need
# 88 px) and draws 0 and O nearly alike; ours is 6 px a character, proportional for words
# (i, l, t narrower), monospaced for the code, with a slashed zero. Layout beside the QR code
# (x0 = 66 on 128x64, 62 px wide; x0 = 0 without a QR code):
#   y  0..13  the public code on one line, rows 2 px tall, as wide as it fits (_CODE_WIDTHS)
#   y 17..24  "Scan to pay" (only beside a QR code)
#   y 27..    one line per connector, 9 px apart: "1 Available", "2 Charging"

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
# Column widths of the public code's glyphs, widest first: 2x (10 px); 8 px, where the outer
# and middle columns are doubled, so stems stay 2 px and only diagonals are thinner; 1x (5 px).
# The widest that puts the whole code on one line is used: 5 characters at 2x, 6 or 7 at 8 px,
# up to 10 at 1x beside the QR code; 10 at 2x without it.
_CODE_WIDTHS = const((b"\x02\x02\x02\x02\x02", b"\x02\x01\x02\x01\x02", b"\x01\x01\x01\x01\x01"))
_CODE_SY = const(2)  # the code's rows are 2 px tall: 14 px for capitals and digits


def draw(screen, public_code, x0, room, states, bottom):
    """The public code, "Scan to pay" when a QR code is left of x0, and each connector's state
    above `bottom`, into screen.fb from x0; sets screen.code_box (x, y, column widths, gap,
    row height) for the tests that read the code back. Returns the next free y."""
    fb = screen.fb
    y = 0
    if public_code:
        # One line, monospaced (a code reads in columns), in the widest of _CODE_WIDTHS that
        # fits, its glyphs 2 px apart, or 1 px if that makes it fit.
        n = len(public_code)
        for widths in _CODE_WIDTHS:
            w = sum(widths)
            gap = 2 if n * (w + 2) - 2 <= room else 1
            if n * (w + gap) - gap <= room:
                break
        screen.code_box = (x0, 0, widths, gap, _CODE_SY)
        text(fb, public_code, x0, 0, widths, _CODE_SY, gap)
        y = 7 * _CODE_SY + 3
    if x0:
        text(fb, "Scan to pay", x0, y)
        y += _LINE + 1
    for cid, status in states:
        if y + 8 > bottom:
            break
        x = text(fb, str(cid), x0, y)
        text(fb, _WORDS.get(status, status), x + _AFTER_ID, y)
        y += _LINE
    return y


def text(fb, s, x, y, widths=None, sy=1, gap=1):
    """`s` in our font from (x, y), `gap` px between glyphs; returns the x just after it.
    Column c of a glyph is widths[c] px wide and a row sy px tall; without `widths` the
    glyphs are proportional (blank side columns left out, a space _SPACE px) at 1x. A
    character the font lacks is drawn in framebuf's own."""
    for c in s.encode():  # bytes: iterating a str would intern each character as a qstr
        if 48 <= c <= 57:
            o = (c - 48) * 5
        elif 65 <= c <= 90:
            o = (c - 55) * 5
        elif 97 <= c <= 122:
            o = (c - 61) * 5
        else:
            o = 62 * 5
            for p in _PUNCT:  # (bytes.find(int) is missing before MicroPython 1.29)
                if p == c:
                    break
                o += 5
            else:
                fb.text(chr(c), x, y, 1)
                x += 8 + gap
                continue
        a = 0
        b = 4
        if not widths:
            while a < 5 and not _FONT[o + a]:
                a += 1
            if a == 5:
                x += _SPACE + gap
                continue
            while not _FONT[o + b]:
                b -= 1
        for i in range(a, b + 1):
            w = widths[i] if widths else 1
            bits = _FONT[o + i]
            yy = y
            while bits:
                if bits & 1:
                    fb.fill_rect(x, yy, w, sy, 1)
                bits >>= 1
                yy += sy
            x += w
        x += gap
    return x - gap
