"""The display's QR code and public code, end to end: the firmware draws the screen in the
MicroPython unix port, the host turns the framebuffer into a PNG, and real tools read it back:
`zxing-cpp` decodes the QR code, `segno` (a well-kept QR library) gives the reference matrix,
and tests/display_text.py reads the code and the words back from the PNG (a slashed zero
checked against a drawing of one)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import segno
import zxingcpp
from PIL import Image

from host_tools.display_png import framebuffer_to_png
from host_tools.micropython import micropython_binary, micropython_path
from tests.display_text import (
    OH,
    PANEL_X,
    SCAN_Y,
    STATE_Y,
    ZERO,
    art_columns,
    code_cells,
    find_code,
    png_pixels,
    read_code,
    read_line,
)

SCALE = 4

_RENDER = """
import json, binascii
from evse.hal.display import ConsoleScreen
with open("args.json") as f:
    args = json.load(f)
d = ConsoleScreen()
d.show(args["code"], args["url"], args["states"], args.get("banner"))
x, y, widths, gap, sy = d.code_box
print("@@" + json.dumps({"data": binascii.hexlify(d.buf).decode(),
                         "code_box": [x, y, list(widths), gap, sy]}))
"""

_MATRIX = """
import json
from evse.hal import qr
with open("args.json") as f:
    jobs = json.load(f)
for t, v, m in jobs:
    q = qr.encode(t, v, m)
    print("@@" + json.dumps([q.version, q.mask, ["".join(str(b) for b in r) for r in q.rows()]]))
