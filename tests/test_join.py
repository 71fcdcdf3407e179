"""The join job against DuckDB on adversarial inputs: every join type, duplicates, nulls, multi-column keys,
empty sides, skew, differently named keys, clashing columns, mixed integer widths and Arrow view types."""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import plain_run as run
from framework.errors import UsageError

JOIN = os.path.join(os.path.dirname(__file__), "..", "jobs", "join.py")
HOWS = ["inner", "left", "right", "full", "semi", "anti"]
SQL_JOIN = {"inner": "INNER JOIN", "left": "LEFT JOIN", "right": "RIGHT JOIN", "full": "FULL OUTER JOIN",
            "semi": "SEMI JOIN", "anti": "ANTI JOIN"}


_CONNECTION: list = []


def _duckdb():
    """One DuckDB connection for the module's oracles (a connection costs ~30 ms; there are hundreds of cases)."""
    if not _CONNECTION:
        _CONNECTION.append(duckdb.connect())
    return _CONNECTION[0]


def oracle(left: pa.Table, right: pa.Table, lkeys, rkeys, how) -> list[tuple]:
    """The expected rows, in the job's column layout, computed by DuckDB."""
    con = _duckdb()
    con.register("l", left)
    con.register("r", right)
    cond = " AND ".join(f'l."{a}" = r."{b}"' for a, b in zip(lkeys, rkeys))
    if how in ("semi", "anti"):
        select = ", ".join(f'l."{c}"' for c in left.column_names)
    else:
        same = lkeys == rkeys
        cols = [f'COALESCE(l."{c}", r."{c}")' if same and c in lkeys else f'l."{c}"' for c in left.column_names]
        cols += [f'r."{c}"' for c in right.column_names if not (same and c in rkeys)]
        select = ", ".join(cols)
    return sorted(con.execute(f"SELECT {select} FROM l {SQL_JOIN[how]} r ON {cond}").fetchall(), key=repr)


