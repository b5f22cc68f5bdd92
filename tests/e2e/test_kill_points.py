"""Kill-point sweep: SIGKILL of the board at seeded random points across boot, start, charging,
stop and settlement of public sessions, with the local backend (issue 12, "Faults").

Each point is reproducible from the seed and its number (`kill_point(seed, n)`): a block of
five points takes the five phases in a seeded order, and each point draws its trigger: a delay
from the phase's mark, the Nth firmware log line on the console after it, or the backend's Nth
answer to a transaction message after it (the at-least-once window: the board has the answer
but has not yet dropped the message from its journal). The kill races the board by a few ms,
so a point's trigger repeats exactly and its outcome nearly:

- boot: a session charges, the power goes, and the point falls in the boot that follows (the
  PowerLoss recovery: journal replay, the stop, its meterStop raised to the register);
- start: the driver's /confirm (RemoteStartTransaction, relay, StartTransaction);
- charging: a delay into the charging, or the Nth MeterValues answer;
- stop: the driver's /stop (RemoteStopTransaction, relay, StopTransaction);
- settlement: a delay or the StopTransaction's answer after the board's "tx stop"
  (StopTransaction delivered, journal pop, Finishing, the backend's capture).

After every restart, as OCPP 1.6 and the firmware README require: every relay is open at the
first look and stays open (no new start is made within a point); each transaction message the
board made durable (a complete journal line on flash, followed by a host thread while the point
runs) reaches the backend, once, or twice only in the documented at-least-once case (the first
copy was answered, then the power went before the journal dropped it: a disconnect lies between
the copies and nothing else was sent in between), which the backend deduplicates (one
transaction per session, each reading stored once); the session ends: completed with meterStop
= the meter's register when the power went (whole Wh), or at most 1 Wh below the register for
a stop made before the power went (taken from the last 250 ms poll); or failed with nothing
captured when no transaction began, or when the board started but died before its RemoteStart
answer left (the backend failed the session, then refused the StartTransaction that came after
the reboot); the journal is empty once the session is over. A point that meets the firmware
fault the sweep found (STILL_QUEUED, below) is tested on its own.

`make test` runs points 0..4 (one per phase); `make test-long` runs 0..49. `EVSE_KILL_SEED`
changes the seed; every point prints one line of what it found (`-s` shows them).
"""

from __future__ import annotations

import binascii
import json
import os
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from host_tools import driver
from tests.e2e.conftest import (
    FAST_LIMITS,
    Db,
    assert_samples_in_order,
    assert_settled,
    board_tail,
    first_sim_state,
    persisted_register,
    ready_connector,
    start_charging,
    wait_online,
    wait_status,
    wait_until,
)

SEED = int(os.environ.get("EVSE_KILL_SEED", "1204"))
PHASES = ("boot", "start", "charging", "stop", "settlement")
BOUNDED = 5  # make test: one point per phase
LONG = 50
# A start the board lost (killed between RemoteStart and StartTransaction) fails by this
# deadline instead of the default minute: the sweep waits for every session's end.
START_TIMEOUT_S = 12
RIG = {"code": "KILL42",
       "charger": {"pricing": {"currency": "EUR", "price_per_kwh": 10000, "start_fee": 50}},
       "backend_args": [*FAST_LIMITS, "--start-timeout", str(START_TIMEOUT_S)]}

LOG_LINE = re.compile(rb"^\[\d+\.\d+\] (.*)$", re.M)  # a firmware log line on the console
RELAY_CLOSED = "relay connector=1 closed=1"
TX_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")
FINAL = ("completed", "failed", "cancelled")



# --- the points ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KillPoint:
    number: int
    phase: str
    # "delay": seconds after the mark; "line": the Nth firmware log line after it; "answer":
    # the backend's Nth answer to a transaction message after it (the at-least-once window:
    # answered, not yet dropped from the board's journal)
    trigger: str
    delay_s: float = 0.0
    line_n: int = 0
    charge_s: float = 0.0  # charging before the stop (stop, settlement) or the first loss (boot)

    def describe(self) -> str:
        what = {"delay": f"{self.delay_s:.3f} s", "line": f"log line {self.line_n}",
                "answer": f"answer {self.line_n}"}[self.trigger]
        return f"p{self.number:02d} {self.phase} after {what}"


