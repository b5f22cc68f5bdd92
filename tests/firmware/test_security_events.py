# The security log and queue inside MicroPython (evse/ocpp/security_events.py): the bound on
# flash, the queue's bound, the time before the clock is set, torn lines, and an event that
# cannot be written never raising. Runs in a fresh folder (cwd), as the board's flash root.
import binascii
import json
import os
import sys

from evse import ocpp

DIR = ("/tmp/evse-sectest-" if sys.platform == "linux" else "sectest-") + binascii.hexlify(os.urandom(3)).decode()
HOME = os.getcwd()


def fresh():
    os.chdir(HOME)
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    os.chdir(DIR)
    for folder in ("data", "."):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for f in names:
            p = folder + "/" + f
            if os.stat(p)[0] & 0x4000:
                continue
            os.remove(p)


def event(*args, **kw):
    from evse.ocpp.security_events import event
    event(*args, **kw)


def size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def lines(path):
    try:
        with open(path) as f:
            return [json.loads(x) for x in f.read().split("\n") if x]
    except OSError:
        return []


def test_log_rotates_and_stays_bounded():
    fresh()
    for i in range(300):  # ~300 bytes a line: ~90 KB written in all
        event(None, "InvalidMessages", "%04d " % i + "x" * 250)
    assert 0 < size("data/security.jsonl") <= 8192 + 400, size("data/security.jsonl")
    assert 8192 <= size("data/security.1.jsonl") <= 8192 + 400, size("data/security.1.jsonl")
    assert sorted(os.listdir("data")) == ["security.1.jsonl", "security.jsonl"]  # none queued
    old, new = lines("data/security.1.jsonl"), lines("data/security.jsonl")
    numbers = [int(e["techInfo"][:4]) for e in old + new]
    assert numbers == list(range(numbers[0], 300)), numbers[:3]  # the newest kept, in order
    assert all(len(e["techInfo"]) <= 255 and e["type"] == "InvalidMessages" for e in old + new)


def test_queues_bounded_critical_and_sent_kinds_only():
    fresh()
    event(None, "InvalidMessages", "logged only")
    event(None, "InvalidFirmwareSignature")  # a flow sends it (TC_081)
    event(None, "CentralSystemFailedToAuthenticate", send=True)  # a caller may ask
    event(None, "StartupOfTheDevice", send=False)  # ... or not
    for _ in range(200):
        event(None, "FirmwareUpdated", "t" * 200)
    other = lines("data/secq2.jsonl")
    assert [r[0] for r in other] == ["InvalidFirmwareSignature", "CentralSystemFailedToAuthenticate"]
    q = lines("data/secq.jsonl")
    assert {r[0] for r in q} == {"FirmwareUpdated"}
    assert 4096 <= size("data/secq.jsonl") <= 4096 + 300, size("data/secq.jsonl")
    assert all(len(r) == 3 and r[1].endswith("Z") for r in q + other)
    assert lines("data/security.jsonl")[-1]["type"] == "FirmwareUpdated"  # logged when not queued


def test_kind_and_tech_info_cut_to_their_schema_lengths():
    fresh()
    event(None, "X" * 80, "y" * 400)
    e = lines("data/security.jsonl")[0]
    assert len(e["type"]) == 50 and len(e["techInfo"]) == 255 and "clockUnset" not in e


def test_before_the_clock_is_set():
    # The ESP32 after a power cut: the log has the board's time, marked; the queue has none,
    # stamped when sent
    fresh()
    ocpp.clock_set = False
    try:
        event(None, "StartupOfTheDevice", "power-up")
    finally:
        ocpp.clock_set = True
    assert lines("data/security.jsonl")[0]["clockUnset"] is True
    assert lines("data/secq.jsonl") == [["StartupOfTheDevice", None, "power-up"]]


def test_torn_last_line_does_not_swallow_the_next():
    fresh()
    if "data" not in os.listdir():
        os.mkdir("data")
    with open("data/secq.jsonl", "w") as f:
        f.write('["ResetOrReboot", nu')
    with open("data/security.jsonl", "w") as f:
        f.write('{"type": "Rese')
    event(None, "FirmwareUpdated")
    with open("data/secq.jsonl") as f:
        assert f.read().split("\n")[1].startswith('["FirmwareUpdated"')
    with open("data/security.jsonl") as f:
        assert json.loads(f.read().split("\n")[1])["type"] == "FirmwareUpdated"


def test_an_event_that_cannot_be_written_never_raises():
    fresh()
    try:
        os.rmdir("data")
    except OSError:
        pass
    with open("data", "w") as f:  # a file where the folder should be: every write fails
        f.write("x")
    try:
        event(None, "TamperDetectionActivated")
    finally:
        os.remove("data")


