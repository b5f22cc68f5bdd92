# OCPP-J RPC: CALL [2,id,action,payload], CALLRESULT [3,id,payload],
# CALLERROR [4,id,code,description,details]. One outstanding CALL of our own at a time; the
# central system's CALLs are answered meanwhile. Knows nothing about charging: incoming CALLs go
# to `dispatch(action, payload)`, which returns the response payload or raises CallError.
# Error codes keep the OCPP 1.6 spellings ("FormationViolation", "OccurenceConstraintViolation").
import gc
import json

import asyncio
from evse import drop
from evse.ocpp import state
from evse.ocpp.schema import fault

NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
_INTERNAL = const("InternalError")
_PROTOCOL = const("ProtocolError")
_SECURITY = const("SecurityError")
_FORMATION = const("FormationViolation")
PROPERTY = "PropertyConstraintViolation"
OCCURENCE = "OccurenceConstraintViolation"
TYPE = "TypeConstraintViolation"
_GENERIC = const("GenericError")

_MAX_ID = const(36)
_seq = [0]  # messageIds count on across connections, so no id repeats within a boot


class CallError(Exception):
    # Raised by handlers to answer a CALLERROR; raised by call() when the peer answered one.
    def __init__(self, code, description=""):
        super().__init__(code, description)
        self.code = code
        self.description = description


def _call_id(text):
    """The messageId of a CALL read off its text (`[2, "id", ...`), for a frame the parser could
    not hold: "" when it has escapes or is too long to echo, None when the frame is no CALL."""
    i = text.find('"')
    if i < 0 or "".join(text[:i].split()) != "[2,":
        return None
    j = text.find('"', i + 1)
    mid = text[i + 1:j]
    return mid if j > 0 and "\\" not in mid and len(mid) <= _MAX_ID else ""


