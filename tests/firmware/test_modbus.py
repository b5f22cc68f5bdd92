# Modbus RTU master against a simulated RS485 slave on the other end of a fake UART. The UART is
# outside the project; the master (framing, CRC, timeouts, retries, direction pin) is real.
import struct

from evse.hal import MeterError
from evse.hal.modbus import ModbusException, ModbusMaster, ModbusTimeout, crc16, read_input_request

# CRC-16/MODBUS by table, written independently of the bitwise one under test.
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0xA001 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def peer_crc(data):
    c = 0xFFFF
    for b in data:
        c = (c >> 8) ^ _TABLE[(c ^ b) & 0xFF]
    return bytes((c & 0xFF, c >> 8))


class DirectionPin:
    def __init__(self, log):
        self.level = None
        self.log = log

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.log.append(("de", v))


class SerialPeer:
    """The wire plus a Modbus slave: what the master writes is parsed as a request, and the
    answer appears in the receive buffer. `behaviour` scripts faults per request."""

    def __init__(self, address=1, floats=None, log=None):
        self.address = address
        self.regs = {}
        for reg, value in (floats or {}).items():
            hi, lo = struct.unpack(">HH", struct.pack(">f", value))
            self.regs[reg], self.regs[reg + 1] = hi, lo
        self.rxbuf = bytearray()
        self.requests = []
        self.behaviour = []  # per request: "ok", "silent", "corrupt", "other_slave", int exception code
        self.log = log if log is not None else []
        self.de = None

    # UART side used by the master
    def write(self, data):
        data = bytes(data)
        self.log.append(("write", data, self.de.level if self.de else None))
        self.requests.append(data)
        self._answer(data)
        return len(data)

    def flush(self):
        self.log.append(("flush",))

    def any(self):
        return len(self.rxbuf)

    def read(self, n=None):
        n = len(self.rxbuf) if n is None else min(n, len(self.rxbuf))
        out = bytes(self.rxbuf[:n])
        self.rxbuf = self.rxbuf[n:]
        return out

    def _answer(self, req):
        what = self.behaviour.pop(0) if self.behaviour else "ok"
        if what == "silent" or req[0] != self.address:
            return
        assert peer_crc(req[:6]) == req[6:8], "master sent a bad CRC"
        fn = req[1]
        if isinstance(what, int):
            body = bytes((self.address, fn | 0x80, what))
        else:
            reg, count = struct.unpack(">HH", req[2:6])
            data = b"".join(struct.pack(">H", self.regs.get(reg + i, 0)) for i in range(count))
            addr = self.address + 1 if what == "other_slave" else self.address
            body = bytes((addr, fn, 2 * count)) + data
        frame = bytearray(body + peer_crc(body))
        if what == "corrupt":
            frame[3] ^= 0x01
        self.rxbuf.extend(frame)


def master_for(peer, **kw):
    de = DirectionPin(peer.log)
    peer.de = de
    kw.setdefault("timeout_ms", 20)
    return ModbusMaster(peer, 9600, de, **kw), de


def test_crc16_vectors():
    # Classic vectors from the Modbus over serial line spec and the field.
    assert crc16(bytes.fromhex("01030000000A")) == 0xCDC5          # sent as C5 CD
    assert crc16(bytes.fromhex("010402FFFF")) == 0x80B8            # sent as B8 80
    assert crc16(bytes.fromhex("010400000002")) == 0xCB71          # sent as 71 CB
    assert crc16(b"") == 0xFFFF


def test_request_framing_function_04_crc_low_byte_first():
    assert read_input_request(1, 0x0000, 2) == bytes.fromhex("01040000000271CB")
    f = read_input_request(0x11, 0x0156, 2)
    assert f[:6] == bytes.fromhex("110401560002")
    assert f[6:] == peer_crc(f[:6])


async def test_read_returns_register_bytes():
    peer = SerialPeer(1, {0x0000: 230.0})
    m, _ = master_for(peer)
    data = await m.read_input_registers(1, 0x0000, 2)
    assert bytes(data) == bytes.fromhex("43660000")
    assert peer.requests == [bytes.fromhex("01040000000271CB")]


