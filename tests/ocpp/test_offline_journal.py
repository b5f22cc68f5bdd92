"""Offline behaviour and the transaction journal: OCA TC_036, 037, 039, retries, and power loss
(SIGKILL of the firmware process) inside a session. Nothing may be lost or sent twice."""

from __future__ import annotations

import asyncio
import json

from tests.ocpp.conftest import charge_point_calls
from tests.ocpp.test_core_profile import start_charging


def energies(mvs):
    return [int(mv["meter_value"][0]["sampled_value"][0]["value"]) for mv in mvs]


TX_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")


def _last_call_answered(frames):
    """True when the charge point's newest CALL has been answered."""
    last = None
    for side, text in frames:
        if side == "open":
            continue
        msg = json.loads(text)
        if side == "cp" and msg[0] == 2:
            last = msg[1]
        elif side == "cs" and msg[0] in (3, 4) and msg[1] == last:
            last = None
    return last is None


async def assert_no_duplicates(srv):
    """Each transaction message is acknowledged exactly once, and none is lost. Delivery is at
    least once by design: a message whose answer was cut off by the end of the connection (link
    dropped, power lost) is sent again. So a second acknowledged copy is allowed only when the
    first was the last CALL of its connection; every unanswered one needs an acknowledged copy."""
    await srv.wait(lambda: _last_call_answered(srv.frames), timeout=3, what="the last answer")
    answered, unanswered = charge_point_calls(srv.frames)

    def key(action, p):
        return json.dumps([action, {k: v for k, v in p.items() if k != "transactionId"}], sort_keys=True)

    seen = set()
    for action, p, last in answered:
        if action not in TX_ACTIONS:
            continue
        k = key(action, p)
        assert k not in seen, f"acknowledged twice: {k}"
        if not last:
            seen.add(k)
    acked = {key(a, p) for a, p, _ in answered}
    lost = [key(a, p) for a, p, _ in unanswered if a in TX_ACTIONS and key(a, p) not in acked]
    assert not lost, lost


def tx_order(srv):
    """Transaction messages as received, as (action, transactionId)."""
    return [(a, kw.get("transaction_id")) for a, kw in srv.got
            if a in ("StartTransaction", "MeterValues", "StopTransaction")]


async def test_tc036_connection_loss_during_transaction(station):
    """TC_036 Connection loss during transaction. "When offline, the Charge Point MUST queue any
    transaction-related messages that it would have sent to the Central System if the Charge Point
    had been online." and "the Charge Point SHOULD deliver transaction-related messages to the
    Central System in chronological order as soon as possible." """
    await station.start()
    await station.booted()
    srv = station.server
    tid = await start_charging(station)
    await srv.wait_msg("MeterValues")
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    n_online = len(srv.actions("MeterValues"))
    await asyncio.sleep(2.2)  # charging goes on offline: samples queue up
    await station.plug(plugged=False)
    await station.fw.wait_log(r"tx stop connector=1 .*reason=EVDisconnected")
    await srv.start()
    stop = await srv.wait_msg("StopTransaction", timeout=10)
    assert stop["transaction_id"] == tid and stop["reason"] == "EVDisconnected"
    offline = srv.actions("MeterValues")[n_online:]
    assert len(offline) >= 2 and all(m["transaction_id"] == tid for m in offline)
    order = tx_order(srv)
    assert order[-1] == ("StopTransaction", tid) and order[0][0] == "StartTransaction"
    e = energies(srv.actions("MeterValues"))
    assert e == sorted(e)
    assert len(srv.actions("BootNotification")) == 1  # not repeated on reconnect
    await srv.wait_status(1, "Available")
    await assert_no_duplicates(srv)


async def test_tc037_offline_start_with_cached_id(station):
    """TC_037 Offline start transaction. LocalAuthorizeOffline: "whether the Charge Point, when
    offline, will start a transaction for locally-authorized identifiers." The idTag was accepted
    online before (authorization cache); offline it starts a transaction, delivered later."""
    await station.start(ocpp_keys={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False,
                                   "ConnectionTimeOut": 1})
    await station.booted()
    srv = station.server
    await station.sim(cmd="idtag", connector=1, id_tag="CACHED")  # online: Authorize fills the cache
    await srv.wait_msg("Authorize", id_tag="CACHED")
    await srv.wait_status(1, "Preparing")
    await srv.wait_msg("StatusNotification", n=2, connector_id=1, status="Available", timeout=5)  # ConnectionTimeOut
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="CACHED")
    await station.fw.wait_log(r"tx start connector=1 .*id_tag=CACHED")
    await station.sim(cmd="idtag", connector=1, id_tag="STRANGER")  # unknown: not offline
    await srv.start()
    start = await srv.wait_msg("StartTransaction", timeout=10)
    assert start["id_tag"] == "CACHED"
    await srv.wait_status(1, "Charging")
    assert len(srv.actions("Authorize")) == 1
    assert len(srv.actions("BootNotification")) == 1


