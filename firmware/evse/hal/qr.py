# QR code encoder for the display: byte mode, error correction level M, versions 1..9
# (a version-9 M symbol holds 180 bytes; a 100-character URL needs version 6). Written for the
# device: the display imports it only while rendering and drops it from sys.modules after.
# ISO/IEC 18004 in brief: data bits -> codewords -> Reed-Solomon EC per block -> interleave ->
# zigzag placement around the function patterns -> the mask with the lowest penalty -> format
# and version information.

# Per version 1..9 at level M: (total codewords, EC codewords per block, number of blocks).
_BLOCKS = const(((26, 10, 1), (44, 16, 1), (70, 26, 1), (100, 18, 2), (134, 24, 2), (172, 16, 4),
                 (196, 18, 4), (242, 22, 4), (292, 22, 5)))
_ALIGN = const(((), (6, 18), (6, 22), (6, 26), (6, 30), (6, 34), (6, 22, 38), (6, 24, 42), (6, 26, 46)))
MAX_VERSION = const(9)

# GF(256) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1, as exp/log tables.
_EXP = bytearray(512)
_LOG = bytearray(256)
_x = 1
for _i in range(255):
    _EXP[_i] = _x
    _LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]
del _x, _i


def _mul(a, b):
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def capacity(version):
    """Bytes of byte-mode data a version holds at level M."""
    total, ec, blocks = _BLOCKS[version - 1]
    return total - ec * blocks - 2  # 4 bits mode + 8 bits length (+ up to 4 terminator bits)


def rs_generator(degree):
    # Coefficients of prod(x - a^i), i < degree, highest first, leading 1 dropped.
    g = bytearray(degree)
    g[-1] = 1
    root = 1
    for _ in range(degree):
        for j in range(degree):
            g[j] = _mul(g[j], root)
            if j + 1 < degree:
                g[j] ^= g[j + 1]
        root = _mul(root, 2)
    return g


def rs_remainder(data, gen):
    n = len(gen)
    rem = bytearray(n)
    for b in data:
        f = b ^ rem[0]
        rem[0:n - 1] = rem[1:n]
        rem[n - 1] = 0
        if f:
            lf = _LOG[f]
            for j in range(n):
                g = gen[j]
                if g:
                    rem[j] ^= _EXP[_LOG[g] + lf]
    return rem


def _codewords(data, version):
    total, ec, nblocks = _BLOCKS[version - 1]
    ndata = total - ec * nblocks
    buf = bytearray(ndata)
    # Mode 0100 (byte), 8-bit length, then the bytes: a 4-bit shift through the buffer.
    n = len(data)
    buf[0] = 0x40 | (n >> 4)
    prev = n & 0x0F
    for i in range(n):
        b = data[i]
        buf[i + 1] = (prev << 4) | (b >> 4)
        prev = b & 0x0F
    buf[n + 1] = prev << 4  # low nibble = the terminator's 4 zero bits
    pad = 0xEC
    for i in range(n + 2, ndata):
        buf[i] = pad
        pad ^= 0xEC ^ 0x11
    # Split into blocks (the short ones first), EC per block, then interleave column-wise.
    short = nblocks - ndata % nblocks
    slen = ndata // nblocks
    gen = rs_generator(ec)
    blocks = []
    pos = 0
    for i in range(nblocks):
        ln = slen + (0 if i < short else 1)
        blocks.append((buf[pos:pos + ln], rs_remainder(buf[pos:pos + ln], gen)))
        pos += ln
    out = bytearray(total)
    k = 0
    for i in range(slen + 1):
        for j in range(nblocks):
            if i < len(blocks[j][0]):
                out[k] = blocks[j][0][i]
                k += 1
    for i in range(ec):
        for j in range(nblocks):
            out[k] = blocks[j][1][i]
            k += 1
    return out


def _bch(value, bits, poly, polybits):
    rem = value << (polybits - 1)
    top = polybits + bits - 2
    for i in range(top, polybits - 2, -1):
        if rem >> i & 1:
            rem ^= poly << (i - polybits + 1)
    return (value << (polybits - 1)) | rem