class Rpc:
    def __init__(self, conn, dispatch, timeout_s=30):
        self.conn = conn  # async send(str), async recv() -> str, None when closed
        self.dispatch = dispatch
        self.timeout_s = timeout_s
        self.mute = False  # BootNotification Rejected: answer nothing
        self.closed = False
        self._wait = None  # [messageId, Event, result, CallError]
        self._call_lock = asyncio.Lock()
        self._send_lock = asyncio.Lock()

    async def _send(self, frame):
        async with self._send_lock:
            await self.conn.send(json.dumps(frame))

    async def call(self, action, payload, timeout_s=None):
        """Send a CALL and return the CALLRESULT payload. Raises CallError (the peer's CALLERROR,
        or an answer that breaks its official schema: the same for the caller, so a transaction
        message is retried), asyncio.TimeoutError (no answer) or OSError (connection gone)."""
        async with self._call_lock:
            if self.closed:
                raise OSError("closed")
            _seq[0] += 1
            mid = str(_seq[0])
            w = self._wait = [mid, asyncio.Event(), None, None]
            try:
                await self._send([2, mid, action, payload])
                await asyncio.wait_for(w[1].wait(), timeout_s or self.timeout_s)
            finally:
                self._wait = None
            if w[3] is not None:
                raise w[3]
            if w[2] is None:
                raise OSError("closed")
        try:
            f = fault(action + "Response", w[2])
        except ImportError:  # no schema generated for it (host_tools/ocpp_schemas.OWN_CALLS)
            f = None
        except MemoryError:
            f = (_INTERNAL, "no memory to check the answer")
        # A property its schema does not list (a vendor's field) does not void an answer: what
        # the board reads from it has been checked, and refusing it would keep a charger from
        # ever registering with such a central system. Anything else does.
        if f and f[0] != _FORMATION:
            raise CallError(f[0], f[1])
        return w[2]

    async def run(self):
        """Read frames until the connection closes (recv() returns None or raises); bad input
        is answered, never raised."""
        try:
            while True:
                text = await self.conn.recv()
                if text is None:
                    break
                await self.handle(text)
        finally:
            self.closed = True
            w = self._wait
            if w:
                w[1].set()

    async def handle(self, text):
        mid = ""
        try:
            if "\\u" in text:  # one scan of a normal frame; escapes are rare, so is their module
                try:
                    from evse.ocpp.utf16 import surrogates
                    text = surrogates(text)
                except MemoryError:
                    state[3] += 1  # MemoryExhaustion (operations/SecurityEventNotification.py)
                    raise CallError(_INTERNAL, "no memory") from None
                finally:
                    drop("evse.ocpp.utf16")
            try:
                msg = json.loads(text)
            except ValueError:
                raise CallError(_FORMATION, "bad json") from None
            except MemoryError:
                # A frame within the size limit can nest deeper than the heap holds (thousands
                # of "["); no 1.6 payload nests more than a few levels, so it breaks the PDU's
                # structure. What the parser built is garbage now: collected at once.
                gc.collect()
                mid = _call_id(text)
                if mid is None:
                    # An answer (a CALLRESULT or CALLERROR: "[3", "[4") is dropped, as a late
                    # one is; anything else is answered as unreadable JSON is ("[[[[...": a
                    # bigger heap would have found it unterminated, and answered "bad json").
                    k = text.find("[") + 1
                    while 0 < k < len(text) and text[k] in " \t\r\n":
                        k += 1
                    if 0 < k < len(text) and text[k] in "34":
                        return
                    mid = ""
                raise CallError(_FORMATION, "nested too deep") from None
            if type(msg) is not list or not msg:
                raise CallError(_FORMATION, "not an OCPP-J frame")
            kind = msg[0]
            # OCPP-J 1.6 4.1.3: "When a server receives a message with a Message Type Number not
            # in this list, it SHALL ignore the message payload." The numbers are the integers
            # 2, 3 and 4: 2.0, true or "2" is none of them (2.0 == 2 in Python: hence the type).
            if type(kind) is not int or not 2 <= kind <= 4:
                return
            if len(msg) < 3:
                raise CallError(_FORMATION, "not an OCPP-J frame")
            if type(msg[1]) is str and len(msg[1]) <= _MAX_ID:
                mid = msg[1]
            else:
                raise CallError(_FORMATION, "messageId")
            if kind == 2:
                if len(msg) != 4 or type(msg[2]) is not str or type(msg[3]) is not dict:
                    raise CallError(_FORMATION, "CALL frame")
                if self.mute:
                    return
                try:
                    result = await self.dispatch(msg[2], msg[3])
                except CallError:
                    raise
                except Exception as e:  # noqa: BLE001 - a handler bug becomes a CALLERROR, not a crash
                    if type(e) is MemoryError:
                        state[3] += 1  # MemoryExhaustion (operations/SecurityEventNotification.py)
                    raise CallError(_INTERNAL, repr(e)[:60]) from None
                await self._send([3, mid, result])
            elif kind == 3 or kind == 4:
                w = self._wait
                if w is None or w[0] != mid:
                    return  # late or unknown answer: the CALL already timed out
                if kind == 3 and len(msg) == 3 and type(msg[2]) is dict:
                    w[2] = msg[2]
                elif kind == 4 and len(msg) >= 4:
                    w[3] = CallError(msg[2], msg[3] if len(msg) > 3 else "")
                else:
                    w[3] = CallError(_FORMATION, "bad answer frame")
                w[1].set()
        except CallError as e:
            if e.code not in (NOT_IMPLEMENTED, NOT_SUPPORTED, _INTERNAL):
                state[4] += 1  # no valid OCPP message: InvalidMessages, written rate-limited
                state[5] = e.code  # (operations/SecurityEventNotification.py)
            await self._answer_error(mid, e.code, e.description)

    async def _answer_error(self, mid, code, description):
        if not self.mute:
            await self._send([4, mid, code, str(description), {}])
