"""Turn the charger display's framebuffer into a PNG.

The virtual board's sim control server answers `{"cmd": "display"}` with the 128x64 MONO_HLSB
framebuffer as hex; `framebuffer_to_png` draws it as the OLED shows it (lit pixels white on
black), scaled up so a phone or `zxing-cpp` can read the QR code from the file.

    python -m host_tools.display_png --port 7700 display.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image


def framebuffer_to_png(width: int, height: int, data: bytes, path: str | Path, scale: int = 4) -> Path:
    """MONO_HLSB (rows of bytes, most significant bit leftmost; 1 = lit) -> PNG at `path`."""
    stride = (width + 7) // 8
    if len(data) < stride * height:
        raise ValueError(f"framebuffer too short: {len(data)} bytes for {width}x{height} MONO_HLSB "
                         f"(need {stride * height})")
    img = Image.new("L", (width, height), 0)
    px = img.load()
    for y in range(height):
        row = data[y * stride:(y + 1) * stride]
        for x in range(width):
            if row[x >> 3] & (0x80 >> (x & 7)):
                px[x, y] = 255
    if scale != 1:
        img = img.resize((width * scale, height * scale), Image.NEAREST)
    path = Path(path)
    img.save(path)
    return path


def fetch_display(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> tuple[int, int, bytes]:
    """Ask a virtual board's sim control server for its framebuffer."""
    from host_tools.sim_client import SimClient

    with SimClient(port, host=host, timeout=timeout) as sim:
        return sim.display()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Save a virtual board's display as a PNG.")
    ap.add_argument("--port", type=int, required=True, help="sim control port of the virtual board")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("out", help="PNG file to write")
    args = ap.parse_args(argv)
    w, h, data = fetch_display(args.port, args.host)
    print(framebuffer_to_png(w, h, data, args.out, args.scale))


if __name__ == "__main__":
    main()
