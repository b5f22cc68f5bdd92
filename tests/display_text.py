"""Read the charger's screen back from a PNG (or any pixel source): the public code's glyphs and
the lines of words, through the firmware's own font table in firmware/evse/hal/lettering.py, so a
host test can say "the PNG shows `1 Available`" instead of only "the PNG is not blank".

The layout it reads (lettering.py's header comment): the QR code in the 64 px square on the left,
the text from x = PANEL_X: the code at y 0..13, "Scan to pay" at SCAN_Y, connector lines from
STATE_Y, 9 px apart."""

from __future__ import annotations

import ast
from collections.abc import Callable
from functools import cache
from pathlib import Path

from PIL import Image

LETTERING_PY = Path(__file__).resolve().parent.parent / "firmware" / "evse" / "hal" / "lettering.py"
PANEL_X = 66
SCAN_Y = 17
STATE_Y = 27
LINE = 9
CODE_SY = 2  # the code's rows are 2 px tall

# What a driver must see, independent of the firmware's font: a slashed zero, a round O.
ZERO = (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###.")
OH = (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###.")

Pixel = Callable[[int, int], int]


@cache
def font() -> dict[str, tuple[int, ...]]:
    """character -> its 5 column bytes (bit n = row n), parsed from lettering.py's _FONT."""
    values = {}
    for node in ast.parse(LETTERING_PY.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("_FONT", "_PUNCT"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + values["_PUNCT"].decode()
    data = values["_FONT"]
    assert len(data) == 5 * len(chars), "lettering.py's _FONT and its character order disagree"
    return {ch: tuple(data[i * 5:i * 5 + 5]) for i, ch in enumerate(chars)}


def _trimmed(cols: tuple[int, ...]) -> tuple[int, ...]:
    cols = list(cols)
    while cols and not cols[0]:
        cols.pop(0)
    while cols and not cols[-1]:
        cols.pop()
    return tuple(cols)


def art_columns(rows: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sum(1 << r for r in range(len(rows)) if rows[r][c] == "#") for c in range(5))


def png_pixels(path: str | Path, scale: int) -> Pixel:
    """pixel(x, y) of the 128x64 screen from a PNG made by host_tools.display_png (lit = 1),
    sampled at the centre of each enlarged pixel."""
    img = Image.open(path).convert("L")
    return lambda x, y: int(img.getpixel((x * scale + scale // 2, y * scale + scale // 2)) > 127)


def read_line(pixel: Pixel, x0: int, y: int, x1: int = 128) -> str:
    """The words drawn at (x0, y): a glyph is a run of lit columns, 1 blank column between
    glyphs, 3 or more a space."""
    table = {_trimmed(cols): ch for ch, cols in font().items() if ch != " "}
    out: list[str] = []
    run: list[int] = []
    blanks = 0
    for x in range(x0, x1 + 1):
        col = sum(pixel(x, y + r) << r for r in range(8)) if x < x1 else 0
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


def code_cells(pixel: Pixel, x0: int, widths: list[int], gap: int, n: int) -> list[tuple[int, ...]]:
    """The public code's n glyphs as their 5 column bytes, each column `widths[c]` px wide and
    each row CODE_SY px tall (sampled at the block's first pixel)."""
    w = sum(widths)
    cells = []
    for i in range(n):
        x = x0 + i * (w + gap)
        cols = []
        for c in range(5):
            cols.append(sum(pixel(x, r * CODE_SY) << r for r in range(8)))
            x += widths[c]
        cells.append(tuple(cols))
    return cells


def read_code(pixel: Pixel, x0: int, widths: list[int], gap: int, n: int) -> str:
    table = {cols: ch for ch, cols in font().items()}
    return "".join(table.get(c, "?") for c in code_cells(pixel, x0, widths, gap, n))


def find_code(pixel: Pixel, x0: int = PANEL_X, width: int = 128) -> str:
    """The public code beside the QR code without knowing its size: tries each column-width
    pattern lettering.py uses and the gaps it picks from, and returns the first reading that
    gives letters and digits only, or ""."""
    for widths in ([2] * 5, [2, 1, 2, 1, 2], [1] * 5):
        for gap in (2, 1):
            w = sum(widths) + gap
            n = (width - x0 + gap) // w
            while n and not any(pixel(x0 + (n - 1) * w + dx, r * CODE_SY)
                                for dx in range(w - gap) for r in range(7)):
                n -= 1
            text = read_code(pixel, x0, widths, gap, n)
            if n and text.isalnum() and text.isascii():
                return text
    return ""