def test_sender_takes_the_oldest_whole_line_and_removes_it():
    from evse.ocpp.operations.SecurityEventNotification import first, remove
    fresh()
    event(None, "ResetOrReboot", "a")
    with open("data/secq.jsonl", "a") as f:
        f.write('["Torn", nu\n')
    event(None, "SettingSystemTime", "b")
    event(None, "FirmwareUpdated", "c")
    sent = []
    while True:
        found = first("data/secq.jsonl")
        if found is None:
            break
        sent.append(found[1][2])
        remove("data/secq.jsonl", found[0])
    assert sent == ["a", "b", "c"]
    assert "secq.jsonl" not in os.listdir("data")


def test_booted_raises_startup_unless_a_reset_comes_before():
    from evse.ocpp.security_events import booted
    fresh()
    ocpp.state[1] = 0
    booted()
    assert [e["type"] for e in lines("data/security.jsonl")] == ["StartupOfTheDevice"]
    assert ocpp.state[1] == 1  # the sender is told
    event(None, "ResetOrReboot", "Hard reset by the central system")
    from evse.ocpp.security_events import booted
    booted()  # the boot after that Reset: StartupOfTheDevice logged, not sent
    assert [(e["type"], e["techInfo"]) for e in lines("data/security.jsonl")][1:] == [
        ("ResetOrReboot", "Hard reset by the central system"), ("StartupOfTheDevice", "after a reset")]
    from evse.ocpp.security_events import booted
    booted()  # the next power-up
    assert [e["type"] for e in lines("data/security.jsonl")][-1] == "StartupOfTheDevice"
    assert [r[0] for r in lines("data/secq.jsonl")] == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]


class _Sent:
    def __init__(self):
        self.sent = []

    async def send(self, text):
        self.sent.append(json.loads(text))


async def test_rpc_notes_memory_errors_and_invalid_calls_the_sender_raises_them_rate_limited():
    # MemoryExhaustion (critical: queued) for a CALL answered InternalError for want of heap;
    # InvalidMessages (logged only) for CALLs that are no valid OCPP message, one line per
    # minute whatever their number
    from evse.ocpp.operations.SecurityEventNotification import _noted
    from evse.ocpp.rpc import Rpc
    fresh()
    st = ocpp.state
    st[3] = st[4] = 0

    async def dispatch(action, payload):
        if action == "Big":
            raise MemoryError
        from evse.ocpp.rpc import CallError
        raise CallError("NotImplemented", action)

    conn = _Sent()
    r = Rpc(conn, dispatch)
    await r.handle('[2, "m1", "Big", {}]')
    await r.handle('[2, "u1", "Unknown", {}]')  # NotImplemented: no invalid message
    assert st[3] == 1 and st[4] == 0
    for i in range(50):
        await r.handle('[2, "x%d", ' % i)
    await r.handle('[2, 7, "Reset", {}]')
    assert st[4] == 51 and st[5] == "FormationViolation"
    assert [m[2] for m in conn.sent[:2]] == ["InternalError", "NotImplemented"] and len(conn.sent) == 53
    _noted(st)
    assert st[3] == 0 and st[4] == 0
    log = lines("data/security.jsonl")
    assert [e["type"] for e in log] == ["MemoryExhaustion", "InvalidMessages"]
    assert log[1]["techInfo"] == "51 invalid CALL(s), the last answered FormationViolation"
    assert [q[0] for q in lines("data/secq.jsonl")] == ["MemoryExhaustion"]
    assert "secq2.jsonl" not in os.listdir("data")  # InvalidMessages is logged, not sent
    for i in range(20):
        await r.handle('[2, "y%d", ' % i)
    _noted(st)  # within the minute: counted, not written
    assert st[4] == 20 and len(lines("data/security.jsonl")) == 2


def test_clock_steps_noted_only_for_corrections():
    # the first setting after a power cut (clock not set yet) is the start-up's, not a
    # SettingSystemTime; a later correction is noted with its size (s), and the sender writes
    # it only past a minute
    from evse.ocpp.operations.SecurityEventNotification import _noted
    fresh()
    st = ocpp.state
    was, st[2] = st[0], 0
    ocpp.clock_set = False
    try:
        ocpp.set_time("2031-01-01T00:00:00Z")
        assert st[2] == 0 and ocpp.clock_set
        ocpp.set_time("2031-01-01T02:00:00Z")
        assert 7199 <= st[2] <= 7201
        _noted(st)
        assert st[2] == 0
        ocpp.set_time("2031-01-01T02:00:30Z")  # 30 s: noted, not an event
        _noted(st)
    finally:
        st[0], st[2] = was, 0
    log = lines("data/security.jsonl")
    assert [e["type"] for e in log] == ["SettingSystemTime"]
    assert log[0]["techInfo"].startswith("from 2031-01-01T00:00:0") and " to 2031-01-01T02:00:0" in log[0]["techInfo"]
