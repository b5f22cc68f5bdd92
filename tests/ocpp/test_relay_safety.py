"""Relay safety: an exception injected into each of the firmware's tasks, in the real firmware.

Each test boots the firmware through a main.py of its own that wraps one method of the firmware
so that it raises while a file `fault` is in the flash folder (once: the file goes with the first
hit; always: until the test removes it), then runs the firmware's own main.py unchanged. Nothing
in the firmware knows about it. The test arms the fault at the moment it wants (while charging:
the EV plugged and a transaction running) and checks what the issue asks for:

- every relay open (the simulated relay's coil, read through the control port) when the error
  is in the path that closes or keeps a relay closed: the connector's poll, its meter, a state
  change, the transaction's bookkeeping, the hardware loop;
- the state reported to the central system honest: Faulted with errorCode InternalError, the
  transaction stopped with reason Other (OCPP 1.6: Faulted, "not available for energy
  delivery"; InternalError, "error in internal hard- or software component");
- the board reachable over its serial port: the console answers "#evse? NONCE" (host_tools'
  board_probe.py question) on the interpreter's stdin;
- after the fault clears, a new session charges;
- a task outside the relay path (the OCPP connection, the console, the simulated EV's control
  server, the display) outlives its error, and charging goes on as it does offline.

64-bit only: what is tested is control flow, not integer or pointer size.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from tests.ocpp.conftest import Firmware, Station, frame_problems
from tests.ocpp.test_core_profile import start_charging
from tests.ocpp.test_offline_journal import assert_no_duplicates, tx_order

# The boot of these tests: wrap one method, then the firmware's own main.py (copied as
# firmware_main.py), unchanged. {target} is "module:Class.method" or "module:function".
_MAIN = '''\
import os
import sys

TARGET = "{target}"
ALWAYS = {always}
mod, _, attr = TARGET.partition(":")
__import__(mod)
owner = sys.modules[mod]
if "." in attr:
    cls, attr = attr.split(".")
    owner = getattr(owner, cls)
orig = getattr(owner, attr)


def hit():
    try:
        os.stat("fault")
    except OSError:
        return False
    if not ALWAYS:
        os.remove("fault")
    print("fault injected", TARGET)
    return True


def sync(*a):
    if hit():
        raise RuntimeError("injected fault")
    return orig(*a)


async def coro(*a):
    if hit():
        raise RuntimeError("injected fault")
    return await orig(*a)


setattr(owner, attr, coro if {is_async} else sync)
import firmware_main
'''


class ProbedFirmware(Firmware):
    """The firmware with a pipe on its stdin: the serial console host tools ask."""

    def __init__(self, flash, lib, micropython=None):
        super().__init__(flash, lib, micropython=micropython, stdin=True)

    async def probe(self, timeout=2.0):
        """Ask "#evse? NONCE" on stdin as board_probe.py does; the answer's JSON, None if none."""
        nonce = secrets.token_hex(4)
        self.proc.stdin.write(f"\r#evse? {nonce}\r\n".encode())
        await self.proc.stdin.drain()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for line in self.lines:
                if line.startswith("#evse ") and nonce in line:
                    return json.loads(line[6:])
            await asyncio.sleep(0.05)
        return None

    async def reachable(self, timeout=10.0):
        """The console answers (asked again until `timeout`: a board may be restarting)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            if self.proc and self.proc.returncode is None:
                try:
                    answer = await self.probe(1.0)
                except (BrokenPipeError, ConnectionResetError):
                    answer = None
                if answer and "connectors" in answer:
                    return answer
            await asyncio.sleep(0.2)
        raise AssertionError("the console did not answer #evse?; last lines:\n" + "\n".join(self.lines[-30:]))


class FaultStation(Station):
    def __init__(self, tmp, lib, micropython, target, is_async=False, always=False):
        super().__init__(tmp, lib, micropython)
        self.fw = ProbedFirmware(tmp, lib, micropython=micropython)
        self.main = _MAIN.format(target=target, always=always, is_async=is_async)

    def write_config(self, connectors=1, ocpp_keys=None, sim=None):
        super().write_config(connectors, ocpp_keys, sim)
        (self.tmp / "main.py").rename(self.tmp / "firmware_main.py")
        (self.tmp / "main.py").write_text(self.main)

    def arm(self):
        (self.tmp / "fault").write_text("")

    def disarm(self):
        (self.tmp / "fault").unlink(missing_ok=True)

    async def relays(self):
        return [c["relay_closed"] for c in (await self.sim(cmd="state"))["connectors"]]

    async def hit(self, n=1, timeout=10.0):
        await self.fw.wait_log(r"fault injected", n=n, timeout=timeout)


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit only (see the module's docstring)."""
    return request.param


