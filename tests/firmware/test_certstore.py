# evse.ocpp.certstore: the certificate store on flash, and wstls: the order a wss:// connection
# tries its CAs in. The DER here is any bytes: the store keeps files, parsing is x509.py's (the OCPP
# tests install real certificates: tests/ocpp/test_certificates.py).
import binascii
import os
import sys

from evse.ocpp import certstore as cs
from evse.ocpp import wstls

# The store is relative to the working folder (the board's flash root): a folder of this run's
# own, under /tmp on the unix port, so that nothing lands in the source tree.
HOME = ("/tmp/evse-ctest-" if sys.platform == "linux" else "ctest-") + binascii.hexlify(os.urandom(3)).decode()
os.mkdir(HOME)
os.chdir(HOME)

PEM = "-----BEGIN CERTIFICATE-----\n" + binascii.b2a_base64(b"\x30provisioned").decode() + "-----END CERTIFICATE-----\n"


def fresh():
    try:
        for e in os.listdir(wstls.STORE):
            os.remove(wstls.STORE + e)
    except OSError:
        pass


def test_the_provisioned_ca_alone_then_the_installed_newest_first():
    fresh()
    assert wstls.cas(PEM) == ["P"]
    assert wstls.cas(None) == [] and wstls.cas("not PEM") == []
    assert cs.add("C", b"\x30a") == "C1"
    assert cs.add("C", b"\x30b") == "C2"
    assert cs.add("M", b"\x30m") == "M1"  # a manufacturer root is no CA of the connection
    assert wstls.cas(PEM) == ["C2", "C1", "P"]
    assert cs.read("C1") == b"\x30a" and cs.read("P", PEM) == b"\x30provisioned"


def test_the_ca_that_worked_last_comes_first_and_stays_remembered():
    fresh()
    cs.add("C", b"\x30a")
    cs.add("C", b"\x30b")
    wstls.worked("C1")
    assert cs.in_use() == "C1"
    assert wstls.cas(PEM) == ["C1", "C2", "P"]
    wstls.worked("P")
    assert wstls.cas(PEM) == ["P", "C2", "C1"]
    wstls.worked("C9")  # gone since: tried nowhere
    assert wstls.cas(PEM) == ["C2", "C1", "P"]


def test_a_deleted_provisioned_ca_is_marked_not_forgotten():
    fresh()
    cs.add("C", b"\x30a")
    cs.delete("P", PEM)
    assert wstls.cas(PEM) == ["C1"]
    assert cs.provisioned(PEM) is None
    # a CA provisioned later (config.json's ca_cert changed) is not the one deleted
    other = "-----BEGIN CERTIFICATE-----\n" + binascii.b2a_base64(b"\x30other").decode() + "-----END CERTIFICATE-----"
    assert wstls.cas(other) == ["C1", "P"] and cs.provisioned(other) == b"\x30other"
    cs.delete("C1")
    assert cs.names("C") == [] and cs.read("C1") is None


def test_the_store_is_bounded_per_type():
    fresh()
    for i in range(cs.MAX_PER_TYPE):
        cs.add("M", bytes((0x30, i)))
    try:
        cs.add("M", b"\x30x")
        raise AssertionError("a fifth root was stored")
    except IndexError:
        pass
    assert len(cs.names("M")) == cs.MAX_PER_TYPE
    assert cs.add("C", b"\x30c") == "C1"  # the other type has its own room


def test_a_power_cuts_leftovers_are_ignored_then_removed():
    fresh()
    cs.add("C", b"\x30a")
    with open(wstls.STORE + "C2.der.tmp", "wb") as f:
        f.write(b"\x30half")  # written, never renamed: the power went
    with open(wstls.STORE + "Cx.der", "wb") as f:
        f.write(b"junk")
    assert cs.names("C") == ["C1"]
    assert cs.add("C", b"\x30b") == "C2"
    assert "C2.der.tmp" not in os.listdir(wstls.STORE)
    assert cs.read("C2") == b"\x30b"


def _with(d, **kw):
    d = dict(d)
    d.update(kw)
    return d


def test_hash_data_compares_hex_without_case_and_serial_without_leading_zeros():
    a = {"hashAlgorithm": "SHA256", "issuerNameHash": "ab", "issuerKeyHash": "cd", "serialNumber": "0f"}
    assert cs.same(a, _with(a, issuerNameHash="AB", serialNumber="F"))
    assert not cs.same(a, _with(a, serialNumber="f0"))
    assert not cs.same(a, _with(a, hashAlgorithm="SHA384"))
    assert cs.find(_with(a, hashAlgorithm="SHA512")) is None  # no such hash here: nothing matches


def test_zz_the_run_leaves_nothing_behind():  # last: this file's folder removed
    fresh()
    for d in (wstls.STORE[:-1], "data"):
        os.rmdir(d)
    os.chdir("..")
    os.rmdir(HOME)
