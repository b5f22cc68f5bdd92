"""What a certificate check and a firmware signature check cost on the 32-bit build, with the
firmware deployed as on a board (`.mpy` from host_tools.flash.build_image): time, heap
allocated (gc disabled, so every byte the check allocates is counted), the code's size, and the
smallest `-X heapsize` the whole check passes in (a bisection: fragmentation included).

`make test` runs the bounded check (each operation passes within the heap budget below); the
bisection is `long` and prints its figures (`-s`), which firmware/README.md quotes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from host_tools.flash import build_image
from tests import builds
from tests.crypto_material import ec_key, issue, rsa_key, sign_ecdsa, sign_pss

# The whole -X heapsize each check passes in, the interpreter, its inputs and the two modules
# included (measured: 14k with nothing checked, 23k PSS, 25k chain, 19k ECDSA): ~3 KB of margin,
# so a change that makes a check need more heap fails here.
BUDGET = {"pss": "26k", "chain": "28k", "ecdsa": "24k"}

_PROBE = """
import sys, gc, time, json, binascii
op = sys.argv[1]
c = json.loads(open(sys.argv[2] + "/" + op + ".json").read())
gc.collect()
base = gc.mem_alloc()
from evse import x509, signature
gc.collect()
code = gc.mem_alloc() - base
ux = binascii.unhexlify
if op in ("pss", "ecdsa"):  # the firmware's check after a download has the key, no certificate
    cert = x509.load(c["cert"])
    key_type, key, digest, sig = cert.key_type, cert.key, ux(c["digest"]), ux(c["sig"])
    del cert, c
gc.collect()
if sys.argv[3] == "count":
    gc.disable()
a0 = gc.mem_alloc()
t0 = time.ticks_us()
if op == "chain":
    ok = signature.verify_chain(x509.load(c["cert"]), (x509.load(p) for p in c["roots"]), c["now"]) is None
elif op == "none":
    ok = True
else:
    ok = signature.verify_firmware(key_type, key, digest, sig)
t = time.ticks_diff(time.ticks_us(), t0)
alloc = gc.mem_alloc() - a0
gc.enable()
print(json.dumps({"ok": ok, "us": t, "allocated": alloc, "code": code}))
"""


def _material(tmp_path: Path) -> Path:
    """One small JSON per operation (only what it reads is in the heap) and the firmware as
    .mpy files, laid out as on a board's flash."""
    import hashlib
    import time

    root = issue("Manufacturer Root", rsa_key(2048), ca=True)
    signer = issue("Firmware Signer", rsa_key(2048), root)
    ec_root = issue("EC Root", ec_key(), ca=True)
    ec_signer = issue("EC Signer", ec_key(), ec_root)
    image = os.urandom(4096)
    digest = hashlib.sha256(image).hexdigest()
    ops = {"chain": {"cert": signer.pem, "roots": [root.pem], "now": int(time.time())},
           "pss": {"cert": signer.pem, "digest": digest, "sig": sign_pss(signer.key, image).hex()},  # type: ignore[arg-type]
           "ecdsa": {"cert": ec_signer.pem, "digest": digest, "sig": sign_ecdsa(ec_signer.key, image).hex()},  # type: ignore[arg-type]
           "none": {}}
    for op, c in ops.items():
        (tmp_path / f"{op}.json").write_text(json.dumps(c))
    (tmp_path / "probe.py").write_text(_PROBE)
    lib = tmp_path / "board"
    for rel, data in build_image().files.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_bytes(data)
    return lib / "lib"


def _probe(mp: str, tmp_path: Path, lib: Path, op: str, heap: str | None) -> dict | None:
    # no heap given: the allocations are counted with the gc off (in a large heap); else the
    # gc runs as on a board
    cmd = [mp, "-X", f"heapsize={heap or '16M'}", str(tmp_path / "probe.py"), op, str(tmp_path),
           "run" if heap else "count"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, MICROPYPATH=str(lib)))
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    mp = builds.binary("unix32")
    if mp is None:
        pytest.skip(builds.SKIP_REASON)
    tmp = tmp_path_factory.mktemp("crypto_mem")
    return mp, tmp, _material(tmp)


@pytest.mark.parametrize("op", ["pss", "chain", "ecdsa"])
def test_check_fits_its_heap_budget_on_unix32_mpy(rig, op):
    mp, tmp, lib = rig
    r = _probe(mp, tmp, lib, op, BUDGET[op])
    assert r is not None and r["ok"] is True, f"{op} failed within -X heapsize={BUDGET[op]}"


@pytest.mark.long
def test_measure_smallest_heap(rig, capsys):
    mp, tmp, lib = rig
    figures = {}
    for op in ("none", "pss", "chain", "ecdsa"):
        r = _probe(mp, tmp, lib, op, None)
        assert r and r["ok"]
        lo, hi = 2, 64  # KiB: fails at lo, passes at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            p = _probe(mp, tmp, lib, op, f"{mid}k")
            lo, hi = (lo, mid) if p and p["ok"] else (mid, hi)
        figures[op] = {"ms": round(r["us"] / 1000, 1), "allocated": r["allocated"], "code": r["code"],
                       "smallest_heap_k": hi}
    with capsys.disabled():
        print("\ncrypto on unix32 .mpy:", json.dumps(figures))
