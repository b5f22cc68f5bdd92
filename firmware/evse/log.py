# One console line per event, key=value, so operators can grep and host tools can follow.
# Secrets never reach this: callers pass redacted values.
import time


def log(event, *pairs):
    # log("relay", "connector", 1, "closed", 1) -> "[  12.345] relay connector=1 closed=1"
    t = time.ticks_ms()
    parts = ["[%4d.%03d] %s" % (t // 1000 % 100000, t % 1000, event)]
    for i in range(0, len(pairs) - 1, 2):
        parts.append("%s=%s" % (pairs[i], pairs[i + 1]))
    print(" ".join(parts))
