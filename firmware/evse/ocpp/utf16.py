# Escaped UTF-16 surrogates in an incoming OCPP-J frame, made safe before json.loads (rpc.py).
# A message id or action outside the Basic Multilingual Plane arrives as a pair of escapes
# ("\\ud83d\\ude00"); MicroPython's json.loads would keep each half as a 3-byte surrogate
# encoding, which is invalid UTF-8 and would come back changed in our answer.


def _hex4(text, i):
    try:
        return int(text[i:i + 4], 16)
    except ValueError:
        return -1


def surrogates(text):
    """`text` with each escaped surrogate pair written as the character it stands for and
    each lone escaped surrogate as U+FFFD; `text` itself when it has neither."""
    out = None
    start = 0
    i = text.find("\\u")
    while i >= 0:
        j = i
        while j and text[j - 1] == "\\":
            j -= 1
        c = _hex4(text, i + 2) if (i - j) % 2 == 0 else -1  # an escaped backslash: not \\u
        if 0xD800 <= c <= 0xDFFF:
            n = i + 6
            lo = _hex4(text, n + 2) if c < 0xDC00 and text[n:n + 2] == "\\u" else -1
            if 0xDC00 <= lo <= 0xDFFF:
                ch = chr(0x10000 + ((c - 0xD800) << 10) + lo - 0xDC00)
                n += 6
            else:
                ch = "\ufffd"
            if out is None:
                out = []
            out.append(text[start:i])
            out.append(ch)
            start = n
            i = text.find("\\u", n)
        else:
            i = text.find("\\u", i + 2)
    if out is None:
        return text
    out.append(text[start:])
    return "".join(out)