@pytest.fixture
async def stations(tmp_path, firmware_lib, micropython):
    """Like conftest's `station`, for a FaultStation; crash lines are the test's to judge."""
    made = []

    def make(target, is_async=False, always=False):
        st = FaultStation(tmp_path, firmware_lib, micropython, target, is_async, always)
        made.append(st)
        return st

    yield make
    for st in made:
        await st.close()
        problems = frame_problems(st.server.frames)
        assert not problems, "frames that break the OCPP 1.6 schemas:\n" + "\n".join(problems)


def no_crash(st):
    crashed = [line for line in st.fw.lines if "crash" in line or "Traceback" in line]
    assert not crashed, "firmware crashed:\n" + "\n".join(st.fw.lines[-60:])


async def tripped(st, tid, connector=1, n=1):
    """The connector's fault as the issue wants it seen: relay open, Faulted InternalError, the
    transaction stopped (Other), a log line."""
    srv = st.server
    await srv.wait_msg("StatusNotification", n=n, connector_id=connector, status="Faulted",
                       error_code="InternalError")
    assert (await st.relays())[connector - 1] is False
    stop = await srv.wait_msg("StopTransaction", transaction_id=tid)
    assert stop["reason"] == "Other"
    assert st.fw.log_matches(rf"connector error connector={connector} ")


async def serves_again(st, tag="TAG2", connector=1):
    """After the fault cleared: back to a state that serves, and a new session charges."""
    srv = st.server

    def latest():
        mine = [s["status"] for s in srv.actions("StatusNotification") if s["connector_id"] == connector]
        return mine and mine[-1] in ("Finishing", "Preparing", "Available")

    await srv.wait(latest, timeout=10, what="the fault cleared")
    await st.plug(connector, False)
    tid = await start_charging(st, tag, connector)
    assert (await st.relays())[connector - 1] is True
    assert await st.remote_stop(tid) == "Accepted"
    await srv.wait_msg("StopTransaction", transaction_id=tid)
    assert (await st.relays())[connector - 1] is False
    return tid


async def charging(st, **kw):
    await st.start(**kw)
    await st.booted()
    tid = await start_charging(st)
    assert (await st.relays())[0] is True
    return tid


# -- the connector's path: each error opens the relay -----------------------------------------

@pytest.mark.parametrize("target,is_async", [
    ("evse.hal.sim:SimMeter.read", True),  # the meter read (not a MeterError: a driver bug)
    ("evse.ocpp.transactions:Transactions.sample", False),  # the transaction's bookkeeping
    ("evse.ocpp.transactions:Port.poll", True),  # the connector's poll
], ids=["meter-read", "bookkeeping", "poll"])
async def test_error_in_the_connectors_path_opens_the_relay(stations, target, is_async):
    st = stations(target, is_async)
    tid = await charging(st)
    st.arm()
    await st.hit()
    await tripped(st, tid)
    await st.fw.reachable()
    await serves_again(st)
    assert tx_order(st.server)[-1][0] == "StopTransaction"
    await assert_no_duplicates(st.server)
    no_crash(st)


async def test_error_in_a_state_change_opens_the_relay(stations):
    """A StatusNotification that cannot be queued (the state change of the EV pausing)."""
    st = stations("evse.ocpp.availability:Availability.report")
    tid = await charging(st)
    st.arm()
    await st.sim(cmd="power", connector=1, power_w=0)  # Charging -> SuspendedEV: a state change
    await st.hit()
    await tripped(st, tid)
    await st.sim(cmd="power", connector=1, power_w=7400)
    await serves_again(st)
    no_crash(st)


async def test_error_that_stays_keeps_the_relay_open_until_it_clears(stations):
    """The bookkeeping fails at every sample: the connector stays Faulted, the relay open, the
    rest of the charger runs, and once the error is gone the connector serves again."""
    st = stations("evse.ocpp.transactions:Transactions.sample", always=True)
    tid = await charging(st)
    st.arm()
    await st.hit()
    await tripped(st, tid)
    # no transaction, no sample: after 3 s without an error the connector serves again
    await st.server.wait_status(1, "Finishing")
    assert (await st.relays())[0] is False
    await st.fw.reachable()
    # a new start while the error is still there: it trips again at its first sample
    await st.plug(1, False)
    tid2 = await start_charging(st, "TAG3")
    await tripped(st, tid2, n=2)
    st.disarm()
    await serves_again(st)
    no_crash(st)


