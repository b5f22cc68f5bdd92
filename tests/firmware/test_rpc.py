# OCPP-J framing and error answers of the RPC layer, over an in-memory connection.
import asyncio
import json

from evse.ocpp import rpc
from evse.ocpp.rpc import CallError, Rpc


class Pipe:
    """The transport: frames the peer sends come out of recv(); what we send is kept."""

    def __init__(self):
        self.inbox = []
        self.sent = []
        self.raw = []  # the text of each frame sent, as it went out
        self.ev = asyncio.Event()

    def feed(self, obj):
        self.inbox.append(obj if type(obj) is str else json.dumps(obj))
        self.ev.set()

    def close(self):
        self.inbox.append(None)
        self.ev.set()

    async def recv(self):
        while not self.inbox:
            self.ev.clear()
            await self.ev.wait()
        return self.inbox.pop(0)

    async def send(self, text):
        self.raw.append(text)
        self.sent.append(json.loads(text))


async def echo(action, payload):
    if action == "Echo":
        return payload
    if action == "Boom":
        raise KeyError("x")
    if action == "Known":
        raise CallError(rpc.NOT_SUPPORTED, "")
    if action == "Check":
        if type(payload.get("n")) is not int:  # a handler's own check, as an operation raises it
            raise CallError(rpc.TYPE, "n")
        return {}
    raise CallError(rpc.NOT_IMPLEMENTED, action)


async def answers(frames, raw=False):
    pipe = Pipe()
    r = Rpc(pipe, echo)
    task = asyncio.create_task(r.run())
    for f in frames:
        pipe.feed(f)
    pipe.close()
    await task
    return (pipe.sent, pipe.raw) if raw else pipe.sent


def valid_utf8(text):
    """No UTF-16 surrogate encoded as UTF-8 (ED A0..BF xx): the invalid form MicroPython's
    json makes of escaped surrogates. Text that came out of json is otherwise well formed."""
    b = text.encode()
    i = b.find(b"\xed")
    while i >= 0:
        if 0xA0 <= b[i + 1] <= 0xBF:
            return False
        i = b.find(b"\xed", i + 1)
    return True


async def test_call_is_answered_with_callresult():
    sent = await answers([[2, "a1", "Echo", {"x": 1}]])
    assert sent == [[3, "a1", {"x": 1}]]


async def test_unknown_action_is_not_implemented():
    sent = await answers([[2, "a2", "Frobnicate", {}]])
    assert sent[0][:3] == [4, "a2", "NotImplemented"] and sent[0][4] == {}


async def test_known_unsupported_is_not_supported():
    sent = await answers([[2, "a3", "Known", {}]])
    assert sent == [[4, "a3", "NotSupported", "", {}]]


async def test_bad_json_is_formation_violation():
    sent = await answers(["[2, \"x\", ", "{}", "[2]", "[]"])
    assert [s[2] for s in sent] == ["FormationViolation"] * 4
    assert sent[0][1] == ""


async def test_only_the_integers_2_3_4_are_message_types():
    """OCPP-J 1.6 4.1.3: "When a server receives a message with a Message Type Number not in
    this list, it SHALL ignore the message payload." 2.0 is not the integer 2."""
    sent = await answers(["[2.0, \"a\", \"Echo\", {}]", "[true, \"b\", \"Echo\", {}]",
                          "[\"2\", \"c\", \"Echo\", {}]", "[9, \"d\", 1]", "[3.0, \"e\", {}]",
                          "[null, \"f\", \"Echo\", {}]", "[2, \"g\", \"Echo\", {}]"])
    assert sent == [[3, "g", {}]]


async def test_ids_outside_the_bmp_are_echoed_exactly():
    # An escaped surrogate pair is one character (U+1F600); the answer carries it, valid UTF-8.
    sent, raw = await answers(["[2, \"\\ud83d\\ude00\", \"Echo\", {\"k\": \"a\\uD83D\\uDE00b\"}]",
                               "[2, \"\U0001F600x\", \"Echo\", {}]"], raw=True)
    assert sent[0] == [3, "\U0001F600", {"k": "a\U0001F600b"}]
    assert sent[1] == [3, "\U0001F600x", {}]
    assert all(valid_utf8(t) for t in raw)