async def test_tc039_offline_transaction_unknown_id(station):
    """TC_039 Offline transaction (unknown id). AllowOfflineTxForUnknownId: "If this key exists,
    the Charge Point supports Unknown Offline Authorization. If this key reports a value of true,
    Unknown Offline Authorization is enabled." Start and stop happen offline; both are delivered
    in order after the reconnect, the stop carrying the transactionId the start got."""
    await station.start(ocpp_keys={"AllowOfflineTxForUnknownId": True})
    await station.booted()
    srv = station.server
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="UNKNOWN1")
    await station.fw.wait_log(r"tx start connector=1 .*id_tag=UNKNOWN1")
    await station.fw.wait_log(r"relay connector=1 closed=1")
    await asyncio.sleep(1.2)
    await station.sim(cmd="idtag", connector=1, id_tag="UNKNOWN1")
    await station.fw.wait_log(r"tx stop connector=1 .*reason=Local")
    await srv.start()
    stop = await srv.wait_msg("StopTransaction", timeout=10)
    tid = srv.actions("StartTransaction")[0]
    assert stop["transaction_id"] == srv.next_tx and tid["id_tag"] == "UNKNOWN1"
    order = tx_order(srv)
    assert order[0] == ("StartTransaction", None) and order[-1] == ("StopTransaction", srv.next_tx)
    assert all(t == srv.next_tx for a, t in order[1:])
    assert stop["meter_stop"] >= tid["meter_start"]
    await assert_no_duplicates(srv)


async def test_offline_unknown_id_refused_when_not_allowed(station):
    """AllowOfflineTxForUnknownId false: "...Unknown Offline Authorization is disabled" - an
    unknown idTag presented offline starts nothing."""
    await station.start(ocpp_keys={"AllowOfflineTxForUnknownId": False})
    await station.booted()
    srv = station.server
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="NOBODY")
    await station.fw.wait_log(r"authorize connector=1 result=refused offline")
    assert not station.fw.log_matches(r"tx start")


async def test_transaction_message_retried_then_accepted(station):
    """TransactionMessageRetryInterval: "How long the Charge Point should wait before resubmitting
    a transaction-related message that the Central System failed to process." """
    station.server.fail_start = 1
    await station.start(ocpp_keys={"TransactionMessageAttempts": 3})
    await station.booted()
    srv = station.server
    await station.plug()
    assert await station.remote_start("RETRY") == "Accepted"
    await srv.wait_msg("StartTransaction", n=2, timeout=5)
    mv = await srv.wait_msg("MeterValues")
    assert mv["transaction_id"] == srv.next_tx
    await station.fw.wait_log(r"ocpp retry action=StartTransaction attempt=1")


async def test_unconfirmed_start_gives_transaction_id_minus_one(station):
    """TransactionMessageAttempts: "How often the Charge Point should try to submit a
    transaction-related message when the Central System fails to process it." When
    StartTransaction.conf never came, later messages of the transaction use transactionId -1."""
    station.server.fail_start = 5
    await station.start(ocpp_keys={"TransactionMessageAttempts": 2})
    await station.booted()
    srv = station.server
    await station.plug()
    assert await station.remote_start("NOCONF") == "Accepted"
    await station.fw.wait_log(r"ocpp dropped action=StartTransaction", timeout=8)
    mv = await srv.wait_msg("MeterValues")
    assert mv["transaction_id"] == -1
    await station.plug(plugged=False)
    stop = await srv.wait_msg("StopTransaction")
    assert stop["transaction_id"] == -1 and len(srv.actions("StartTransaction")) == 2


async def test_power_loss_while_charging_stops_with_power_loss_after_reboot(station):
    """Power failure during a transaction (TC_032 style), by SIGKILL. A transaction open at power
    loss is stopped with reason PowerLoss after the reboot, with the last meter value persisted;
    "If possible the Charge Point sends a StopTransaction.req for previously ongoing
    transactions after having restarted and having been accepted by the Central System"."""
    await station.start()
    await station.booted()
    srv = station.server
    tid = await start_charging(station)
    await srv.wait_msg("MeterValues", n=3, transaction_id=tid, timeout=6)
    last = energies(srv.actions("MeterValues"))[-1]
    station.fw.kill()
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    stop = await srv.wait_msg("StopTransaction", timeout=10)
    assert stop["reason"] == "PowerLoss" and stop["transaction_id"] == tid
    assert stop["meter_stop"] >= last
    assert station.fw.exits[0] == -9
    assert len(srv.actions("StartTransaction")) == 1 and len(srv.actions("StopTransaction")) == 1
    # the relay came back open: nothing live after a reboot without a transaction
    state = await station.sim(cmd="state")
    assert state["connectors"][0]["relay_closed"] is False
    await assert_no_duplicates(srv)


