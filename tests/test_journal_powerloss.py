"""Power loss against the transaction journal: SIGKILL a MicroPython process that queues and
delivers transaction messages, restart it on the same files, and prove that nothing
acknowledged is lost or duplicated and that the order is kept.

Acknowledged means the child printed `ACK` after append() returned (or `POP` after pop());
each such line is one string ending in " ." so a line cut by the kill is recognised and ignored.
Only the one operation in flight at the kill may go either way. Kill points: the parent's
SIGKILL after a random number of acknowledgements, and the child killing itself (`kill -9` on
its own pid from os.system) half way through an append's write (a torn record), right after a
write, in the middle of a compaction's temp file, and just before the compaction's rename. The
child reaches the filesystem through a wrapper around `open`/`os.rename` installed in the
journal module: the fault is injected below the journal, the journal itself is the real code.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.micropython import micropython_binary, micropython_path

CHILD = r"""
import json
import os
import sys

import evse.ocpp.journal as J

mode, arg, i = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
limit = int(sys.argv[4])


def die():
    os.system("kill -9 $PPID")  # the shell's parent is this interpreter
    while True:
        pass


class Faulty:
    # A file whose writes can be cut: the fault is below the journal, not in it.
    def __init__(self, f, path, mode_):
        self.f, self.path, self.mode = f, path, mode_

    def write(self, data):
        global arg
        if self.mode == "ab" and mode in ("torn", "after"):
            arg -= 1
            if arg == 0:
                if mode == "torn":
                    self.f.write(data[: len(data) // 2])
                    self.f.close()
                    die()
                n = self.f.write(data)
                self.f.close()
                die()
        if self.path.endswith(".tmp") and mode == "compact_mid":
            arg -= 1
            if arg == 0:
                self.f.close()
                die()
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()

    def __iter__(self):
        return iter(self.f)


_open = open


def faulty_open(path, mode_="r"):
    return Faulty(_open(path, mode_), path, mode_)


class FaultyOs:
    def __getattr__(self, name):
        return getattr(os, name)

    def rename(self, a, b):
        if mode == "rename":
            die()
        os.rename(a, b)


J.open = faulty_open
J.os = FaultyOs()

j = J.Journal("data/journal.log", max_records=100000)
print("LOADED", json.dumps([[s, a, p["i"]] for s, a, p in j.items()]))
print("TMP", "journal.log.tmp" in os.listdir("data"))
if mode == "drain":
    while True:
        m = j.peek()
        if m is None:
            break
        print("TRYPOP %d ." % m[0])
        j.pop(m[0])
        print("POP %d %d ." % (m[0], m[2]["i"]))
    print("DRAINED")
    sys.exit(0)
while i < limit:
    action = ("StartTransaction", "MeterValues", "MeterValues", "StopTransaction")[i % 4]
    payload = {"i": i, "transactionId": i // 4, "meterValue": [{"timestamp": "2026-01-01T00:00:00Z",
               "sampledValue": [{"value": str(i * 10), "measurand": "Energy.Active.Import.Register"}]}]}
    print("TRY %d ." % i)
    seq = j.append(action, payload)
    print("ACK %d %s %d ." % (seq, action, i))
    if i % 2 or len(j) > 150:
        m = j.peek()
        print("TRYPOP %d ." % m[0])
        j.pop(m[0])
        print("POP %d %d ." % (m[0], m[2]["i"]))
    i += 1