def kill_point(seed: int, n: int) -> KillPoint:
    order = list(PHASES)
    random.Random(f"{seed}/phases/{n // len(PHASES)}").shuffle(order)
    phase = order[n % len(PHASES)]
    rng = random.Random(f"{seed}/point/{n}")
    charge_s = round(rng.uniform(0.5, 3.0), 3)
    # Windows measured on the bench: RemoteStart to Charging ~0.2 s and about 5 log lines;
    # a boot to its PowerLoss stop ~0.1 s and ~10 lines; RemoteStop to Finishing ~0.05 s.
    # phase -> (triggers, most log lines, most answers, longest delay in s)
    triggers, lines, answers, span = {
        "boot": (("delay", "line"), 12, 0, 1.5),
        "start": (("delay", "line", "answer"), 6, 1, 0.4),
        "charging": (("delay", "answer"), 0, 4, 5.0),
        "stop": (("delay", "line"), 4, 0, 0.3),
        "settlement": (("delay", "answer"), 0, 1, 0.6),  # counted from the board's "tx stop"
    }[phase]
    trigger = rng.choice(triggers)
    if trigger == "delay":
        return KillPoint(n, phase, trigger, delay_s=round(rng.uniform(0.0, span), 3),
                         charge_s=charge_s)
    return KillPoint(n, phase, trigger, line_n=rng.randint(1, lines if trigger == "line" else answers),
                     charge_s=charge_s)


def _params(numbers, marks=()):
    return [pytest.param(n, id=kill_point(SEED, n).describe().split(" after")[0].replace(" ", "-"),
                         marks=marks) for n in numbers]


# --- watching the board ----------------------------------------------------------------------

def _log_lines(rig, since: int) -> list[str]:
    with open(rig.board.console_log, "rb") as f:
        f.seek(since)
        return [m.group(1).decode(errors="replace").rstrip("\r")
                for m in LOG_LINE.finditer(f.read().replace(b"\r\n", b"\n"))]


class Killer(threading.Thread):
    """Waits for the point's trigger after `mark` (a console position), then pulls the plug."""

    def __init__(self, rig, point: KillPoint, mark: int, after_line: str | None = None,
                 in_boot: int = 0):
        super().__init__(daemon=True)
        self.rig, self.point, self.mark, self.after_line = rig, point, mark, after_line
        self.in_boot = in_boot  # boot phase: the mark is the start of this boot
        if point.trigger == "answer":  # the backend's OCPP log, from its present end
            earlier = frames_since(rig, 0)
            self.frame_mark = earlier[-1]["seq"] if earlier else 0
        self.boot = 0
        self.elapsed = 0.0  # seconds from the mark to the kill
        self.last_line = ""  # the board's last log line before the kill
        self.note = ""

    def run(self) -> None:
        if self.in_boot:
            self.rig.board.wait_boot(self.in_boot, timeout=15)
            self.mark = self.rig.board.console_mark()
        t0 = time.monotonic()
        deadline = t0 + 15
        if self.after_line:  # the delay counts from this line (e.g. the board's "tx stop")
            self._wait_text(self.after_line.encode(), deadline)
        if self.point.trigger == "line":
            while len(_log_lines(self.rig, self.mark)) < self.point.line_n:
                if time.monotonic() > deadline:
                    self.note += f"fewer than {self.point.line_n} lines; "
                    break
                time.sleep(0.002)
        elif self.point.trigger == "answer":
            self._wait_answers(deadline)
        else:
            time.sleep(self.point.delay_s)
        self.boot = self.rig.board.boots + 1
        self.rig.board.kill()
        self.elapsed = time.monotonic() - t0
        lines = _log_lines(self.rig, self.mark)
        self.last_line = lines[-1] if lines else "(none)"


    def _wait_text(self, text: bytes, deadline: float) -> None:
        # Reads only what the console gained, without sleeping: the kill follows the line by
        # well under a millisecond of our own (the pty and the log file add their part).
        seen, pos = b"", self.mark
        with open(self.rig.board.console_log, "rb") as f:
            while time.monotonic() < deadline:
                f.seek(pos)
                more = f.read()
                if more:
                    pos += len(more)
                    seen = seen[-len(text):] + more
                    if text in seen:
                        return
                else:
                    time.sleep(0)
        self.note += f"{text.decode()!r} not seen; "

    def _wait_answers(self, deadline: float) -> None:
        # Long polls of the operator's OCPP log: the kill follows the answer by a few ms.
        url = f"{self.rig.api}/operator/chargers/{self.rig.identity}/ocpp-log"
        after, seen = self.frame_mark, 0
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < deadline:
                page = http.get(url, params={"after": after, "wait": 2}).json()["data"]
                for f in page:
                    if (f["direction"] == "out" and f["type"] == "CALLRESULT"
                            and f["action"] in TX_ACTIONS):
                        seen += 1
                        if seen >= self.point.line_n:
                            self.note += f"after the answer to {f['action']}; "
                            return
                if page:
                    after = page[-1]["seq"]
        self.note += f"fewer than {self.point.line_n} answers; "


