"""Smoke tests of the benchmark scripts at tiny sizes: they run, print one JSON record per engine, and the engines
agree with the pyarrow baseline. No timing is asserted (the numbers of a shared machine mean nothing here).

    pytest benchmarks/test_benchmarks.py            # in-process engines only (no Ray, no JVM): ~1 minute
    PAXFLOW_BENCH_RAY=1 pytest benchmarks/...       # also Paxflow (starts a local Ray in each script)

Not collected by a plain `pytest` (the project's testpaths is tests/). Each script runs as a subprocess, as a user
runs it, with its data cache in a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WITH_RAY = os.environ.get("PAXFLOW_BENCH_RAY") == "1"


def run_script(name: str, args: list[str], data_dir: str) -> list[dict]:
    env = dict(os.environ, PAXFLOW_BENCH_DATA=data_dir)
    done = subprocess.run([sys.executable, os.path.join(HERE, name), *args], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # stdout holds nothing but the records


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("bench-data"))


def test_help():
    for name in ("wordcount.py", "join.py"):
        done = subprocess.run([sys.executable, os.path.join(HERE, name), "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "--runs" in done.stdout and "--engines" in done.stdout


@pytest.mark.timeout(900)
def test_wordcount_engines_agree(data_dir):
    engines = "pyarrow,pyarrow_mt,duckdb,polars,dask" + (",paxflow" if WITH_RAY else "")
    records = run_script("wordcount.py", ["--size", "2MiB", "--runs", "1", "--engines", engines], data_dir)
    by_engine = {r["engine"]: r for r in records}
    assert set(by_engine) == set(engines.split(","))
    for engine, r in by_engine.items():
        if "skipped" in r:
            continue
        assert "failed" not in r, r
        assert r["bench"] == "wordcount" and r["agrees"] is True, (engine, r)
        assert r["distinct_words"] > 1000 and r["total_words"] > r["distinct_words"]
        assert r["wall_s_median"] > 0 and len(r["wall_s_runs"]) == 1 and r["ratio_vs_pyarrow"] is not None
    assert by_engine["pyarrow"]["ratio_vs_pyarrow"] == 1.0


@pytest.mark.timeout(900)
def test_join_engines_agree(data_dir):
    engines = "pyarrow,duckdb,polars" + (",paxflow" if WITH_RAY else "")
    records = run_script("join.py", ["--scale", "0.02", "--rows", "200k", "--runs", "1", "--engines", engines],
                         data_dir)
    benches = {(r["bench"], r["engine"]): r for r in records}
    for bench in ("tpch_revenue", "join_x_medium"):
        for engine in engines.split(","):
            r = benches[(bench, engine)]
            if "skipped" in r:
                continue
            assert "failed" not in r, r
            assert r["agrees"] is True, r
            assert r["rows_per_s"] > 0
    assert len(benches[("tpch_revenue", "pyarrow")]["result"]) == 5
    assert benches[("join_x_medium", "pyarrow")]["result"]["rows"] > 0


@pytest.mark.timeout(300)
def test_shuffle_records(data_dir):
    """shuffle.py at tiny sizes: ring balance and movement records (no Ray, ~3 s); with PAXFLOW_BENCH_RAY=1 also
    a 4 MiB store-vs-ray.put throughput run (~30 s, most of it Ray's start)."""
    only = "balance,movement" + (",throughput" if WITH_RAY else "")
    records = run_script("shuffle.py", ["--only", only, "--stores", "4", "16", "--partitions-per-store", "4",
                                        "--seeds", "2", "--balance-size", "2MiB", "--bytes", "4MiB", "--runs", "1"],
                         data_dir)
    by_bench: dict[str, list[dict]] = {}
    for r in records:
        by_bench.setdefault(r["bench"], []).append(r)
    assert len(by_bench["shuffle_balance"]) == len(by_bench["shuffle_movement"]) == 4  # 2 store counts x 2 eps
    for r in by_bench["shuffle_balance"]:
        assert r["partitions"] == 4 * r["stores"] and r["map_output_bytes"] > 0
        assert r["bytes_per_store"]["max_over_mean"] >= 1.0 and r["partitions_per_store"]["max_over_mean"] >= 1.0
        if r["eps"] is not None:  # bounded loads: no store over ceil(1.25 * mean) partitions
            assert r["partitions_per_store"]["max"] <= -(-5 * r["partitions"] // (4 * r["stores"]))
    for r in by_bench["shuffle_movement"]:
        assert 0 < r["moved_join_mean"] < r["modulo_moved_join"] and 0 < r["moved_leave_mean"] <= 1
    if WITH_RAY:
        [r] = by_bench["shuffle_throughput"]
        assert r["rows"] > 0 and r["store"]["mb_per_s"] > 0 and r["rayput"]["mb_per_s"] > 0
        assert r["ratio_store_over_rayput"] > 0
