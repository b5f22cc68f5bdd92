# The on-device QR encoder: Reed-Solomon and BCH against the values printed in ISO/IEC 18004,
# capacities, version choice, and the cost of one render (time, peak heap) on this port.
import gc
import sys
import time

from mptest import raises


def qr():
    from evse.hal import qr as mod

    return mod


def test_rs_generator_degree_10_matches_iso_annex_a():
    q = qr()
    # g(x) for 10 EC codewords, as exponents of alpha: 0, 251, 67, 46, 61, 118, 70, 64, 94, 32, 45
    expect = [q._EXP[e] for e in (251, 67, 46, 61, 118, 70, 64, 94, 32, 45)]
    assert list(q.rs_generator(10)) == expect


def test_rs_remainder_iso_example_01234567_1m():
    # ISO/IEC 18004 annex I: "01234567" at 1-M gives these data and EC codewords.
    q = qr()
    data = bytes.fromhex("10200C5661 80EC11EC11EC11EC11EC11".replace(" ", ""))
    ec = q.rs_remainder(data, q.rs_generator(10))
    assert bytes(ec) == bytes.fromhex("A524D4C1ED36C7872C55")


def test_format_bits_level_m_all_masks():
    q = qr()
    table = ["101010000010010", "101000100100101", "101111001111100", "101101101001011",
             "100010111111001", "100000011001110", "100111110010111", "100101010100000"]
    for mask, bits in enumerate(table):
        assert q.format_bits(mask) == int(bits, 2), mask


def test_version_information_bits():
    q = qr()
    assert q.version_bits(7) == 0x07C94
    assert q.version_bits(8) == 0x085BC
    assert q.version_bits(9) == 0x09A99


def test_capacities_byte_mode_level_m():
    q = qr()
    assert [q.capacity(v) for v in range(1, 10)] == [14, 26, 42, 62, 84, 106, 122, 152, 180]


def test_smallest_version_is_chosen_and_too_long_refused():
    q = qr()
    assert q.encode("x" * 14).version == 1
    assert q.encode("x" * 15).version == 2
    assert q.encode("https://app.plugchoice.com/p/ABC123").version == 3
    assert q.encode("h" * 100).version == 6
    assert q.encode("h" * 180).version == 9
    raises(ValueError, q.encode, "h" * 181)
    raises(ValueError, q.encode, "h" * 50, 2)


def test_function_patterns_in_place():
    q = qr().encode("https://app.plugchoice.com/p/ABC123")
    s = q.size
    assert s == 29
    rows = q.rows()
    finder = [b"\x01" * 7, b"\x01\x00\x00\x00\x00\x00\x01", b"\x01\x00\x01\x01\x01\x00\x01"]
    assert rows[0][:7] == finder[0] and rows[0][s - 7:] == finder[0]
    assert rows[2][:7] == finder[2] and rows[s - 1][:7] == finder[0]
    assert all(rows[6][x] == (x + 1) % 2 for x in range(8, s - 8))  # timing pattern
    assert q.get(8, s - 8) == 1  # the dark module


def test_render_time_and_peak_heap():
    # Measured, and bounded loosely so a regression that makes rendering heavy shows up.
    import evse.hal

    sys.modules.pop("evse.hal.qr", None)
    if hasattr(evse.hal, "qr"):
        delattr(evse.hal, "qr")
    from evse.hal.display import qr_bitmap

    gc.collect()
    before = gc.mem_alloc()
    t0 = time.ticks_us()
    size, buf = qr_bitmap("https://app.plugchoice.com/p/" + "A" * 70)  # a 99-byte URL
    dt = time.ticks_diff(time.ticks_us(), t0)
    assert size == 41
    assert "evse.hal.qr" not in sys.modules and not hasattr(evse.hal, "qr")
    gc.collect()
    kept = gc.mem_alloc() - before
    print("qr render us", dt, "kept bytes", kept)
    assert dt < 2000000
    assert kept < 6000
