# The transaction journal inside MicroPython: order, durability across reopen, torn writes,
# the full policy, compaction. Files go to /tmp on the unix port, to the flash root on a board.
import binascii
import gc
import os
import sys

from evse.ocpp.journal import Journal
from mptest import raises

DIR = ("/tmp/evse-jtest-" if sys.platform == "linux" else "jtest-") + binascii.hexlify(os.urandom(3)).decode()


def fresh(name="j.log"):
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    for f in os.listdir(DIR):
        os.remove(DIR + "/" + f)
    return DIR + "/" + name


def start(i, tx=None):
    return {"connectorId": 1, "idTag": "TAG" + str(i), "meterStart": i, "timestamp": "2026-01-01T00:00:00Z"}


def meter(i, tx=1):
    return {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": "t" + str(i), "sampledValue": [{"value": str(i)}]}]}


def stop(i, tx=1):
    return {"transactionId": tx, "meterStop": i, "timestamp": "t", "reason": "Local"}


def drain(j):
    out = []
    while True:
        m = j.peek()
        if m is None:
            return out
        out.append(m)
        assert j.pop(m[0])


def test_fifo_order_survives_reopen():
    """ocpp16-rules: transaction messages are delivered in chronological order."""
    path = fresh()
    j = Journal(path)
    seqs = [j.append("StartTransaction", start(1)), j.append("MeterValues", meter(2)),
            j.append("StopTransaction", stop(3))]
    assert seqs == sorted(seqs) and len(j) == 3
    j = Journal(path)
    got = drain(j)
    assert [(s, a) for s, a, _ in got] == [(seqs[0], "StartTransaction"), (seqs[1], "MeterValues"),
                                           (seqs[2], "StopTransaction")]
    assert got[1][2] == meter(2)
    assert Journal(path).peek() is None


def test_pop_is_durable_and_unknown_pop_is_false():
    path = fresh()
    j = Journal(path)
    a = j.append("MeterValues", meter(1))
    b = j.append("MeterValues", meter(2))
    assert j.pop(a) and not j.pop(a) and not j.pop(999)
    assert [m[0] for m in Journal(path).items()] == [b]


def test_update_and_attempts_survive_reopen():
    path = fresh()
    j = Journal(path)
    s = j.append("StopTransaction", stop(5, tx=-1))
    assert j.attempts(s) == 0
    assert j.bump(s) == 1 and j.bump(s) == 2
    assert j.update(s, stop(5, tx=42))
    j = Journal(path)
    assert j.peek() == (s, "StopTransaction", stop(5, tx=42))
    assert j.attempts(s) == 2
    assert not j.update(777, {}) and j.bump(777) == 0


def test_payloads_round_trip_exactly():
    path = fresh()
    p = {"idTag": "Zo\u00eb\n\"x\"", "meterStart": 0, "v": 1.5, "n": None, "l": [True, False], "d": {}}
    Journal(path).append("StartTransaction", p)
    assert Journal(path).peek()[2] == p


def test_only_transaction_messages_are_accepted():
    j = Journal(fresh())
    raises(ValueError, j.append, "Heartbeat", {})
    assert len(j) == 0


def test_seq_keeps_growing_across_compaction_and_reopen():
    path = fresh()
    j = Journal(path)
    last = 0
    for i in range(200):
        s = j.append("MeterValues", meter(i))
        assert s > last
        last = s
        j.pop(s)
    j = Journal(path)
    assert j.append("MeterValues", meter(0)) == last + 1


def test_compaction_bounds_the_file():
    path = fresh()
    j = Journal(path)
    for i in range(300):
        j.append("MeterValues", meter(i))
        m = j.peek()
        j.pop(m[0])
    assert os.stat(path)[6] < 12000, os.stat(path)[6]  # 300 messages would be ~40 KB without it
    j.append("StartTransaction", start(1))
    j.compact()
    lines = open(path).read().split("\n")
    assert len(lines) == 3 and lines[2] == ""  # the seq header and the one live message


def test_torn_last_record_is_dropped_at_every_cut():
    """A write cut anywhere inside the last line loses that line only, never an earlier one,
    and later appends are not hidden behind the garbage."""
    path = fresh()
    j = Journal(path)
    j.append("StartTransaction", start(1))
    j.append("MeterValues", meter(2))
    whole = open(path, "rb").read()
    j.append("StopTransaction", stop(3))
    full = open(path, "rb").read()
    for cut in range(len(whole), len(full)):
        with open(path, "wb") as f:
            f.write(full[:cut])
        j = Journal(path)
        assert [a for _, a, _ in j.items()] == ["StartTransaction", "MeterValues"], cut
        s = j.append("StopTransaction", stop(4))
        j = Journal(path)
        items = [(q, a, p) for q, a, p in j.items()]
        # The torn line stays dead even once a later line follows it (a cut just before its
        # line break must not come back as a second record with the reused seq).
        assert [(a, p) for _, a, p in items] == [("StartTransaction", start(1)), ("MeterValues", meter(2)),
                                                ("StopTransaction", stop(4))], cut
        assert [q for q, _, _ in items] == sorted(set(q for q, _, _ in items)), cut
        assert s == 3 or s == 4  # seq of the torn append may be reused: it was never acknowledged


def test_a_flipped_byte_loses_only_its_record():
    path = fresh()
    j = Journal(path)
    for i in range(4):
        j.append("MeterValues", meter(i))
    data = bytearray(open(path, "rb").read())
    second = data.index(b"\n") + 1
    data[second + 20] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)
    got = [p for _, _, p in Journal(path).items()]
    assert got == [meter(0), meter(2), meter(3)]