class JournalFollower(threading.Thread):
    """Reads data/journal.log on the board's flash as it grows: every record whose line is
    complete (its checksum holds) is durable, so the board must deliver it. Compaction
    rewrites the file (a new inode): the follower then reads it from the start."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.entries: dict[int, dict] = {}  # seq -> {"action", "versions": [payload...]}
        self.popped: set[int] = set()
        self._done = threading.Event()
        self._inode = None
        self._offset = 0

    def start(self) -> None:
        # what the journal held before the point was delivered within earlier points
        self.poll()
        self.entries.clear()
        super().start()

    def run(self) -> None:
        while not self._done.is_set():
            self.poll()
            time.sleep(0.01)
        self.poll()

    def stop(self) -> None:
        self._done.set()
        self.join(5)

    def poll(self) -> None:
        try:
            st = self.path.stat()
            if st.st_ino != self._inode or st.st_size < self._offset:
                self._inode, self._offset = st.st_ino, 0
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
        for line in data[:end].splitlines(keepends=True):
            rec = parse_journal_line(line)
            if rec is None:
                continue
            if rec[0] == "A":
                self.entries.setdefault(rec[1], {"action": rec[2], "versions": []})
                if rec[3] not in self.entries[rec[1]]["versions"]:
                    self.entries[rec[1]]["versions"].append(rec[3])
            elif rec[0] == "U" and rec[1] in self.entries:
                self.entries[rec[1]]["versions"].append(rec[2])
            elif rec[0] == "P":
                self.popped.add(rec[1])
        self._offset += end


def parse_journal_line(line: bytes) -> list | None:
    """One journal line (`<crc32 hex> <json>\\n`, firmware/evse/ocpp/journal.py) or None."""
    if len(line) < 11 or not line.endswith(b"]\n") or line[8:9] != b" ":
        return None
    js = line[9:-1]
    try:
        if int(line[:8], 16) != binascii.crc32(js):
            return None
        rec = json.loads(js)
    except ValueError:
        return None
    return rec if isinstance(rec, list) and rec else None


def live_journal(flash_dir: Path) -> list[int]:
    """Sequence numbers still queued in the board's journal (appended, not popped)."""
    try:
        lines = (flash_dir / "data" / "journal.log").read_bytes().splitlines(keepends=True)
    except FileNotFoundError:
        return []
    live: dict[int, bool] = {}
    for line in lines:
        rec = parse_journal_line(line)
        if rec and rec[0] == "A":
            live[rec[1]] = True
        elif rec and rec[0] == "P":
            live.pop(rec[1], None)
    return sorted(live)


def frames_since(rig, after: int) -> list[dict]:
    """The backend's OCPP log of the charger after sequence number `after` (operator API)."""
    out: list[dict] = []
    url = f"{rig.api}/operator/chargers/{rig.identity}/ocpp-log"
    while True:
        page = httpx.get(url, params={"after": after, "limit": 500}, timeout=10).json()["data"]
        if not page:
            return out
        assert out or after == 0 or page[0]["seq"] == after + 1, (
            f"the backend's frame ring overflowed: wanted {after + 1}, got {page[0]['seq']}")
        out += page
        after = page[-1]["seq"]


def _key(action: str, payload: dict) -> tuple[str, str]:
    """A transaction message as the journal holds it and as the backend received it: the same
    but for our reference `_r` and the transactionId filled in at sending."""
    body = {k: v for k, v in payload.items() if k not in ("_r", "transactionId")}
    return action, json.dumps(body, sort_keys=True)


