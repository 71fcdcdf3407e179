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


def oracle(left: pa.Table, right: pa.Table, lkeys, rkeys, how) -> list[tuple]:
    """The expected rows, in the job's column layout, computed by DuckDB."""
    con = duckdb.connect()
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


def check(tmp_path, left, right, on, how, executor="inline", tag="", **kw):
    lkeys = [o.split("=")[0] for o in on]
    rkeys = [o.split("=")[-1] for o in on]
    out = tmp_path / f"out-{how}-{executor}{tag}"
    result = run(JOIN, {"left": save(tmp_path, f"l{tag}", left), "right": save(tmp_path, f"r{tag}", right)}, str(out),
                 args=[a for o in on for a in ("--on", o)] + ["--how", how], executor=executor, **kw)
    got = result.read()
    assert rows(got) == oracle(left, right, lkeys, rkeys, how)
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