async def test_lone_surrogates_never_go_out_as_invalid_utf8():
    # An unknown action is echoed in the CALLERROR's description: a lone escaped surrogate in
    # it (or in the id) becomes U+FFFD, so the board never sends invalid UTF-8.
    sent, raw = await answers(["[2, \"x\", \"Bad\\ud800\", {}]", "[2, \"\\udc00\", \"Echo\", {}]",
                               "[2, \"y\", \"Bad\\ud83d\\u0041\", {}]"], raw=True)
    assert sent[0] == [4, "x", "NotImplemented", "Bad\ufffd", {}]
    assert sent[1] == [3, "\ufffd", {}]
    assert sent[2][3] == "Bad\ufffdA"
    assert all(valid_utf8(t) for t in raw)


async def test_escaped_backslash_before_u_is_no_escape():
    sent = await answers(["[2, \"a\\\\ud83d\", \"Echo\", {\"k\": \"\\\\\\ud83d\\ude00\"}]",
                          "[2, \"b\\u00e9\\u\", \"Echo\", {}]"])
    assert sent[0] == [3, "a\\ud83d", {"k": "\\\U0001F600"}]
    assert sent[1][2] == "FormationViolation"  # a broken escape stays broken: bad json


async def test_call_frame_shape_is_checked():
    long_id = "x" * 37
    sent = await answers([[2, long_id, "Echo", {}], [2, "b", "Echo", []], [2, 5, "Echo", {}],
                          [2, "c", 5, {}], [2, "d", "Echo"]])
    assert [s[2] for s in sent] == ["FormationViolation"] * 5
    assert sent[0][1] == "" and sent[1][1] == "b"


async def test_a_handlers_callerror_goes_out_with_its_code():
    # Payload codes come from the schema check (test_schema.py); an operation's own CallError
    # reaches the peer with its code and the CALL's id.
    sent = await answers([[2, "1", "Check", {"n": "1"}], [2, "2", "Check", {"n": 1}]])
    assert sent[0][:3] == [4, "1", "TypeConstraintViolation"]
    assert sent[1] == [3, "2", {}]


async def test_handler_crash_is_internal_error():
    sent = await answers([[2, "z", "Boom", {}], [2, "y", "Echo", {}]])
    assert sent[0][2] == "InternalError" and sent[1] == [3, "y", {}]


async def test_muted_answers_nothing():
    pipe = Pipe()
    r = Rpc(pipe, echo)
    r.mute = True
    task = asyncio.create_task(r.run())
    pipe.feed([2, "m", "Echo", {}])
    pipe.feed("garbage")
    pipe.close()
    await task
    assert pipe.sent == []


async def test_call_result_and_incoming_call_meanwhile():
    pipe = Pipe()
    r = Rpc(pipe, echo)
    task = asyncio.create_task(r.run())
    call = asyncio.create_task(r.call("Heartbeat", {}))
    await asyncio.sleep_ms(0)
    mid = pipe.sent[0][1]
    assert pipe.sent[0] == [2, mid, "Heartbeat", {}] and len(mid) <= 36
    pipe.feed([2, "cs1", "Echo", {"k": 2}])  # the central system calls while ours is open
    await asyncio.sleep_ms(0)
    await asyncio.sleep_ms(0)
    assert pipe.sent[1] == [3, "cs1", {"k": 2}]
    pipe.feed([3, "other", {}])  # not ours: ignored
    pipe.feed([3, mid, {"currentTime": "2026-11-26T00:33:07Z"}])
    assert await call == {"currentTime": "2026-11-26T00:33:07Z"}
    pipe.close()
    await task


async def test_one_outstanding_call_at_a_time():
    pipe = Pipe()
    r = Rpc(pipe, echo)
    task = asyncio.create_task(r.run())
    c1 = asyncio.create_task(r.call("A", {}))
    c2 = asyncio.create_task(r.call("B", {}))
    for _ in range(3):
        await asyncio.sleep_ms(0)
    assert [s[2] for s in pipe.sent] == ["A"]
    pipe.feed([3, pipe.sent[0][1], {}])
    await c1
    for _ in range(3):
        await asyncio.sleep_ms(0)
    assert [s[2] for s in pipe.sent] == ["A", "B"]
    assert pipe.sent[0][1] != pipe.sent[1][1]
    pipe.feed([4, pipe.sent[1][1], "GenericError", "no", {}])
    e = None
    try:
        await c2
    except CallError as x:
        e = x
    assert e is not None and e.code == "GenericError"
    pipe.close()
    await task