@dataclass
class Delivery:
    lost: list[str] = field(default_factory=list)
    at_least_once: list[str] = field(default_factory=list)  # repeats the journal explains
    duplicated: list[str] = field(default_factory=list)  # repeats it does not
    stale: list[str] = field(default_factory=list)  # sent before a later version of itself
    counts: dict[str, int] = field(default_factory=dict)


def check_delivery(journal: JournalFollower, frames: list[dict]) -> Delivery:
    """Each durable journal message against the CALLs the backend received."""
    d = Delivery()
    calls = [(i, f) for i, f in enumerate(frames)
             if f["direction"] == "in" and f["type"] == "CALL" and f["action"] in TX_ACTIONS]
    for action in TX_ACTIONS:
        d.counts[action] = sum(1 for _, f in calls if f["action"] == action)
    by_key: dict[tuple, list[int]] = {}
    for i, f in calls:
        by_key.setdefault(_key(f["action"], f["payload"]), []).append(i)
    refs: dict[tuple, list[int]] = {}
    for seq, e in sorted(journal.entries.items()):
        action, versions = e["action"], e["versions"]
        ref = versions[0].get("_r")
        if action != "MeterValues":
            refs.setdefault((action, ref), []).append(seq)
        hits = sorted(i for v in versions for i in by_key.get(_key(action, v), []))
        name = f"{action} seq={seq} ref={ref}"
        if not hits:
            d.lost.append(name)
            continue
        latest = by_key.get(_key(action, versions[-1]), [])
        if not latest:
            d.stale.append(f"{name} sent as {frames[hits[-1]]['payload']}, "
                           f"journal's last version {versions[-1]}")
        for a, b in zip(hits, hits[1:], strict=False):
            if _answered_then_cut(frames, a, b):
                d.at_least_once.append(name)
            else:
                d.duplicated.append(f"{name} frames {frames[a]['seq']} and {frames[b]['seq']}")
    for (action, ref), seqs in refs.items():
        if len(seqs) > 1:  # two messages of the same meaning (not one message sent twice)
            d.duplicated.append(f"{action} ref={ref} journaled {len(seqs)} times: seqs {seqs}")
    return d


def _answered_then_cut(frames: list[dict], a: int, b: int) -> bool:
    """The at-least-once case: copy `a` was answered, the board sent nothing after it before
    the connection went (its power), and copy `b` came on a new connection."""
    uid = frames[a]["message_id"]
    answered = cut = False
    for f in frames[a + 1:b]:
        if f["type"] == "DISCONNECTED":
            cut = True
            break
        if f["direction"] == "out" and f["message_id"] == uid and f["type"] == "CALLRESULT":
            answered = True
        elif f["direction"] == "in" and f["type"] == "CALL":
            return False  # the board went on: it had dropped `a` from its journal
    return answered and cut


# --- one point -------------------------------------------------------------------------------

@dataclass
class Loss:
    boot: int
    register: float
    state: dict
    killer: Killer


def _after_kill(rig, killer: Killer) -> Loss:
    killer.join(30)
    assert not killer.is_alive(), "the kill never came"
    rig.board.wait_boot(killer.boot, timeout=15)
    register = persisted_register(rig)  # the killed interpreter's last write; fixed from here
    state = first_sim_state(rig, timeout=20)
    assert state["relay_closed"] is False and state["power_w"] == 0, (
        f"relay closed at the first look after boot {killer.boot}: {state}")
    assert state["energy_wh"] == pytest.approx(register), (state, register)
    return Loss(killer.boot, register, state, killer)


def _kill_during(rig, point: KillPoint, action, after_line: str | None = None) -> Loss:
    """Arm the trigger at the console's current end, do `action` (a driver call the kill may
    interrupt), and wait for the board to come back."""
    killer = Killer(rig, point, rig.board.console_mark(), after_line)
    killer.start()
    try:
        action()
    except driver.DriverError as e:  # the board died under the call: the driver is told so
        killer.note += f"driver: {type(e).__name__}; "
    return _after_kill(rig, killer)


