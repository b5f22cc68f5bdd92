# Modbus RTU master over a UART, for RS485 energy meters.
#
# Hand-written because micropython-lib has no Modbus package, and a meter needs one request
# type: function 04 (read input registers). The UART and the RS485 direction pin are passed
# in; on a board with an auto-direction transceiver `de` is None.
import asyncio
import time

from evse.hal import MeterError

_FN_READ_INPUT = const(0x04)
_POLL_MS = const(2)


class ModbusError(MeterError):
    pass


class ModbusTimeout(ModbusError):
    pass


class ModbusException(ModbusError):
    """The slave answered with an exception code (1 illegal function, 2 illegal address...)."""

    def __init__(self, address, function, code):
        super().__init__("slave %d function %d exception %d" % (address, function, code))
        self.code = code


def crc16(data, n=None):
    """Modbus CRC-16: polynomial 0xA001 (reflected 0x8005), initial 0xFFFF; sent low byte first."""
    crc = 0xFFFF
    for i in range(len(data) if n is None else n):
        crc ^= data[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def read_input_request(address, register, count):
    """The 8-byte function-04 request frame."""
    f = bytearray(8)
    f[0] = address
    f[1] = _FN_READ_INPUT
    f[2] = register >> 8
    f[3] = register & 0xFF
    f[4] = count >> 8
    f[5] = count & 0xFF
    c = crc16(f, 6)
    f[6] = c & 0xFF
    f[7] = c >> 8
    return f


class ModbusMaster:
    """One master per RS485 bus; requests from several meters on the bus are serialised.

    `timeout_ms` is the wait for a complete answer, `retries` extra attempts after a timeout or
    a corrupt answer (an exception answer is final). Raises ModbusTimeout/ModbusException,
    both MeterError."""

    def __init__(self, uart, baud=9600, de=None, timeout_ms=300, retries=2):
        self._uart = uart
        self._de = de
        self._char_us = 11 * 1000000 // baud + 1  # start + 8 data + parity/stop bits
        self.timeout_ms = timeout_ms
        self.retries = retries
        self._lock = asyncio.Lock()
        self._rx = bytearray(5 + 2 * 125)  # largest function-04 answer
        if de is not None:
            de.value(0)

    def _send(self, frame):
        u, de = self._uart, self._de
        while u.any():  # drop stale bytes (a late answer to an earlier request)
            u.read()
        if de is not None:
            de.value(1)
        u.write(frame)
        if de is not None:
            if hasattr(u, "flush"):
                u.flush()  # returns when the last byte has left the FIFO, not the shift register
                time.sleep_us(self._char_us)
            else:
                time.sleep_us(self._char_us * (len(frame) + 1))
            de.value(0)

    async def _receive(self, address, expect):
        """Collect an answer of `expect` bytes (5 for an exception). Returns its length, 0 on
        timeout."""
        u, rx = self._uart, self._rx
        got = 0
        t0 = time.ticks_ms()
        while True:
            n = u.any()
            if n:
                chunk = u.read(min(n, len(rx) - got))
                if chunk:
                    rx[got:got + len(chunk)] = chunk
                    got += len(chunk)
                if got >= 2 and rx[1] & 0x80:
                    expect = 5
                if got >= expect:
                    return got
            if time.ticks_diff(time.ticks_ms(), t0) >= self.timeout_ms:
                return 0
            await asyncio.sleep_ms(_POLL_MS)

    async def read_input_registers(self, address, register, count):
        """-> memoryview of 2 * count bytes (big-endian registers), valid until the next call."""
        frame = read_input_request(address, register, count)
        expect = 5 + 2 * count
        rx = self._rx
        async with self._lock:
            why = "no answer"
            for _ in range(1 + self.retries):
                self._send(frame)
                got = await self._receive(address, expect)
                if not got:
                    why = "no answer in %d ms" % self.timeout_ms
                    continue
                n = 5 if rx[1] & 0x80 else expect
                c = crc16(rx, n - 2)
                if rx[n - 2] != c & 0xFF or rx[n - 1] != c >> 8:
                    why = "bad CRC"
                    continue
                if rx[0] != address:
                    why = "answer from slave %d" % rx[0]
                    continue
                if rx[1] == _FN_READ_INPUT | 0x80:
                    raise ModbusException(address, _FN_READ_INPUT, rx[2])
                if rx[1] != _FN_READ_INPUT or rx[2] != 2 * count:
                    why = "malformed answer"
                    continue
                return memoryview(rx)[3:3 + 2 * count]
            raise ModbusTimeout("slave %d register 0x%04x: %s" % (address, register, why))
