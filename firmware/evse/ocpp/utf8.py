# What str(data, "utf-8") lets through and RFC 3629 forbids: overlong forms, surrogates
# (U+D800-DFFF) and code points above U+10FFFF. Loaded by ws.utf8() for a text message that is
# not all ASCII (rare in OCPP) and dropped after, so none of it stays in the heap.

# They can only start with one of these lead bytes (F8-FF str() refuses itself), and each
# needs a second byte in [lo, hi] (lo > hi: the lead is never valid). Triples of (lead, lo, hi)
# in one constant: no tuples in the heap.
_STRICT = const(b"\xe0\xa0\xbf\xed\x80\x9f\xf0\x90\xbf\xf4\x80\x8f"
                b"\xc0\x01\x00\xc1\x01\x00\xf5\x01\x00\xf6\x01\x00\xf7\x01\x00")


def strict(data):
    """True unless data (which str() accepted) holds one of those forms."""
    t = _STRICT
    for k in range(0, len(t), 3):
        lead = t[k:k + 1]
        i = data.find(lead)
        while i >= 0:  # str() checked the structure: a lead byte has its next byte
            if not t[k + 1] <= data[i + 1] <= t[k + 2]:
                return False
            i = data.find(lead, i + 2)
    return True
