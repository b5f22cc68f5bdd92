# JSON schema's "format": "date-time" is RFC 3339's date-time: 2026-02-30, 25:61 or a time
# without its offset are not times, though parse_iso (which reads the central system's
# currentTime leniently) would take them. Loaded by schema.py for a payload's date-time field
# (rare: charging profiles, reservations) and dropped after: none of it stays in the heap.

_DAYS = const(b"\x1f\x1c\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f")  # days per month, February 28


def _n(s, i, j, hi, lo=0):
    # The digits s[i:j] as a number within lo..hi, else -1.
    d = s[i:j]
    if not d.isdigit():
        return -1
    v = int(d)
    return v if lo <= v <= hi else -1


def valid(s):
    """True for an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)."""
    n = len(s)
    if n < 20 or s[4] != "-" or s[7] != "-" or s[10] not in "Tt" or s[13] != ":" or s[16] != ":":
        return False
    y = _n(s, 0, 4, 9999)
    mo = _n(s, 5, 7, 12, 1)
    if y < 0 or mo < 0:
        return False
    leap = mo == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if (_n(s, 8, 10, _DAYS[mo - 1] + leap, 1) < 0 or _n(s, 11, 13, 23) < 0
            or _n(s, 14, 16, 59) < 0 or _n(s, 17, 19, 60) < 0):  # 60: a leap second
        return False
    i = 19
    if s[i] == ".":
        i += 1
        while i < n and s[i].isdigit():
            i += 1
        if i == 20:
            return False
    z = s[i:]
    if z == "Z" or z == "z":
        return True
    return (len(z) == 6 and z[0] in "+-" and z[3] == ":" and _n(z, 1, 3, 23) >= 0
            and _n(z, 4, 6, 59) >= 0)