async def test_power_loss_offline_queue_survives_and_is_delivered_once(station):
    """Journal under SIGKILL while offline. "When offline, the Charge Point MUST queue any
    transaction-related messages that it would have sent" - the queue lives in flash: after a
    kill and reboot, Start, MeterValues and the PowerLoss Stop arrive once each, in order."""
    await station.start(ocpp_keys={"AllowOfflineTxForUnknownId": True})
    await station.booted()
    srv = station.server
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="OFFLINE9")
    await station.fw.wait_log(r"tx start connector=1")
    await asyncio.sleep(2.5)  # a few samples into the journal
    station.fw.kill()
    await station.fw.wait_log(r"tx stop connector=1 .*reason=PowerLoss", timeout=10)
    await asyncio.sleep(1.2)  # the rebooted firmware is still offline; then the CSMS returns
    await srv.start()
    stop = await srv.wait_msg("StopTransaction", timeout=10)
    order = tx_order(srv)
    tid = srv.next_tx
    assert order[0] == ("StartTransaction", None) and order[-1] == ("StopTransaction", tid)
    assert [a for a, _ in order].count("StartTransaction") == 1
    assert len(order) >= 4  # start, >= 2 samples, stop
    assert all(t == tid for _, t in order[1:])
    assert stop["reason"] == "PowerLoss"
    assert stop["meter_stop"] >= max(energies(srv.actions("MeterValues")))
    await assert_no_duplicates(srv)


async def test_kill_after_stop_queued_delivers_stop_once(station):
    """Journal under SIGKILL right after a stop while offline: the queued StopTransaction is
    delivered once after the reboot, and no PowerLoss stop is invented for a closed transaction."""
    await station.start()
    await station.booted()
    srv = station.server
    tid = await start_charging(station)
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug(plugged=False)
    await station.fw.wait_log(r"tx stop connector=1 .*reason=EVDisconnected")
    station.fw.kill()
    await station.fw.wait_log(r"app started", n=2, timeout=10)
    await srv.start()
    stop = await srv.wait_msg("StopTransaction", timeout=10)
    assert stop["reason"] == "EVDisconnected" and stop["transaction_id"] == tid
    await asyncio.sleep(0.5)
    assert len(srv.actions("StopTransaction")) == 1
    await assert_no_duplicates(srv)


async def test_queued_messages_wait_for_boot_acceptance(station):
    """"Nothing before BootNotification is Accepted or Pending, cached messages included" and
    while Pending "The Charge Point SHALL NOT send request messages to the Central System unless
    it has been instructed by the Central System to do so with a TriggerMessage.req request." """
    await station.start(ocpp_keys={"AllowOfflineTxForUnknownId": True})
    await station.booted()
    srv = station.server
    await srv.stop()
    await station.fw.wait_log(r"ocpp disconnected")
    await station.plug()
    await station.sim(cmd="idtag", connector=1, id_tag="QUEUED")
    await station.fw.wait_log(r"tx start connector=1")
    station.fw.kill()  # reboot while offline: the next session starts with a BootNotification
    await station.fw.wait_log(r"app started", n=2, timeout=10)
    srv.got.clear()
    srv.boot_status = ["Pending", "Accepted"]
    srv.boot_interval = 1
    await srv.start()
    await srv.wait_msg("BootNotification", n=2, timeout=10)
    stop = await srv.wait_msg("StopTransaction", timeout=10)
    actions = srv.actions()
    assert actions[:2] == ["BootNotification", "BootNotification"], actions
    assert actions.index("StartTransaction") > 1
    assert stop["reason"] == "PowerLoss"


async def test_unanswered_transaction_message_reconnects_and_is_not_dropped(station):
    """A CALL "that gets no answer times out"; for a transaction message that is no reason to
    drop it: the charge point takes the link for dead, reconnects and delivers it again."""
    station.server.hang_start = 1
    await station.start(ocpp_keys={"MessageTimeout": 5, "TransactionMessageAttempts": 1})  # 5 s: its least
    await station.booted()
    srv = station.server
    await station.plug()
    assert await station.remote_start("SLOW") == "Accepted"
    await station.fw.wait_log(r"ocpp session error=OSError")
    await srv.wait_msg("StartTransaction", n=2, timeout=10)
    await srv.wait(lambda: len(srv.cps) == 2, what="a reconnect")
    mv = await srv.wait_msg("MeterValues", timeout=10)
    assert mv["transaction_id"] == 101  # the answer on the new connection (the hung one comes late)
    assert not station.fw.log_matches("ocpp dropped")
    assert len(srv.actions("BootNotification")) == 1