def rows(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def save(tmp_path, name, table) -> str:
    path = str(tmp_path / f"{name}.parquet")
    pq.write_table(table, path, row_group_size=max(1, table.num_rows // 3 or 1))
    return path


def check(tmp_path, left, right, on, how, executor="inline", tag="", limits=(0, None), **kw):
    """The join job's output equals DuckDB's, shuffled (broadcast limit 0) and as planned by default (these small
    inputs: broadcast where the join type allows)."""
    lkeys = [o.split("=")[0] for o in on]
    rkeys = [o.split("=")[-1] for o in on]
    inputs = {"left": save(tmp_path, f"l{tag}", left), "right": save(tmp_path, f"r{tag}", right)}
    want = oracle(left, right, lkeys, rkeys, how)
    for limit in limits:
        out = tmp_path / f"out-{how}-{executor}{tag}-{limit}"
        result = run(JOIN, inputs, str(out), args=[a for o in on for a in ("--on", o)] + ["--how", how],
                     executor=executor, broadcast_limit=limit, **kw)
        got = result.read()
        assert rows(got) == want, f"broadcast limit {limit}"
    return got


LEFT = pa.table({"id": pa.array([1, 2, 2, None, 5, 7, 7, 7], pa.int64()),
                 "v": ["a", "b", "c", "d", "e", "f", "g", "h"]})
RIGHT = pa.table({"id": pa.array([2, 2, None, 5, 6, 7], pa.int32()),  # int32 on purpose: widths differ
                  "v": ["x", "y", "z", "w", "u", "t"], "extra": [1.0, 2.0, 3.0, None, 5.0, 6.0]})


@pytest.mark.parametrize("how", HOWS)
def test_join_types_with_duplicates_nulls_and_clashing_names(tmp_path, how):
    got = check(tmp_path, LEFT, RIGHT, ["id"], how, partitions=3)
    if how not in ("semi", "anti"):
        assert got.column_names == ["id", "v_left", "v_right", "extra"]


@pytest.mark.parametrize("how", HOWS)
def test_join_types_on_ray(tmp_path, how, ray_session):
    check(tmp_path, LEFT, RIGHT, ["id"], how, executor="ray", partitions=4)


@pytest.mark.parametrize("how", ["inner", "full", "anti"])
def test_multi_column_differently_named_string_view_keys(tmp_path, how):
    rng = np.random.default_rng(3)
    n = 2000
    a = pa.array(rng.integers(0, 20, n))
    b = pa.array([f"k{i}" if i % 11 else None for i in rng.integers(0, 15, n)], pa.string_view())
    left = pa.table({"a": a, "b": b, "lv": np.arange(n)})
    m = 700
    right = pa.table({"ra": pa.array(rng.integers(0, 25, m)), "rb": pa.array([f"k{i}" for i in rng.integers(0, 18, m)]),
                      "rv": np.arange(m)})
    got = check(tmp_path, left, right, ["a=ra", "b=rb"], how, partitions=5)
    if how == "full":
        assert got.column_names == ["a", "b", "lv", "ra", "rb", "rv"]


@pytest.mark.parametrize("how", HOWS)
def test_empty_sides(tmp_path, how):
    empty_right = RIGHT.slice(0, 0)
    check(tmp_path, LEFT, empty_right, ["id"], how, tag="a")
    check(tmp_path, LEFT.slice(0, 0), RIGHT, ["id"], how, tag="b")


def test_skewed_keys(tmp_path):
    hot = np.where(np.arange(20_000) % 10 < 8, 42, np.arange(20_000))
    left = pa.table({"id": hot, "x": np.arange(20_000)})
    right = pa.table({"id": pa.array([42, 42, 1, 3, 5]), "y": [1, 2, 3, 4, 5]})
    check(tmp_path, left, right, ["id"], "left", partitions=8)


def test_bad_join_options_are_usage_errors(tmp_path):
    inputs = {"left": save(tmp_path, "l", LEFT), "right": save(tmp_path, "r", RIGHT)}
    with pytest.raises(UsageError, match="--on"):
        run(JOIN, inputs, str(tmp_path / "o1"), args=[], executor="inline")
    with pytest.raises(UsageError, match="invalid choice"):
        run(JOIN, inputs, str(tmp_path / "o2"), args=["--on", "id", "--how", "sideways"], executor="inline")
    with pytest.raises(UsageError, match="right"):
        run(JOIN, {"left": inputs["left"]}, str(tmp_path / "o3"), args=["--on", "id"], executor="inline")


def _dimension_and_facts(seed: int, n_facts: int = 30_000, n_dims: int = 400):
    """A fact table (nulls, keys with no dimension row) and a dimension table with unique keys: the broadcast
    join's fast path."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_dims + 50, n_facts)
    facts = pa.table({"id": pa.array(np.where(np.arange(n_facts) % 97 == 5, None, keys), pa.int64()),
                      "x": np.arange(n_facts), "v": rng.random(n_facts)})
    dims = pa.table({"id": pa.array(rng.permutation(n_dims), pa.int32()),
                     "name": [f"d{i}" for i in range(n_dims)], "v": np.arange(n_dims) * 0.5})
    return facts, dims


@pytest.mark.parametrize("how", ["inner", "left", "semi", "anti"])
def test_broadcast_join_over_many_map_tasks_on_ray(tmp_path, how, ray_session):
    facts, dims = _dimension_and_facts(7)
    # several splits of the fact table; the dimension side is broadcast (default limit) and, with 0, shuffled
    check(tmp_path, facts, dims, ["id"], how, executor="ray", split_size=40_000)


COUNTING_JOB = '''
from framework import Auto, Job, Join, Step

class CountingJoin(Job):
    inputs = {"left": Auto(), "right": Auto()}

    def count_left(self, batch):
        self.increment("left_rows", batch.num_rows)
        return batch

    def count_right(self, batch):
        self.increment("right_rows", batch.num_rows)
        return batch

    def steps(self):
        return [Step(map={"left": self.count_left, "right": self.count_right}, join=Join(["id"], ["id"]))]
'''


@pytest.mark.parametrize("broadcast_limit", [0, None], ids=["shuffle", "broadcast"])
def test_counters_of_the_broadcast_side_count_once(tmp_path, broadcast_limit, ray_session):
    facts, dims = _dimension_and_facts(8)
    job = tmp_path / "counting.py"
    job.write_text(COUNTING_JOB)
    result = run(str(job), {"left": save(tmp_path, "f", facts), "right": save(tmp_path, "d", dims)},
                 str(tmp_path / "out"), executor="ray", split_size=40_000, broadcast_limit=broadcast_limit)
    assert result.counters == {"left_rows": facts.num_rows, "right_rows": dims.num_rows}
    assert result.read().num_rows == oracle_count(facts, dims)


def oracle_count(facts: pa.Table, dims: pa.Table) -> int:
    return len(oracle(facts, dims, ["id"], ["id"], "inner"))


def _skewed(seed: int, n: int, hot: dict, spread: int, nulls: bool = True) -> pa.Table:
    """n rows whose key takes each of `hot`'s keys for that share of the rows, else one of `spread` others."""
    rng = np.random.default_rng(seed)
    keys = rng.integers(1000, 1000 + spread, n)
    start = 0
    for key, share in hot.items():
        count = int(n * share)
        keys[start:start + count] = key
        start += count
    keys = rng.permutation(keys)
    return pa.table({"id": pa.array([None if nulls and i % 53 == 0 else int(k) for i, k in enumerate(keys)],
                                    pa.int64()), "x": np.arange(n)})


@pytest.mark.parametrize("how", ["inner", "left", "semi", "anti", "right"])
def test_hot_keys_are_split_across_reducers(tmp_path, how):
    from framework.client import plan_job
    from framework.exec.inline import run_inline

    big = _skewed(1, 6000, {42: 0.4, 7: 0.15}, 300)  # two hot keys: 40% and 15% of the rows
    small = _skewed(2, 400, {42: 0.01, 7: 0.005}, 350)  # a few rows of each hot key, to be copied
    left, right = (small, big) if how == "right" else (big, small)  # a right join may split only its right side
    check(tmp_path, left, right, ["id"], how, partitions=3)
    inputs = {"left": save(tmp_path, "l", left), "right": save(tmp_path, "r", right)}
    job_id, spec = plan_job(JOIN, inputs, str(tmp_path / "plan"), args=["--on", "id", "--how", how], partitions=3,
                            broadcast_limit=0, cpus=2)
    skew = spec["plan"]["stages"][0]["skew"]
    assert skew["split"] == ("right" if how == "right" else "left") and len(skew["hashes"]) == 2
    assert spec["plan"]["stages"][0]["num_partitions"] == 3 + 2 * skew["fanout"]
    assert "skew: 2 hot key(s)" in spec["explain"]
    job, _ = run_inline(job_id, spec)
    reduced = [r.result["rows_in"] for t, r in job.tasks.items() if "r" in t[1:]]
    assert job.status == "committed" and max(reduced) < 0.3 * sum(reduced), reduced  # not 40% in one reducer


def test_no_skew_split_for_a_full_join_or_an_even_input(tmp_path):
    from framework.client import plan_job

    big = _skewed(1, 6000, {42: 0.4}, 300)
    even = _skewed(3, 6000, {}, 3000)
    for left, how in ((big, "full"), (even, "inner")):
        inputs = {"left": save(tmp_path, "l", left), "right": save(tmp_path, "r", even)}
        _, spec = plan_job(JOIN, inputs, str(tmp_path / "plan"), args=["--on", "id", "--how", how], broadcast_limit=0)
        assert spec["plan"]["stages"][0]["skew"] is None


def test_hot_keys_split_on_ray(tmp_path, ray_session):
    big = _skewed(4, 8000, {42: 0.5}, 200)
    small = _skewed(5, 300, {42: 0.02}, 250)
    check(tmp_path, big, small, ["id"], "left", executor="ray", limits=(0,), partitions=2, split_size=30_000)


def test_a_job_id_used_again_over_another_small_side_gets_the_new_one(tmp_path):
    facts, dims = _dimension_and_facts(9)
    job = tmp_path / "counting.py"
    job.write_text(COUNTING_JOB)
    for n in (400, 40):  # the same job id, in this process (where the broadcast side stays cached)
        few = dims.slice(0, n)
        path = str(tmp_path / f"d{n}.parquet")
        pq.write_table(few, path)
        result = run(str(job), {"left": save(tmp_path, "f", facts), "right": path}, str(tmp_path / f"out{n}"),
                     executor="inline", job_id="join-again")
        assert result.counters["right_rows"] == n
        assert result.read().num_rows == oracle_count(facts, few)


def test_suffixes_that_clash_again_are_one_usage_error(tmp_path):
    left = pa.table({"id": [1, 2], "v": [1, 2], "v_right": [3, 4]})
    right = pa.table({"id": [1, 2], "v": [5, 6]})
    inputs = {"left": save(tmp_path, "l", left), "right": save(tmp_path, "r", right)}
    for limit in (0, None):  # shuffled and broadcast
        with pytest.raises(UsageError, match="two columns named 'v_right'"):
            run(JOIN, inputs, str(tmp_path / f"o{limit}"), args=["--on", "id"], executor="inline",
                broadcast_limit=limit)