def format_bits(mask):
    # Level M is 00; 15 bits with BCH(15,5) and the fixed XOR mask.
    return _bch(mask, 5, 0x537, 11) ^ 0x5412


def version_bits(version):
    return _bch(version, 6, 0x1F25, 13)


class QR:
    """A module matrix: `size` x `size`, `get(x, y)` is 1 for a dark module."""

    def __init__(self, version):
        self.version = version
        self.size = size = 17 + 4 * version
        self.mask = None
        self.m = bytearray(size * size)  # 1 = dark
        self.f = bytearray(size * size)  # 1 = function module (not data)

    def get(self, x, y):
        return self.m[y * self.size + x]

    def _set(self, x, y, dark):
        i = y * self.size + x
        self.m[i] = 1 if dark else 0
        self.f[i] = 1

    def rows(self):
        s = self.size
        return [bytes(self.m[y * s:(y + 1) * s]) for y in range(s)]

    def _functions(self):
        s = self.size
        for cx, cy in ((3, 3), (s - 4, 3), (3, s - 4)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    x, y = cx + dx, cy + dy
                    if 0 <= x < s and 0 <= y < s:
                        d = max(abs(dx), abs(dy))
                        self._set(x, y, d != 2 and d != 4)
        for i in range(8, s - 8):
            self._set(6, i, i % 2 == 0)
            self._set(i, 6, i % 2 == 0)
        al = _ALIGN[self.version - 1]
        last = len(al) - 1
        for a in range(len(al)):
            for b in range(len(al)):
                if (a == 0 and b == 0) or (a == 0 and b == last) or (a == last and b == 0):
                    continue  # would overlap a finder pattern
                for dy in range(-2, 3):
                    for dx in range(-2, 3):
                        self._set(al[a] + dx, al[b] + dy, max(abs(dx), abs(dy)) != 1)
        # Reserve the format (and version) areas now, light; they are written after masking.
        self._format(0, reserve=True)
        if self.version >= 7:
            for i in range(18):
                a, b = s - 11 + i % 3, i // 3
                self._set(a, b, 0)
                self._set(b, a, 0)

    def _format(self, mask, reserve=False):
        s = self.size
        bits = 0 if reserve else format_bits(mask)
        st = self._set
        for i in range(6):
            st(8, i, bits >> i & 1)
        st(8, 7, bits >> 6 & 1)
        st(8, 8, bits >> 7 & 1)
        st(7, 8, bits >> 8 & 1)
        for i in range(9, 15):
            st(14 - i, 8, bits >> i & 1)
        for i in range(8):
            st(s - 1 - i, 8, bits >> i & 1)
        for i in range(8, 15):
            st(8, s - 15 + i, bits >> i & 1)
        # The always-dark module; like the format bits it is set after the mask is chosen, so
        # the evaluation sees it light (as segno and ISO/IEC 18004:2015 section 7.8 do).
        st(8, s - 8, not reserve)

    def _version(self):
        if self.version < 7:
            return
        bits = version_bits(self.version)
        s = self.size
        for i in range(18):
            a, b = s - 11 + i % 3, i // 3
            self._set(a, b, bits >> i & 1)
            self._set(b, a, bits >> i & 1)

    def _place(self, data):
        s = self.size
        m, f = self.m, self.f
        i = 0
        nbits = len(data) * 8
        right = s - 1
        while right >= 1:
            if right == 6:
                right = 5  # the vertical timing pattern column is skipped
            up = (right + 1) & 2 == 0
            for v in range(s):
                y = s - 1 - v if up else v
                row = y * s
                for x in (right, right - 1):
                    if not f[row + x] and i < nbits:
                        m[row + x] = data[i >> 3] >> (7 - (i & 7)) & 1
                        i += 1
            right -= 2

    def _mask(self, mask):
        """XOR `mask` onto the data modules in place (applying it twice undoes it): no copy
        of the matrix per candidate mask."""
        s = self.size
        m = self.m
        f = self.f
        k = 0
        for y in range(s):
            for x in range(s):
                if not f[k]:
                    if mask == 0:
                        c = (x + y) % 2 == 0
                    elif mask == 1:
                        c = y % 2 == 0
                    elif mask == 2:
                        c = x % 3 == 0
                    elif mask == 3:
                        c = (x + y) % 3 == 0
                    elif mask == 4:
                        c = (y // 2 + x // 3) % 2 == 0
                    elif mask == 5:
                        c = (x * y) % 2 + (x * y) % 3 == 0
                    elif mask == 6:
                        c = ((x * y) % 2 + (x * y) % 3) % 2 == 0
                    else:
                        c = ((x + y) % 2 + (x * y) % 3) % 2 == 0
                    if c:
                        m[k] ^= 1
                k += 1


_FINDER = const(b"\x01\x00\x01\x01\x01\x00\x01")


def _n3(line, s):
    # 1:1:3:1:1 finder look-alikes with four light modules before or after; beyond the
    # symbol's edge counts as light (the quiet zone).
    n = 0
    i = line.find(_FINDER)
    while i >= 0:
        before = line[max(i - 4, 0):i]
        after = line[i + 7:i + 11]
        if before.find(b"\x01") < 0 or after.find(b"\x01") < 0:
            n += 40
            i = line.find(_FINDER, i + 7)  # a counted pattern's modules are not reused
        else:
            i = line.find(_FINDER, i + 1)
    return n


def _n1(line):
    # Runs of five or more same-colour modules: 3 + (run - 5) each.
    n = 0
    run = 0
    last = -1
    for v in line:
        if v == last:
            run += 1
        else:
            if run >= 5:
                n += run - 2
            run = 1
            last = v
    if run >= 5:
        n += run - 2
    return n


def penalty(m, s):
    """ISO/IEC 18004 mask evaluation: N1 runs (3 + run - 5), N2 2x2 blocks (3 each),
    N3 finder look-alikes (40 each), N4 dark proportion (10 per 5 % away from half)."""
    score = 0
    dark = 0
    col = bytearray(s)
    prev_row = None
    for y in range(s):
        o = y * s
        row = m[o:o + s]
        if prev_row is not None:
            for x in range(1, s):
                if row[x] == row[x - 1] == prev_row[x] == prev_row[x - 1]:
                    score += 3
        dark += sum(row)
        score += _n1(row) + _n3(row, s)
        prev_row = row
        k = y
        for x in range(s):  # column y
            col[x] = m[k]
            k += s
        score += _n1(col) + _n3(col, s)
    total = s * s
    score += 10 * (abs(dark * 100 - total * 50) // (total * 5))
    return score


def encode(text, version=None, mask=None):
    """`text` (str or bytes) -> QR at level M in byte mode, smallest version unless given,
    the lowest-penalty mask unless given. ValueError if it does not fit."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    if version is None:
        for v in range(1, MAX_VERSION + 1):
            if len(data) <= capacity(v):
                version = v
                break
        else:
            raise ValueError("QR: %d bytes exceed version %d-M" % (len(data), MAX_VERSION))
    elif not 1 <= version <= MAX_VERSION or len(data) > capacity(version):
        raise ValueError("QR: %d bytes do not fit version %s-M" % (len(data), version))
    q = QR(version)
    q._functions()
    q._place(_codewords(data, version))
    if mask is None:
        best = None
        for k in range(8):
            q._mask(k)
            p = penalty(q.m, q.size)
            q._mask(k)
            if best is None or p < best:
                best, mask = p, k
    q._mask(mask)
    q.mask = mask
    q._format(mask)
    q._version()
    q.f = None  # only placement and masking need it
    return q


def bitmap(url):
    """(size, MONO_HLSB bytearray of size x size, 1 = dark module) for display.qr_bitmap."""
    import framebuf
    m = encode(url)
    size = m.size
    buf = bytearray(((size + 7) >> 3) * size)
    fb = framebuf.FrameBuffer(buf, size, size, framebuf.MONO_HLSB)
    for y in range(size):
        for x in range(size):
            if m.get(x, y):
                fb.pixel(x, y, 1)
    return size, buf
