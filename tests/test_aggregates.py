"""Aggregates: combine (map-side) then merge + finish (reduce-side) equals a one-shot group-by, nulls included."""

import math
import random
from collections import defaultdict

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework import aggregates
from framework.aggregates import Count, Max, Mean, Min, Sum

AGGS = {"s": Sum("v"), "n": Count(), "nv": Count("v"), "lo": Min("v"), "hi": Max("v"), "avg": Mean("v")}


def oracle(rows):
    groups = defaultdict(list)
    for k, v in rows:
        groups[k].append(v)
    out = {}
    for k, vs in groups.items():
        vals = [v for v in vs if v is not None]
        out[k] = {
            "s": sum(vals) if vals else None,
            "n": len(vs),
            "nv": len(vals),
            "lo": min(vals) if vals else None,
            "hi": max(vals) if vals else None,
            "avg": sum(vals) / len(vals) if vals else None,
        }
    return out


def two_phase(chunks):
    partials = [aggregates.combine(pa.table({"k": [k for k, _ in c], "v": pa.array([v for _, v in c], pa.int64())}), ["k"], AGGS)
                for c in chunks if c]
    merged = aggregates.merge(pa.concat_tables(partials), ["k"], AGGS)
    return aggregates.finish(merged, ["k"], AGGS)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcde"), st.one_of(st.none(), st.integers(-1000, 1000))), min_size=1, max_size=60),
       st.integers(1, 5))
def test_two_phase_equals_oracle(rows, nchunks):
    random.Random(len(rows)).shuffle(rows)
    chunks = [rows[i::nchunks] for i in range(nchunks)]
    result = two_phase(chunks)
    assert result.column_names == ["k", "s", "n", "nv", "lo", "hi", "avg"]
    got = {r["k"]: {c: r[c] for c in AGGS} for r in result.to_pylist()}
    want = oracle(rows)
    assert got.keys() == want.keys()
    for k in want:
        for c in AGGS:
            if c == "avg" and want[k][c] is not None:
                assert math.isclose(got[k][c], want[k][c])
            else:
                assert got[k][c] == want[k][c], (k, c)


def test_global_aggregate_without_keys():
    t = pa.table({"v": [1, 2, None, 4]})
    aggs = {"s": Sum("v"), "n": Count(), "avg": Mean("v")}
    partial = aggregates.combine(t, [], aggs)
    merged = aggregates.merge(pa.concat_tables([partial, partial]), [], aggs)
    out = aggregates.finish(merged, [], aggs).to_pylist()
    assert out == [{"s": 14, "n": 8, "avg": pytest.approx(14 / 6)}]


def test_multi_column_keys():
    t = pa.table({"a": [1, 1, 2, 1], "b": ["x", "y", "x", "x"], "v": [1, 2, 3, 4]})
    out = aggregates.finish(aggregates.merge(aggregates.combine(t, ["a", "b"], {"v": Sum()}), ["a", "b"], {"v": Sum()}),
                            ["a", "b"], {"v": Sum()})
    assert sorted(out.to_pylist(), key=lambda r: (r["a"], r["b"])) == [
        {"a": 1, "b": "x", "v": 5}, {"a": 1, "b": "y", "v": 2}, {"a": 2, "b": "x", "v": 3}]
