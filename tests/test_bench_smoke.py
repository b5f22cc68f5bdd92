"""`make bench` in its tiny size: every benchmark runs end to end and yields its figures, so the
bench code cannot rot. The figures themselves are not judged here (benchmarks, not tests)."""

from __future__ import annotations

import json

import pytest

from bench.common import Figure, median, percentile
from bench.run import BENCHMARKS, main


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 95) == 7.0
    assert median([3, 1, 2, 10]) == 2.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_ratio_is_value_over_baseline():
    assert Figure("x", "y", 3.0, "ms", 2.0).ratio == 1.5
    assert Figure("x", "y", 3.0, "ms", None).ratio is None


def test_a_broken_benchmark_is_a_row_not_a_crash(tmp_path, monkeypatch):
    import bench.deploy

    def broken(ctx):
        raise RuntimeError("board on fire")

    monkeypatch.setattr(bench.deploy, "run", broken)
    out = tmp_path / "results.json"
    assert main(["--only", "deploy", "--size", "tiny", "--out", str(out)]) == 1
    rows = json.loads(out.read_text())["figures"]
    assert [(r["benchmark"], r["name"], r["met"]) for r in rows] == [("deploy", "error", False)]
    assert "board on fire" in rows[0]["note"]


def test_every_benchmark_runs_in_its_tiny_size(tmp_path):
    out = tmp_path / "results.json"
    code = main(["--only", ",".join(BENCHMARKS), "--size", "tiny", "--out", str(out),
                 "--workdir", str(tmp_path / "work")])
    result = json.loads(out.read_text())
    errors = [r["note"] for r in result["figures"] if r["name"] == "error"]
    assert code == 0 and not errors, errors
    by_bench = {}
    for r in result["figures"]:
        by_bench.setdefault(r["benchmark"], []).append(r)
    assert set(by_bench) == set(BENCHMARKS)
    for rows in by_bench.values():
        measured = [r for r in rows if not r["details"].get("skipped")]
        assert measured and all(r["value"] is not None and r["value"] > 0 for r in measured), rows
    # a build that is not there (no MPY_SRC) is a row that says so, not a silent gap
    from tests import builds
    memory = [r["name"] for r in by_bench["memory"]]
    for build, label in (("unix32", "32-bit .mpy"), ("unix32-frozen", "32-bit frozen")):
        want = f"{label}: skipped" if builds.binary(build) is None else f"smallest heap, {label}"
        assert want in memory, memory
    skipped = [r for r in by_bench["memory"] if r["details"].get("skipped")]
    assert all("MPY_SRC" in r["note"] for r in skipped), skipped
    # every figure with a baseline has its ratio
    assert all(r["ratio"] is not None for r in result["figures"] if r["baseline"])
    assert result["figures"][0]["goal"]