async def test_error_after_the_start_is_journaled_stops_it(stations):
    """The relay driver fails to close at the start: the StartTransaction is journaled (the
    commit), so the RemoteStart is Accepted (it was carried out) and the trip stops the
    transaction at once; the relay never closed."""
    st = stations("evse.hal.relay:Relay.close")
    await st.start()
    await st.booted()
    srv = st.server
    await st.plug()
    await srv.wait_status(1, "Preparing")
    st.arm()
    assert await st.remote_start("TAG1", 1) == "Accepted"
    start = await srv.wait_msg("StartTransaction")
    await tripped(st, srv.next_tx)
    assert start["id_tag"] == "TAG1"
    assert not st.fw.log_matches(r"relay connector=1 closed=1")
    await serves_again(st)
    no_crash(st)


async def test_remote_start_answered_callerror_started_nothing(stations):
    """The issue's case: a RemoteStartTransaction answered InternalError while the relay closed
    and the transaction ran. Here the StartTransaction cannot be journaled: the CALL is answered
    with a CALLERROR, and nothing started: no StartTransaction, the relay never closed, no open
    transaction on the flash; the next RemoteStart charges."""
    from ocpp.exceptions import InternalError
    from ocpp.v16 import call
    st = stations("evse.ocpp.journal:Journal.append")
    await st.start()
    await st.booted()
    srv = st.server
    await st.plug()
    await srv.wait_status(1, "Preparing")
    st.arm()
    with pytest.raises(InternalError):
        await srv.cp.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1), suppress=False)
    await st.hit()
    await asyncio.sleep(1.5)  # anything that would follow a start has had time to
    assert srv.actions("StartTransaction") == []
    assert not st.fw.log_matches(r"relay connector=1 closed=1")
    assert (await st.relays())[0] is False
    assert not (st.tmp / "data" / "tx1.json").exists()
    assert not srv.actions("StatusNotification")[-1]["status"] == "Charging"
    tid = await start_charging(st, "TAG2")
    assert (await st.relays())[0] is True
    await srv.wait_msg("MeterValues", transaction_id=tid)
    no_crash(st)


# -- the hardware loop: survives a pass, restarts fail-safe when it cannot go on --------------

async def test_hardware_loop_that_keeps_failing_restarts_fail_safe(stations):
    """The connectors' poll itself fails on every pass: each failed pass opens every relay;
    after 10 s of them the app gives up, main.py's crash guard opens every relay and restarts;
    the board boots with its relays open and answers its console; once the error is gone, a
    new session charges."""
    st = stations("evse.ocpp.chargepoint:ChargePoint.poll", is_async=True, always=True)
    tid = await charging(st, connectors=2)
    st.arm()
    await st.hit()
    await tripped(st, tid)
    assert await st.relays() == [False, False]
    await st.fw.wait_log(r"@@exit", timeout=20)  # the crash guard's restart
    assert st.fw.log_matches(r"crash error=RuntimeError")
    # the process is gone (a board resetting: no coil is driven); it boots with relays open
    st.disarm()
    await st.fw.wait_log(r"app started", n=2, timeout=20)
    assert await st.relays() == [False, False]
    answer = await st.fw.reachable()
    assert not answer["transactions"]
    await serves_again(st, connector=1)


async def test_display_error_is_logged_and_charging_goes_on(stations):
    """The display holds no relay: its error is logged (once a minute) and the loop goes on."""
    st = stations("evse.hal.display:ConsoleScreen.show", always=True)
    tid = await charging(st)
    st.arm()
    await st.sim(cmd="power", connector=1, power_w=0)  # a state change: the display redraws
    await st.hit()
    await st.sim(cmd="power", connector=1, power_w=7400)
    await st.server.wait_msg("StatusNotification", n=2, connector_id=1, status="Charging")
    assert (await st.relays())[0] is True
    assert st.fw.log_matches(r"loop error error=RuntimeError")
    st.disarm()
    assert await st.remote_stop(tid) == "Accepted"
    await st.server.wait_msg("StopTransaction", transaction_id=tid)
    no_crash(st)


# -- tasks outside the relay path: they outlive their errors ----------------------------------