async def test_direction_pin_high_while_sending_low_after_flush():
    peer = SerialPeer(1, {0x0000: 1.0})
    m, de = master_for(peer)
    await m.read_input_registers(1, 0, 2)
    kinds = [e[0] for e in peer.log]
    # DE low at start, high before the write, the write sees DE high, flush, then DE low.
    assert peer.log[0] == ("de", 0)
    i = kinds.index("write")
    assert peer.log[i - 1] == ("de", 1)
    assert peer.log[i][2] == 1
    assert kinds[i + 1] == "flush"
    assert peer.log[i + 2] == ("de", 0)
    assert de.level == 0


async def test_exception_response_raises_with_code_and_no_retry():
    peer = SerialPeer(1)
    peer.behaviour = [2]  # illegal data address
    m, _ = master_for(peer)
    e = None
    try:
        await m.read_input_registers(1, 0x9999, 2)
    except ModbusException as exc:
        e = exc
    assert e is not None and e.code == 2
    assert isinstance(e, MeterError)
    assert len(peer.requests) == 1


async def test_timeout_after_retries_is_a_meter_error():
    peer = SerialPeer(1)
    peer.behaviour = ["silent"] * 5
    m, _ = master_for(peer, timeout_ms=10, retries=2)
    try:
        await m.read_input_registers(1, 0, 2)
        raise AssertionError("a silent meter must not read as data")
    except ModbusTimeout as e:
        assert isinstance(e, MeterError)
        assert "no answer" in str(e)
    assert len(peer.requests) == 3


async def test_retry_recovers_after_one_silent_request():
    peer = SerialPeer(1, {0x0048: 12.5})
    peer.behaviour = ["silent", "ok"]
    m, _ = master_for(peer, timeout_ms=10, retries=2)
    data = await m.read_input_registers(1, 0x0048, 2)
    assert struct.unpack(">f", bytes(data))[0] == 12.5
    assert len(peer.requests) == 2


async def test_corrupt_answer_is_retried_then_reported_as_bad_crc():
    peer = SerialPeer(1, {0: 1.0})
    peer.behaviour = ["corrupt", "corrupt", "corrupt"]
    m, _ = master_for(peer, retries=2)
    try:
        await m.read_input_registers(1, 0, 2)
        raise AssertionError("corrupt answers must not be accepted")
    except ModbusTimeout as e:
        assert "bad CRC" in str(e)
    assert len(peer.requests) == 3


async def test_answer_from_another_slave_is_rejected():
    peer = SerialPeer(1, {0: 1.0})
    peer.behaviour = ["other_slave", "ok"]
    m, _ = master_for(peer, retries=1)
    data = await m.read_input_registers(1, 0, 2)
    assert bytes(data) == struct.pack(">f", 1.0)
    assert len(peer.requests) == 2


async def test_stale_bytes_are_dropped_before_a_request():
    peer = SerialPeer(1, {0: 2.0})
    peer.rxbuf.extend(b"\x01\x04\x04garbage")
    m, _ = master_for(peer)
    data = await m.read_input_registers(1, 0, 2)
    assert bytes(data) == struct.pack(">f", 2.0)


async def test_without_direction_pin():
    peer = SerialPeer(3, {0x0046: 50.0})
    m = ModbusMaster(peer, 2400, None, timeout_ms=20)
    data = await m.read_input_registers(3, 0x0046, 2)
    assert struct.unpack(">f", bytes(data))[0] == 50.0


def test_modbus_errors_are_meter_errors():
    # The exception classes are MeterError subclasses the app can catch in one place.
    assert issubclass(ModbusTimeout, MeterError)
    assert issubclass(ModbusException, MeterError)


class NoFlushUart:
    """A UART without flush() (older ports): the master waits out the frame time instead."""

    def __init__(self, peer):
        self.peer = peer

    def write(self, data):
        return self.peer.write(data)

    def any(self):
        return self.peer.any()

    def read(self, n=None):
        return self.peer.read(n)


async def test_direction_pin_without_uart_flush_waits_the_frame_time():
    import time

    peer = SerialPeer(1, {0: 1.0})
    de = DirectionPin(peer.log)
    peer.de = de
    m = ModbusMaster(NoFlushUart(peer), 9600, de, timeout_ms=20)
    t0 = time.ticks_us()
    await m.read_input_registers(1, 0, 2)
    assert time.ticks_diff(time.ticks_us(), t0) >= 9 * 1146  # 8 bytes + 1 at 9600 baud
    kinds = [e[0] for e in peer.log]
    i = kinds.index("write")
    assert peer.log[i][2] == 1 and peer.log[i + 1] == ("de", 0) and "flush" not in kinds
