"""Multi-step jobs: top words (word count, then a global top K) against Counter; a user reduce() escape hatch;
and revenue_by_priority (a join feeding a group-by) against DuckDB on generated TPC-H tables."""

from __future__ import annotations

import os
import textwrap

import duckdb
from framework.client import plan_job
import pytest

from tests.conftest import plain_run as run
from tests.oracles import word_counts_of_files

ROOT = os.path.join(os.path.dirname(__file__), "..")
TOP_WORDS = os.path.join(ROOT, "jobs", "top_words.py")
REVENUE = os.path.join(ROOT, "jobs", "revenue_by_priority.py")


@pytest.fixture(params=["inline", "ray"])
def executor(request):
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


def test_top_words_matches_counter(tmp_path, executor):
    from framework.datagen.zipf import generate_corpus

    files = generate_corpus(str(tmp_path / "corpus"), 1_500_000, vocabulary=20_000, exponent=1.05, files=2, seed=3)
    result = run(TOP_WORDS, files, str(tmp_path / "out"), args=["--top", "25"], executor=executor,
                 split_size=200_000, partitions=3)
    got = result.read().to_pylist()
    counts = word_counts_of_files(files)
    want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:25]
    assert [(r["word"], r["count"]) for r in got] == want


def test_user_reduce_escape_hatch(tmp_path, executor):
    job = tmp_path / "longest.py"
    job.write_text(textwrap.dedent('''
        import pyarrow as pa
        import pyarrow.compute as pc
        from framework import Job
        from framework.text import words

        class LongestWordPerLetter(Job):
            """For each first letter, the longest word (ties: alphabetical) - a reduce() no aggregate expresses."""
            key = "letter"

            def map(self, batch):
                w = words(batch.column("line"))
                return pa.table({"letter": pc.utf8_slice_codeunits(w, 0, 1), "word": w})

            def reduce(self, table):
                self.increment("reduced_rows", table.num_rows)
                t = table.append_column("len", pc.utf8_length(table["word"]))
                t = t.sort_by([("letter", "ascending"), ("len", "descending"), ("word", "ascending")])
                letters = t["letter"].combine_chunks()
                first = pc.not_equal(letters.slice(1), letters.slice(0, len(letters) - 1))
                return t.filter(pa.concat_arrays([pa.array([True]), first])).select(["letter", "word"])
    '''))
    text = tmp_path / "in.txt"
    text.write_text("apple avocado banana blueberry cherry cranberry apricot\nbanana bilberry coconut\n" * 50)
    result = run(str(job), str(text), str(tmp_path / "out"), executor=executor, partitions=2, split_size=1000)
    got = {r["letter"]: r["word"] for r in result.read().to_pylist()}
    assert got == {"a": "apricot", "b": "blueberry", "c": "cranberry"}  # apricot and avocado tie on length
    assert result.counters == {"reduced_rows": 10 * 50}


@pytest.fixture(scope="module")
def tpch(tmp_path_factory):
    from framework.datagen.tpch import generate_tpch

    out = tmp_path_factory.mktemp("tpch")
    generate_tpch(str(out), scale=0.01, seed=1, row_group_rows=10_000)  # several splits per table
    return str(out)


@pytest.mark.parametrize("broadcast_limit", [0, None], ids=["shuffle", "broadcast-fused"])
def test_revenue_by_priority_matches_duckdb(tmp_path, tpch, executor, broadcast_limit):
    # by default orders is broadcast to the lineitem maps, which also combine by priority (one stage); 0: two
    # shuffled stages. Several map tasks either way, so workers reuse the broadcast side they read
    inputs = {"lineitem": os.path.join(tpch, "lineitem"), "orders": os.path.join(tpch, "orders")}
    _, spec = plan_job(REVENUE, inputs, str(tmp_path / "plan"), partitions=3, split_size=200_000,
                       broadcast_limit=broadcast_limit)
    stages = spec["plan"]["stages"]
    assert len(stages) == (1 if broadcast_limit is None else 2)
    assert len(stages[0]["maps"]) >= 3 and (stages[0]["broadcast"] is not None) == (broadcast_limit is None)
    result = run(REVENUE, inputs, str(tmp_path / "out"), executor=executor, partitions=3, split_size=200_000,
                 broadcast_limit=broadcast_limit)
    assert result.tasks == sum(len(s["maps"]) + s["num_partitions"] for s in stages)
    got = sorted((r["o_orderpriority"], r["order_lines"], round(r["revenue"], 2)) for r in result.read().to_pylist())
    con = duckdb.connect()
    want = con.execute(f"""
        SELECT o_orderpriority, count(*), round(sum(l_extendedprice), 2)
        FROM read_parquet('{tpch}/lineitem/*.parquet') JOIN read_parquet('{tpch}/orders/*.parquet')
          ON l_orderkey = o_orderkey
        GROUP BY o_orderpriority ORDER BY o_orderpriority""").fetchall()
    assert len(got) == 5
    assert [g[:2] for g in got] == [w[:2] for w in want]
    for g, w in zip(got, want):
        assert g[2] == pytest.approx(w[2], rel=1e-9)