async def test_error_in_the_rpc_reader_reconnects_and_charging_goes_on(stations):
    """The RPC reader fails on an incoming frame: the connection ends, the charger reconnects,
    charging goes on meanwhile (as offline), nothing of the transaction is lost."""
    st = stations("evse.ocpp.rpc:Rpc.handle", is_async=True)
    tid = await charging(st)
    srv = st.server
    st.arm()
    await st.hit()  # the next frame the charger reads: the answer to a MeterValues
    await srv.wait(lambda: len(srv.cps) == 2, timeout=10, what="a reconnect")
    assert (await st.relays())[0] is True
    n = len(srv.actions("MeterValues"))
    await srv.wait_msg("MeterValues", n=n + 2, transaction_id=tid)
    assert await st.remote_stop(tid) == "Accepted"
    await srv.wait_msg("StopTransaction", transaction_id=tid)
    assert (await st.relays())[0] is False
    await assert_no_duplicates(srv)
    no_crash(st)


async def test_error_in_the_sender_backs_off_and_delivers_in_order(stations):
    """The session's sender fails at every message for a while: each connection ends, the
    charger reconnects with back-off, charges on, and delivers what queued, in order, once."""
    st = stations("evse.ocpp.chargepoint:ChargePoint._send_one", is_async=True, always=True)
    tid = await charging(st, ocpp_keys={"ReconnectBackoffMax": 4})
    srv = st.server
    n0 = len(srv.actions("MeterValues"))
    n_log = len(st.fw.log_matches(r"ocpp reconnect"))
    st.arm()
    await st.fw.wait_log(r"ocpp reconnect", n=n_log + 2, timeout=15)
    waits = [int(m.group(1)) for m in st.fw.log_matches(r"ocpp reconnect in_ms=(\d+)")][n_log:]
    assert 1000 <= waits[0] <= 1500 and 2000 <= waits[1] <= 3000, waits  # backing off, not hammering
    assert (await st.relays())[0] is True
    st.disarm()
    await srv.wait_msg("MeterValues", n=n0 + 4, transaction_id=tid, timeout=15)
    assert await st.remote_stop(tid) == "Accepted"
    await srv.wait_msg("StopTransaction", transaction_id=tid)
    e = [int(m["meter_value"][0]["sampled_value"][0]["value"]) for m in srv.actions("MeterValues")]
    assert e == sorted(e)
    await assert_no_duplicates(srv)
    no_crash(st)


async def test_console_outlives_its_error(stations):
    """The console's answer fails: the console task is restarted and the next question is
    answered; the charging session is untouched."""
    st = stations("evse.console:_reply")
    tid = await charging(st)
    st.arm()
    assert await st.fw.probe(1.5) is None  # this one is lost with the task that failed
    await st.hit()
    answer = await st.fw.reachable()
    assert answer["transactions"] and answer["connectors"][0][1] == "Charging"
    assert (await st.relays())[0] is True
    assert st.fw.log_matches(r"console error error=RuntimeError")
    assert await st.remote_stop(tid) == "Accepted"
    no_crash(st)


async def test_sim_control_server_outlives_its_error(stations):
    """The simulated EV's control server (a board task) answers a failed command with an error
    and serves the next one."""
    st = stations("evse.hal.sim:ControlServer.handle")
    await st.start()
    await st.booted()
    st.arm()
    with pytest.raises(AssertionError, match="injected fault"):
        await st.sim(cmd="state")
    assert await st.relays() == [False]
    await st.plug()
    await st.server.wait_status(1, "Preparing")
    no_crash(st)



async def test_issue_case_out_of_range_interval_never_half_starts(station):
    """The issue's report, end to end: MeterValueSampleInterval "99999999999999999999", then a
    RemoteStartTransaction, was answered InternalError while the relay closed and the
    transaction ran. Whatever the configuration does with the value (Rejected once keys have
    ranges), the answer and the charger agree: Accepted and charging, or a CALLERROR and
    nothing started (no StartTransaction, relay never closed); the firmware runs on."""
    from ocpp.exceptions import OCPPError
    from ocpp.v16 import call
    await station.start()
    await station.booted()
    srv = station.server
    await srv.cp.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="99999999999999999999"))
    await station.plug()
    await srv.wait_status(1, "Preparing")
    try:
        res = await srv.cp.call(call.RemoteStartTransaction(id_tag="TAG1", connector_id=1), suppress=False)
        accepted = res.status == "Accepted"
    except OCPPError as e:
        assert type(e).__name__ == "InternalError", e
        accepted = False
    await asyncio.sleep(2)
    relay = (await station.sim(cmd="state"))["connectors"][0]["relay_closed"]
    if accepted:
        await srv.wait_msg("StartTransaction")
        assert relay is True
    else:
        assert srv.actions("StartTransaction") == [] and relay is False
        assert not station.fw.log_matches(r"relay connector=1 closed=1")
    assert station.fw.exits == []