def test_full_journal_evicts_oldest_meter_values_never_start_or_stop():
    """Policy: when full, the oldest queued MeterValues goes first; Start/Stop are never dropped."""
    path = fresh()
    j = Journal(path, max_records=4)
    j.append("StartTransaction", start(1))
    m1 = j.append("MeterValues", meter(1))
    m2 = j.append("MeterValues", meter(2))
    j.append("MeterValues", meter(3))
    j.append("MeterValues", meter(4))  # evicts m1
    assert m1 not in [s for s, _, _ in j.items()] and len(j) == 4
    j.append("StopTransaction", stop(9))  # evicts m2
    assert [a for _, a, _ in j.items()] == ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
    assert m2 not in [s for s, _, _ in j.items()]
    assert [p for _, _, p in Journal(path, max_records=4).items()][1:3] == [meter(3), meter(4)]


def test_full_of_start_stop_drops_new_meter_values_keeps_start_stop():
    j = Journal(fresh(), max_records=2)
    j.append("StartTransaction", start(1))
    j.append("StopTransaction", stop(1))
    assert j.append("MeterValues", meter(1)) is None
    assert j.append("StartTransaction", start(2)) is not None
    assert [a for _, a, _ in j.items()] == ["StartTransaction", "StopTransaction", "StartTransaction"]


def test_interrupted_compaction_leaves_the_log_whole():
    path = fresh()
    j = Journal(path)
    j.append("StartTransaction", start(1))
    with open(path + ".tmp", "wb") as f:
        f.write(b"half a compaction")
    assert [a for _, a, _ in Journal(path).items()] == ["StartTransaction"]
    assert "j.log.tmp" not in os.listdir(DIR)


def test_compaction_cut_between_remove_and_rename_is_adopted():
    path = fresh()
    j = Journal(path)
    j.append("StartTransaction", start(1))
    j.compact()
    os.rename(path, path + ".tmp")
    assert [a for _, a, _ in Journal(path).items()] == ["StartTransaction"]


def test_a_failed_compaction_keeps_the_log_and_the_pop():
    """Flash full during compaction: the pop that triggered it still counts, nothing is lost."""
    path = fresh()
    j = Journal(path)
    keep = j.append("StartTransaction", start(1))
    seqs = [j.append("MeterValues", meter(i)) for i in range(40)]
    os.mkdir(path + ".tmp")  # the temp file cannot be created: compaction fails
    for s in seqs:
        assert j.pop(s)
    size = os.stat(path)[6]
    os.rmdir(path + ".tmp")
    assert size > 4000  # never compacted
    assert [(s, a) for s, a, _ in Journal(path).items()] == [(keep, "StartTransaction")]


def test_ram_per_queued_message_is_small():
    path = fresh()
    j = Journal(path, max_records=500)
    for i in range(10):
        j.append("MeterValues", meter(i))
    gc.collect()
    before = gc.mem_alloc()
    for i in range(200):
        j.append("MeterValues", meter(i))
    gc.collect()
    per = (gc.mem_alloc() - before) / 200
    assert per < 24, per  # the payloads stay on flash


def test_zz_cleanup():
    fresh()
    os.rmdir(DIR)


class _FailsAfterWrite(Journal):
    # The record reaches the file, then the call fails: a flash error on close, or a heap too
    # short for what follows the write.
    fail = None

    def _write(self, *recs):
        off = Journal._write(self, *recs)
        err, self.fail = self.fail, None
        if err:
            raise err
        return off


def test_append_is_all_or_nothing():
    # An error from append means "not queued": a start that rolls back on it must never have
    # its StartTransaction sent later, by this boot or the next.
    for err in (OSError("flash"), MemoryError()):
        path = fresh()
        j = _FailsAfterWrite(path)
        j.append("StartTransaction", start(1))
        j.fail = err
        assert raises(type(err), j.append, "StartTransaction", start(2))
        seq = j.append("StopTransaction", stop(3))
        assert [(a, p.get("meterStart", p.get("meterStop"))) for _, a, p in j.items()] == \
            [("StartTransaction", 1), ("StopTransaction", 3)]
        again = Journal(path)  # the next boot reads the same
        assert [(a, p.get("meterStart", p.get("meterStop"))) for _, a, p in again.items()] == \
            [("StartTransaction", 1), ("StopTransaction", 3)]
        assert [s for s, _, _ in again.items()][-1] == seq and seq == 3  # seq 2 never reused
