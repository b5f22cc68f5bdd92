# SSD1306 OLED over I2C (128x64 or 128x32): the small driver the ESP32 boards use, kept out of
# display.py so the unix port never loads it. The controller's page layout is MONO_VLSB.
import framebuf

from evse.hal.display import Screen


class SSD1306:
    """SSD1306 128x64 (or 128x32) over I2C, framebuffer in the controller's page format."""

    def __init__(self, i2c, addr=0x3C, width=128, height=64):
        self.i2c = i2c
        self.addr = addr
        self.width = width
        self.height = height
        self.buf = bytearray(width * height // 8)
        self.fb = framebuf.FrameBuffer(self.buf, width, height, framebuf.MONO_VLSB)
        self._cmd = bytearray(2)
        for c in (0xAE, 0xD5, 0x80, 0xA8, height - 1, 0xD3, 0x00, 0x40, 0x8D, 0x14, 0x20, 0x00,
                  0xA1, 0xC8, 0xDA, 0x12 if height == 64 else 0x02, 0x81, 0xCF, 0xD9, 0xF1,
                  0xDB, 0x40, 0xA4, 0xA6, 0xAF):
            self.command(c)

    def command(self, c):
        self._cmd[0] = 0x80  # Co=1, D/C=0: one command byte follows
        self._cmd[1] = c
        self.i2c.writeto(self.addr, self._cmd)

    def show(self):
        for c in (0x21, 0, self.width - 1, 0x22, 0, self.height // 8 - 1):
            self.command(c)
        self.i2c.writevto(self.addr, (b"\x40", self.buf))


class OledScreen(Screen):
    def __init__(self, oled):
        Screen.__init__(self, oled.fb, oled.width, oled.height)
        self.oled = oled

    def flush(self):
        try:
            self.oled.show()
        except OSError as e:
            # A loose display cable must not stop charging: log it, the next change retries.
            from evse.log import log
            log("display", "i2c_error", e)
            self._last = None