def run_point(rig, point: KillPoint, boot_line: str | None = None) -> dict:
    """One point; `boot_line`: in the boot phase, the trigger counts from that line."""
    db = Db(rig)
    with rig.client() as client:
        wait_online(rig, timeout=30)
        ready_connector(rig, client)
        earlier = frames_since(rig, 0)
        first_frame = earlier[-1]["seq"] if earlier else 0
        mark = rig.board.console_mark()
        boots_before = rig.board.boots
        journal = JournalFollower(rig.board.flash_dir / "data" / "journal.log")
        journal.start()
        losses: list[Loss] = []
        token = None
        try:
            if point.phase == "start":
                started = client.start(rig.code, 1)
                token = started.token
                client.confirm_local_payment(started.payment["client_secret"])
                losses.append(_kill_during(rig, point, lambda: client.confirm(token)))
            else:
                token, _ = start_charging(rig, client)
                if point.phase == "charging":
                    losses.append(_kill_during(rig, point, lambda: None))
                else:
                    time.sleep(point.charge_s)
                if point.phase == "boot":
                    # the first loss, at once; the point falls in the boot that follows it
                    boot = rig.board.boots + 1
                    rig.board.kill()
                    killer = Killer(rig, point, 0, after_line=boot_line, in_boot=boot)
                    killer.start()
                    losses.append(_after_kill(rig, killer))
                elif point.phase == "stop":
                    losses.append(_kill_during(rig, point, lambda: client.stop(token)))
                elif point.phase == "settlement":
                    losses.append(_kill_during(rig, point, lambda: client.stop(token),
                                               after_line="tx stop"))
            wait_online(rig, timeout=30)
            session = wait_status(client, token, FINAL, timeout=START_TIMEOUT_S + 30)
            if session["status"] == "completed":
                session, tx = assert_settled(rig, client, token)
            else:
                tx = None
            wait_until(lambda: not live_journal(rig.board.flash_dir), 15,
                       "the board's journal empty once the session is over",
                       detail=lambda: f"live {live_journal(rig.board.flash_dir)}; "
                                      f"{board_tail(rig, 800)}")
        finally:
            journal.stop()
        frames = frames_since(rig, first_frame)
        console = rig.board.console_text()
        # from the first restart of the point: no new start is made, so no relay closes
        first_boot = boots_before + 1
        since_boot = console.split(f"--- virtual board: boot {first_boot} ---", 1)[1]
        id_tag = db.session(token)["id_tag"]
        txs = [t for t in db.transactions() if t["id_tag"] == id_tag]
        since_mark = "".join(x + "\n" for x in _log_lines(rig, mark))
        return {"point": point, "losses": losses, "session": session, "tx": tx, "txs": txs,
                "delivery": check_delivery(journal, frames), "journal": journal.entries,
                "since_boot": since_boot,
                "since_mark": since_mark, "id_tag": id_tag,
                "samples": db.energy_samples(tx["id"]) if tx else []}


def report(found: dict) -> str:
    p, losses, s, tx, d = (found["point"], found["losses"], found["session"], found["tx"],
                           found["delivery"])
    k = losses[-1].killer
    board = (f"boot {losses[-1].boot}, relay open, register {losses[-1].register:.2f} Wh"
             + (", PowerLoss stop" if "reason=PowerLoss" in found["since_mark"] else ""))
    tx = tx or (found["txs"] or [None])[0]
    backend = (f"session {s['status']}"
               + (f" ({s['failure_reason']})" if s.get("failure_reason") else "")
               + (f" tx {tx['id']} stop={tx['stop_reason']} meter {tx['meter_start']}->"
                  f"{tx['meter_stop']} Wh" if tx else ", no tx")
               + f"; frames Start={d.counts['StartTransaction']} Stop={d.counts['StopTransaction']}"
                 f" MeterValues={d.counts['MeterValues']}"
               + (f"; at-least-once repeats {d.at_least_once}" if d.at_least_once else ""))
    return (f"{p.describe()}: killed {k.elapsed:.3f} s after the mark, last board line "
            f"{k.last_line!r}; {k.note}board: {board}; backend: {backend}")