async def test_call_times_out():
    pipe = Pipe()
    r = Rpc(pipe, echo, timeout_s=0.05)
    task = asyncio.create_task(r.run())
    e = None
    try:
        await r.call("A", {})
    except asyncio.TimeoutError as x:  # noqa: UP041 - MicroPython has no builtin TimeoutError
        e = x
    assert e is not None
    pipe.close()
    await task


async def test_call_fails_when_connection_closes():
    pipe = Pipe()
    r = Rpc(pipe, echo)
    task = asyncio.create_task(r.run())
    c = asyncio.create_task(r.call("A", {}))
    await asyncio.sleep_ms(0)
    pipe.close()
    await task
    e = None
    try:
        await c
    except OSError as x:
        e = x
    assert e is not None
    try:
        await r.call("B", {})
    except OSError:
        return
    raise AssertionError("call on a closed connection")


async def test_answer_breaking_its_schema_is_a_callerror_for_the_caller():
    # A CALLRESULT is an incoming payload too: one that breaks <Action>Response's official
    # schema reaches the caller as a CallError, the path of a CALLERROR answer (a transaction
    # message is then retried: transactions.py); only a property the schema does not list is
    # let through (a central system's vendor field must not keep a charger from registering).
    pipe = Pipe()
    r = Rpc(pipe, echo)
    task = asyncio.create_task(r.run())
    results = []
    for action, answer in (("StartTransaction", {"idTagInfo": {"status": "Accepted"}, "transactionId": "7"}),
                           ("StartTransaction", {"idTagInfo": {"status": "Accepted"}}),
                           ("Heartbeat", {"currentTime": "noon"}),
                           ("StatusNotification", {"extra": 1}),
                           ("StartTransaction", {"idTagInfo": {"status": "Accepted"}, "transactionId": 7}),
                           ("Unchecked", {"anything": None})):
        c = asyncio.create_task(r.call(action, {}))
        await asyncio.sleep_ms(0)
        pipe.feed([3, pipe.sent[-1][1], answer])
        try:
            results.append(await c)
        except CallError as e:
            results.append((e.code, e.description))
    assert results == [("TypeConstraintViolation", "transactionId"),
                       ("OccurenceConstraintViolation", "transactionId"),
                       ("PropertyConstraintViolation", "currentTime"),
                       {"extra": 1},  # a vendor's field does not void an answer
                       {"idTagInfo": {"status": "Accepted"}, "transactionId": 7},
                       {"anything": None}]  # no schema for it: nothing to check against
    pipe.close()
    await task


async def test_a_frame_too_deep_for_the_heap_is_answered_not_fatal():
    # A frame within the size limit can nest deeper than the heap holds: json.loads raises
    # MemoryError (the hostile suite sends real ones at the board's heap, tests/ocpp); here the
    # parser's failure is injected, to pin down what the RPC makes of it: a CALL is answered
    # FormationViolation with its id read off the text, an answer frame ("[ 4, ...") is
    # dropped, other junk ("[[[[...") answered FormationViolation with an empty id as unreadable
    # JSON is; the connection lives on.
    real = rpc.json

    class DeepFails:
        @staticmethod
        def loads(text):
            if text.startswith("[ 2") or text.count("[") > 50:
                raise MemoryError
            return real.loads(text)

        dumps = real.dumps

    rpc.json = DeepFails
    try:
        deep = "[" * 60 + "]" * 60
        sent = await answers(['[ 2 ,\t"d1", "ClearCache", {"x": %s}]' % deep,
                              '[2, "d\\u00e9", "ClearCache", {"x": %s}]' % deep,
                              '[3, "d3", {"x": %s}]' % deep,
                              '[2, "%s", "ClearCache", {"x": %s}]' % ("i" * 37, deep),
                              " [ 4, " + deep,
                              "[" * 60,  # unterminated: junk, answered like unreadable JSON
                              [2, "after", "Echo", {}]])
    finally:
        rpc.json = real
    assert sent == [[4, "d1", "FormationViolation", "nested too deep", {}],
                    [4, "", "FormationViolation", "nested too deep", {}],
                    [4, "", "FormationViolation", "nested too deep", {}],
                    [4, "", "FormationViolation", "nested too deep", {}],
                    [3, "after", {}]], sent
