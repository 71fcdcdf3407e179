"""`paxflow bench` as a user runs it: a tiny word count over the in-process engines the test extra installs (no
Ray: the Ray engines run in the benchmarks' own smoke tests), the files it writes, and one-line errors for bad
options. Nothing about speed is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def bench(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.cli", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def bench_records(out, env: dict, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`paxflow bench ARGS --runs 1 --out OUT`, which must succeed, and the records it wrote."""
    done = bench(*args, "--runs", "1", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]


@pytest.fixture
def env(tmp_path) -> dict:
    return dict(os.environ, PAXFLOW_BENCH_DATA=str(tmp_path / "data"))


@pytest.mark.timeout(300)
def test_bench_wordcount_writes_records_table_and_plot(tmp_path, env):
    out = tmp_path / "out"
    done, records = bench_records(out, env, "wordcount", "--size", "1MiB",
                                  "--engines", "pyarrow,polars,polars_csv,duckdb")
    by_engine = {r["engine"]: r for r in records}
    assert set(by_engine) == {"pyarrow", "polars", "polars_csv", "duckdb"}
    for r in by_engine.values():
        assert r["bench"] == "wordcount" and r["group"] == "wordcount"
        assert r["agrees"] is True and 0.9 * (1 << 20) < r["input_bytes"] <= 1 << 20 and r["wall_s_median"] > 0, r
        assert r.get("peak_pss_mb") is None or r["peak_pss_mb"] > 0  # measured where psutil is installed
    assert by_engine["polars_csv"]["config"]["reader"].startswith("scan_csv")
    table = (out / "table.md").read_text()
    assert table == done.stdout  # the same report on the screen and in the file
    assert "| wordcount | polars_csv |" in table and "Machine: " in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in done.stderr
    else:
        assert (out / "throughput.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "unknown benchmark nosuch"),
    (["wordcount", "--engines", "pyarrow,nosuch"], "unknown engine nosuch"),
    (["wordcount", "--size", "lots"], "--size"),
    (["scaling", "--cpus", "0"], "CPU counts >= 1"),
    (["wordcount", "--runs", "0"], "--runs: at least 1"),
    (["wordcount", "--out", "/proc/no-such-dir/out"], "--out /proc/no-such-dir/out:"),
])
def test_bad_options_are_one_line_errors(args, message, capsys):
    """Through `paxflow bench` in this process (it runs benchmarks/run.py here): exit 2, one line, no traceback."""
    from framework import cli

    assert cli._bench(args) == 2
    err = capsys.readouterr().err
    assert message in err.strip().splitlines()[-1], err


def test_bench_outside_a_checkout_says_so(tmp_path, monkeypatch, capsys):
    from framework import cli

    monkeypatch.setattr(cli.os.path, "isfile", lambda path: False)
    assert cli._bench(["all"]) == 2
    assert "needs the repository checkout" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_bench_real_counts_this_machines_documentation(tmp_path, env):
    out = tmp_path / "out"
    _, records = bench_records(out, env, "real", "--real-size", "1MiB", "--engines", "pyarrow_fw,polars_csv,duckdb")
    assert [r["engine"] for r in records] == ["pyarrow_fw", "polars_csv", "duckdb"]
    assert all(r["group"] == "real" and r["agrees"] is True and r["input"].startswith("realtext-") for r in records)
    assert "| wordcount (real text) | polars_csv |" in (out / "table.md").read_text()