print("FINISHED")
"""


@dataclass
class Model:
    """What the journal must hold: (seq, action, i) in order."""

    queue: list[tuple[int, str, int]] = field(default_factory=list)
    next_i: int = 0
    rounds: list[str] = field(default_factory=list)


@dataclass
class Run:
    loaded: list[tuple[int, str, int]] | None
    tmp_left: bool
    acks: list[tuple[int, str, int]]
    pops: list[int]
    try_i: int | None  # an append in flight when killed
    try_pop: int | None  # a pop in flight when killed
    lines: list[str]


def run_child(flash: Path, mode: str, arg: int, start_i: int, limit: int, kill_after_acks: int | None = None,
              timeout: float = 60.0) -> Run:
    script = flash / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, MICROPYPATH=micropython_path())
    proc = subprocess.Popen([micropython_binary(), str(script), mode, str(arg), str(start_i), str(limit)],
                            cwd=flash, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, on_timeout)
    timer.start()
    lines: list[str] = []
    acks = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("ACK"):
                acks += 1
                if kill_after_acks is not None and acks == kill_after_acks:
                    os.kill(proc.pid, signal.SIGKILL)  # it keeps running until the signal lands
        proc.wait()
    finally:
        timer.cancel()
    assert not timed_out.is_set(), "child did not finish in time:\n" + "\n".join(lines[-30:])
    loaded_line = next((x for x in lines if x.startswith("LOADED ")), None)
    # None: killed while loading (a compaction of a torn log at start-up is a kill point too)
    run = Run(loaded=[tuple(x) for x in json.loads(loaded_line[7:])] if loaded_line else None,
              tmp_left="TMP True" in lines, acks=[], pops=[], try_i=None, try_pop=None, lines=lines)
    for x in lines:
        parts = x.split()
        if x.startswith("Traceback"):
            raise AssertionError("child crashed:\n" + "\n".join(lines[-30:]))
        if not parts or parts[-1] != ".":
            continue  # cut by the kill: print() writes a line in pieces, a whole string at once
        if parts[0] == "TRY":
            run.try_i = int(parts[1])
        elif parts[0] == "ACK":
            run.acks.append((int(parts[1]), parts[2], int(parts[3])))
            run.try_i = None
        elif parts[0] == "TRYPOP":
            run.try_pop = int(parts[1])
        elif parts[0] == "POP":
            run.pops.append(int(parts[1]))
            run.try_pop = None
    return run


def check_and_adopt(model: Model, run: Run, in_flight: tuple[int | None, int | None]) -> None:
    """The journal loaded by `run` must be exactly the model, except for the previous round's one
    append and one pop in flight at the kill."""
    try_i, try_pop = in_flight
    loaded = run.loaded
    assert loaded is not None
    seqs = [s for s, _, _ in loaded]
    assert seqs == sorted(set(seqs)), f"order or duplicates broken: {seqs}"
    expected = list(model.queue)
    extra = loaded[len(loaded) - 1:] if loaded and try_i is not None and loaded[-1][2] == try_i else []
    core = loaded[:len(loaded) - len(extra)]
    if try_pop is not None and expected and expected[0][0] == try_pop and core[:1] != expected[:1]:
        expected = expected[1:]  # the pop in flight reached the file
    assert core == expected, f"lost or changed messages:\nexpected {expected}\nloaded   {core}"
    assert not run.tmp_left, "a half compaction was left behind"
    model.queue = list(loaded)


def apply(model: Model, run: Run) -> tuple[int | None, int | None]:
    """Fold a round's acknowledgements into the model; returns the ops in flight at its end."""
    for seq, action, i in run.acks:
        model.queue.append((seq, action, i))
        model.next_i = i + 1
    for seq in run.pops:
        assert model.queue and model.queue[0][0] == seq, f"popped {seq} but the head is {model.queue[:1]}"
        model.queue.pop(0)
    if run.try_i is not None:
        model.next_i = run.try_i + 1
    return run.try_i, run.try_pop


def test_sigkill_at_any_point_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(20260101)
    flash = tmp_path / "flash"
    flash.mkdir()
    model = Model()
    in_flight: tuple[int | None, int | None] = (None, None)
    plan: list[tuple[str, int, int | None]] = [("torn", n, None) for n in (1, 7, 40)]
    plan += [("after", n, None) for n in (3, 50)]
    plan += [("compact_mid", n, None) for n in (1, 2, 5, 30)]
    plan += [("rename", 0, None)] * 2
    plan += [("run", 0, rng.randint(1, 400)) for _ in range(12)]
    rng.shuffle(plan)
    kinds_seen = set()
    for mode, arg, kill_after in plan:
        run = run_child(flash, mode, arg, model.next_i, model.next_i + 100000 if mode == "run" else model.next_i + 400,
                        kill_after_acks=kill_after)
        if run.loaded is None:
            assert not run.acks, "acknowledged before the journal was loaded"
        else:
            check_and_adopt(model, run, in_flight)
            in_flight = apply(model, run)
        if mode != "run":
            assert "FINISHED" not in run.lines, f"fault {mode} {arg} was never reached"
        kinds_seen.add(mode)
        model.rounds.append(f"{mode}:{arg}:{kill_after} acks={len(run.acks)} queue={len(model.queue)}")
    final = run_child(flash, "drain", 0, model.next_i, model.next_i)
    check_and_adopt(model, final, in_flight)
    assert "DRAINED" in final.lines
    drained = [int(x.split()[2]) for x in final.lines if x.startswith("POP ")]
    assert drained == [i for _, _, i in model.queue]
    assert drained == sorted(drained) and len(drained) > 50
    assert Path(flash / "data" / "journal.log").exists()
    assert kinds_seen == {"torn", "after", "compact_mid", "rename", "run"}