def assert_point(found: dict) -> None:
    losses, s, tx, d = found["losses"], found["session"], found["tx"], found["delivery"]
    register = losses[-1].register
    assert RELAY_CLOSED not in found["since_boot"], (
        "a relay closed after the restart without a new start: "
        + found["since_boot"][-1500:])
    assert not d.lost, f"durable transaction messages never delivered: {d.lost}"
    assert not d.duplicated, f"transaction messages repeated beyond at-least-once: {d.duplicated}"
    assert not d.stale, f"messages delivered in an older version than the journal's: {d.stale}"
    assert len(found["txs"]) <= 1, f"more than one transaction for the session: {found['txs']}"
    closed = RELAY_CLOSED in found["since_mark"]
    if tx is None:
        assert s["status"] in ("failed", "cancelled") and not s["amount_captured"], s
        if not found["txs"]:  # no transaction began: the relay never closed
            assert not closed, "the relay closed but no transaction reached the backend"
            return
        # The board started (relay closed, StartTransaction journaled) but died before its
        # RemoteStart answer left: the backend failed the session (charger_offline) and
        # refused the StartTransaction that came after the reboot; the transaction is
        # stopped, nothing is charged.
        tx = found["txs"][0]
        assert tx["meter_stop"] is not None, tx
    assert tx["stop_reason"] in ("PowerLoss", "Remote"), tx
    # meterStop: the energy register when the power went (a stop before it: when it stopped),
    # in the whole Wh OCPP carries
    if tx["stop_reason"] == "Remote":
        # stopped before the power went: the board had made that stop durable
        assert any(e["action"] == "StopTransaction" and e["versions"][0]["reason"] == "Remote"
                   for e in found["journal"].values()), found["since_mark"][-1500:]
        # taken from the last poll's reading (every 250 ms), before the relay opened
        assert 0 <= int(register) - tx["meter_stop"] <= 1, (
            f"meterStop {tx['meter_stop']} Wh, the meter's register {register:.3f} Wh")
    else:
        assert tx["meter_stop"] == int(register), (
            f"meterStop {tx['meter_stop']} Wh, the meter's register {register:.3f} Wh; "
            f"board: {found['since_mark'][-1500:]}")
    values = assert_samples_in_order(found["samples"])
    assert all(tx["meter_start"] <= v <= tx["meter_stop"] for v in values), (values, tx)


# The sweep found this one (fixed since): a PowerLoss stop cut before its meterStop was raised
# kept the stale value. At boot StopTransaction.recover() journals the stop with the meter
# value of data/tx<n>.json (saved once a sample interval); the first meter reading of the boot
# raises meterStop to the register (raise_meter). The file used to go before the raise, so a
# power loss between the two left nothing for a later boot to raise. Now the file stays until
# the raise, and the next boot finds the stop still queued ("still_queued=1") and raises it.
STILL_QUEUED = "still_queued=1"


def unraised_power_loss_stop(found: dict, register: float) -> bool:
    """The PowerLoss stop was journaled, never updated, and is below the register."""
    for e in found["journal"].values():
        first = e["versions"][0]
        if (e["action"] == "StopTransaction" and first.get("reason") == "PowerLoss"
                and len(e["versions"]) == 1 and first["meterStop"] < int(register)):
            return True
    return False


def _check(rig, number: int) -> None:
    found = run_point(rig, kill_point(SEED, number))
    print("\n" + report(found))
    assert_point(found)


def test_power_loss_again_before_the_stop_is_raised(rig):
    """The sweep's finding made sharp: the power goes while charging, and again as soon as the
    boot that follows has journaled the PowerLoss stop ("tx stop ... reason=PowerLoss"). OCPP
    1.6 4.8: meterStop is the energy delivered; the register held it when the power went.
    The kill lands before the raise on some tries only (it races the board by a few ms): up
    to 4 tries; a try that landed shows the next boot finding the stop still queued, and the
    stop must carry the register. Skipped if no try hit the window."""
    for attempt in range(4):
        point = KillPoint(90 + attempt, "boot", "delay", delay_s=0.0, charge_s=1.6)
        found = run_point(rig, point, boot_line="reason=PowerLoss")
        print("\n" + report(found))
        register = found["losses"][-1].register
        landed = STILL_QUEUED in found["since_mark"]
        assert not unraised_power_loss_stop(found, register), report(found)
        assert_point(found)
        if landed:
            return
    pytest.skip("no try landed between the PowerLoss stop and its raise")


@pytest.mark.parametrize("number", _params(range(BOUNDED)))
def test_kill_point(rig, number):
    """Points 0..4 of the sweep: one in each phase (`make test`)."""
    _check(rig, number)


@pytest.mark.long
@pytest.mark.parametrize("number", _params(range(LONG)))
def test_kill_point_sweep(rig, number):
    """All 50 points (`make test-long`)."""
    _check(rig, number)