"""


def run_mp(code: str, arg, cwd) -> list:
    (cwd / "args.json").write_text(json.dumps(arg))
    env = dict(os.environ, MICROPYPATH=micropython_path())
    proc = subprocess.run([micropython_binary(), "-c", code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [json.loads(line[2:]) for line in proc.stdout.splitlines() if line.startswith("@@")]


def render(tmp_path, code, url, states=((1, "Available"), (2, "Charging")), banner=None):
    out = run_mp(_RENDER, {"code": code, "url": url, "states": list(states), "banner": banner}, tmp_path)[0]
    png = framebuffer_to_png(128, 64, bytes.fromhex(out["data"]), tmp_path / "display.png", scale=SCALE)
    return png, out


def url_of_length(n: int) -> str:
    return ("https://pay.example.com/p/ABC123/" + "0123456789" * 10)[:n]


@pytest.mark.parametrize("length", [16, 35, 50, 64, 84, 100])
def test_qr_in_png_decodes_to_the_public_url(tmp_path, length):
    url = url_of_length(length)
    assert len(url) == length
    png, _ = render(tmp_path, "ABC123", url, banner="OFFLINE")
    found = zxingcpp.read_barcodes(Image.open(png))
    assert [r.text for r in found] == [url]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode


def test_default_public_url_screen(tmp_path):
    url = "https://app.plugchoice.com/p/ABC123"
    png, _ = render(tmp_path, "ABC123", url)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(png))] == [url]
    assert Image.open(png).size == (128 * SCALE, 64 * SCALE)


# The longest URL the screen shows with the default public_url (a 10-character code), and one
# of the local backend.
LONGEST = "https://app.plugchoice.com/p/ABCDE12345"
LOCAL = "http://127.0.0.1:8180/p/ABC123"


@pytest.mark.parametrize(("code", "url"), [("ABCDE12345", LONGEST), ("ABC123", LOCAL)])
def test_screen_png_decodes_and_reads_as_laid_out(tmp_path, code, url):
    """One screen as a driver sees it: the QR code decodes to the exact URL, the code reads
    back on one line, "Scan to pay" beside the QR code, the states in words."""
    png, out = render(tmp_path, code, url, states=((1, "Preparing"), (2, "Finishing")), banner="offline")
    found = zxingcpp.read_barcodes(Image.open(png))
    assert [r.text for r in found] == [url]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    pixel = png_pixels(png, SCALE)
    x0, y0, widths, gap, sy = out["code_box"]
    assert (x0, y0, sy) == (PANEL_X, 0, 2)
    assert read_code(pixel, x0, widths, gap, len(code)) == code
    assert find_code(pixel) == code
    assert read_line(pixel, PANEL_X, SCAN_Y) == "Scan to pay"
    assert read_line(pixel, PANEL_X, STATE_Y) == "1 Ready"
    assert read_line(pixel, PANEL_X, STATE_Y + 9) == "2 Unplug"


def test_zero_and_o_differ_in_the_png(tmp_path):
    png, out = render(tmp_path, "O0D", "http://127.0.0.1:8180/p/O0D")
    x0, _, widths, gap, _ = out["code_box"]
    assert widths == [2] * 5, "a short code is drawn at 2x"
    oh, zero, _ = code_cells(png_pixels(png, SCALE), x0, widths, gap, 3)
    assert oh == art_columns(OH)
    assert zero == art_columns(ZERO)


def segno_rows(text, version, mask):
    q = segno.make(text, error="M", mode="byte", version=version, mask=mask, boost_error=False, micro=False)
    return q, ["".join(str(b) for b in r) for r in q.matrix]


def test_matrix_equals_segno_for_every_version_and_mask(tmp_path):
    """Full symbols (data exactly fills the version) so no pad codewords are involved: segno 1.6.6
    writes a whole 0x00 byte after the terminator when the data already ends on a byte boundary
    (byte mode always does), where ISO/IEC 18004 7.4.10 adds padding bits only when it does not.
    Both decode; only full symbols can be compared bit for bit."""
    caps = [14, 26, 42, 62, 84, 106, 122, 152, 180]
    cases = [("https://app.plugchoice.com/p/" + "Q" * 200)[:c] for c in caps]
    jobs = [(t, v + 1, m) for v, t in enumerate(cases) for m in range(8)]
    got = run_mp(_MATRIX, jobs, tmp_path)
    assert len(got) == len(jobs)
    for (t, v, m), (gv, gm, rows) in zip(jobs, got, strict=True):
        _, ref = segno_rows(t, v, m)
        assert (gv, gm) == (v, m)
        assert rows == ref, f"version {v} mask {m} differs from segno"


def test_mask_choice_equals_segno(tmp_path):
    caps = [14, 26, 42, 62, 84, 106, 122, 152, 180]
    texts = [("https://example.com/pay?code=" + "7" * 200)[:c] for c in caps]
    got = run_mp(_MATRIX, [(t, None, None) for t in texts], tmp_path)
    for t, (v, m, rows) in zip(texts, got, strict=True):
        q, ref = segno_rows(t, None, None)
        assert (v, m) == (q.version, q.mask), t
        assert rows == ref


def test_public_url_matrix_agrees_with_segno_outside_the_pad(tmp_path):
    """For the real public URL: same version, and with the same mask the function patterns and
    format information are identical; both symbols decode to the same text."""
    url = "https://app.plugchoice.com/p/ABC123"
    (v, m, rows), = run_mp(_MATRIX, [(url, None, None)], tmp_path)
    q, ref = segno_rows(url, v, m)
    assert v == q.version == 3
    size = len(rows)
    for y in range(size):
        for x in range(size):
            in_finder = (x < 9 and y < 9) or (x >= size - 8 and y < 9) or (x < 9 and y >= size - 8)
            if in_finder or x == 6 or y == 6:
                assert rows[y][x] == ref[y][x], (x, y)
    img = Image.new("L", ((size + 8) * 4, (size + 8) * 4), 255)
    for y in range(size):
        for x in range(size):
            if rows[y][x] == "1":
                img.paste(0, ((x + 4) * 4, (y + 4) * 4, (x + 5) * 4, (y + 5) * 4))
    assert [r.text for r in zxingcpp.read_barcodes(img)] == [url]
