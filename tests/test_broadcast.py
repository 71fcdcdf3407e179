"""The broadcast join (framework.exec.broadcast) and its planning (framework.plan): pure tests, no Ray.

Every fast path (direct-address and sorted integer indexes, string `index_in`) and the general fallback are checked
against the shuffle join's own function (`join_tables`) and against DuckDB on adversarial inputs: nulls on both
sides, duplicate keys, keys of different integer widths and string kinds (string_view, large_string, dictionary),
decimal and string_view payload columns, clashing column names, different key names, empty sides, sparse and
negative keys; for every join type a broadcast can do, with either side broadcast.
"""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa
import pytest

from framework.exec import broadcast as bc
from framework.exec.tasks import join_tables
from framework.io.normalize import normalize_types
from framework.job import Join
from framework.plan import BROADCAST_SIDES, InputSplits, StepShape, build_plan, explain
from tests.test_join import oracle, rows


def _pairs():
    for how, sides in BROADCAST_SIDES.items():
        for side in sides:
            yield how, side


def _small_and_streamed(rng, kind: str, n_small: int, n_big: int, unique: bool, nulls: bool):
    """(small-side keys, streamed keys) of one key kind."""
    if kind == "hits":  # every streamed key valid, in range and found: the direct index's one-gather path
        small = rng.permutation(n_small * 2)[:n_small] if unique else rng.integers(0, n_small, n_small)
        sk, bk = pa.array(small, pa.int64()), pa.array(rng.choice(small, n_big), pa.int8())
    elif kind == "dense":
        small = rng.permutation(n_small * 2)[:n_small] if unique else rng.integers(0, n_small, n_small)
        big = rng.integers(-3, n_small * 2 + 3, n_big)
        sk, bk = pa.array(small, pa.int32()), pa.array(big, pa.int64())
    elif kind == "sparse":
        values = rng.permutation(np.unique(rng.integers(-10**12, 10**12, n_small * 2)))[:n_small]
        small = values if unique else rng.choice(values, n_small)
        big = np.concatenate([rng.choice(small, n_big // 2), rng.integers(-10**12, 10**12, n_big - n_big // 2)])
        sk, bk = pa.array(small, pa.int64()), pa.array(big, pa.int64())
    else:  # strings of several Arrow kinds
        words = [f"w{i}" for i in (rng.permutation(n_small * 2)[:n_small] if unique else rng.integers(0, n_small, n_small))]
        big = [f"w{i}" for i in rng.integers(0, n_small * 2, n_big)]
        sk = pa.array(words, pa.large_string()) if kind == "large" else pa.array(words).dictionary_encode()
        bk = pa.array(big, pa.string_view())
    if nulls:
        sk = pa.array([None if i % 7 == 3 else v for i, v in enumerate(sk.to_pylist())], sk.type)
        bk = pa.array([None if i % 5 == 1 else v for i, v in enumerate(bk.to_pylist())], bk.type)
    return sk, bk


def _tables(seed: int, kind: str, unique: bool, nulls: bool, same_names: bool, n_small=40, n_big=300):
    rng = np.random.default_rng(seed)
    sk, bk = _small_and_streamed(rng, kind, n_small, n_big, unique, nulls)
    skey, bkey = ("id", "id") if same_names else ("sid", "bid")
    small = pa.table({skey: sk, "v": pa.array([f"s{i}" for i in range(len(sk))], pa.string_view()),
                      "amount": pa.array([decimal.Decimal(i) / 4 for i in range(len(sk))], pa.decimal128(12, 2))})
    big = pa.table({bkey: bk, "v": pa.array(np.arange(len(bk))), "x": pa.array(rng.random(len(bk)))})
    return small, big, skey, bkey


CASES = [(kind, unique, nulls, same) for kind in ("hits", "dense", "sparse", "large", "dict")
         for unique in (True, False) for nulls in (False, True) for same in (True, False)]


@pytest.mark.parametrize("how,side", list(_pairs()))
@pytest.mark.parametrize("kind,unique,nulls,same", CASES)
def test_broadcast_join_equals_the_shuffle_join_and_duckdb(how, side, kind, unique, nulls, same):
    small, big, skey, bkey = _tables(hash((kind, unique, nulls, same)) % 1000, kind, unique, nulls, same)
    if side == "right":
        left, right, join = big, small, Join([bkey], [skey], how=how)
    else:
        left, right, join = small, big, Join([skey], [bkey], how=how)
    got = bc.BroadcastSide(small, join, side).join(big)
    want = join_tables(normalize_types(left), normalize_types(right), join)  # Arrow's join takes no view types
    assert got.column_names == want.column_names
    assert got.schema.types == want.schema.types
    assert rows(got) == rows(want)
    assert rows(got) == oracle(left, right, join.left_on, join.right_on, how)


def test_each_fast_path_is_taken_where_it_should_be():
    j = Join(["k"], ["k"])
    dense = bc.BroadcastSide(pa.table({"k": [5, 1, 9]}), j, "right")
    sparse = bc.BroadcastSide(pa.table({"k": [0, 10**15, -10**15]}), j, "right")
    text = bc.BroadcastSide(pa.table({"k": ["a", "b"]}), j, "right")
    dupes = bc.BroadcastSide(pa.table({"k": [1, 1, 2]}), j, "right")
    floats = bc.BroadcastSide(pa.table({"k": [1.0, 2.0]}), j, "right")
    assert dense.lookup is not None and dense.lookup.__name__ == "direct"
    assert sparse.lookup is not None and sparse.lookup.__name__ == "search"
    assert text.lookup is not None and text.lookup.__name__ == "probe"
    assert dupes.lookup is None and floats.lookup is None  # the general hash join
    multi = bc.BroadcastSide(pa.table({"a": [1], "b": [2]}), Join(["a", "b"], ["a", "b"]), "right")
    assert multi.lookup is None


@pytest.mark.parametrize("how,side", list(_pairs()))
def test_empty_sides_and_a_side_without_schema(how, side):
    small, big, skey, bkey = _tables(1, "dense", True, True, True)
    for s, b in ((small.slice(0, 0), big), (small, big.slice(0, 0))):
        left, right = (b, s) if side == "right" else (s, b)
        join = Join(["id"], ["id"], how=how)
        got = bc.BroadcastSide(s, join, side).join(b)
        assert rows(got) == rows(join_tables(normalize_types(left), normalize_types(right), join))
    none = bc.BroadcastSide(None, Join(["id"], ["id"], how=how), side).join(big)
    assert (none is not None) == (side == "right" and how in ("left", "anti"))


def test_mismatched_key_types_are_a_usage_error():
    from framework.errors import UsageError

    side = bc.BroadcastSide(pa.table({"k": [1, 2]}), Join(["k"], ["k"]), "right")
    with pytest.raises(UsageError, match="join key 'k'"):
        side.join(pa.table({"k": ["1", "2"]}))


def test_the_worker_cache_holds_one_stage_and_reads_once():
    reads = []

    def read():
        reads.append(1)
        return pa.table({"k": [1, 2]}), {"rows": 2}

    j = Join(["k"], ["k"])
    a = bc.broadcast_side("job-a", 0, read, j, "right")
    assert bc.broadcast_side("job-a", 0, read, j, "right") is a and len(reads) == 1
    bc.broadcast_side("job-b", 0, read, j, "right", version="files v1")
    assert len(reads) == 2 and list(bc._CACHE) == [("job-b", 0, "files v1")]
    bc.broadcast_side("job-b", 0, read, j, "right", version="files v2")  # the same job id over other files
    assert len(reads) == 3
    bc.forget_other_jobs("job-b")
    assert len(bc._CACHE) == 1
    bc.forget_other_jobs("job-c")  # a task of another job frees it
    assert not bc._CACHE


# ---- planning ---------------------------------------------------------------------------------------------------


class FakeSplit:
    def __init__(self, name: str, i: int, size: int):
        self.path, self.size, self.i = f"/{name}/{i}", size, i

    def to_dict(self):
        return {"path": self.path, "start": 0, "end": -1, "row_groups": [], "size": self.size}


def _inputs(**sizes):
    return {name: InputSplits(name, [FakeSplit(name, i, s) for i, s in enumerate(ss)]) for name, ss in sizes.items()}


def _join_step(how="inner", left="big", right="small", reduce=False):
    return StepShape("join", [left, right], True, join={"how": how, "left": left, "right": right},
                     broadcastable=not reduce, keys=["k"])


def test_a_small_side_is_broadcast_and_a_final_broadcast_join_writes_from_its_maps():
    plan = build_plan([_join_step()], _inputs(big=[100, 100, 100], small=[10]), cpus=2, broadcast_limit=50)
    (stage,) = plan.stages
    assert stage.broadcast["input"] == "small" and stage.broadcast["side"] == "right"
    assert [m.input for m in stage.maps] == ["big"] * 3 and stage.num_partitions == 0
    assert stage.output_ids() == [m.task_id for m in stage.maps]
    shuffled = build_plan([_join_step()], _inputs(big=[100], small=[10]), cpus=2, broadcast_limit=9)
    assert shuffled.stages[0].broadcast is None and shuffled.stages[0].num_partitions >= 2
    off = build_plan([_join_step()], _inputs(big=[100], small=[0]), cpus=2, broadcast_limit=0)
    assert off.stages[0].broadcast is None


@pytest.mark.parametrize("how,expected", [("inner", "left"), ("left", None), ("right", "left"), ("full", None),
                                          ("semi", None), ("anti", None)])
def test_only_a_side_whose_unmatched_rows_are_dropped_is_broadcast(how, expected):
    # the left side is the small one here: only inner and right joins can broadcast it
    plan = build_plan([_join_step(how, left="small", right="big")], _inputs(big=[100], small=[10]), cpus=2,
                      broadcast_limit=50)
    got = plan.stages[0].broadcast
    assert (got["side"] if got else None) == expected


def test_a_join_with_a_user_reduce_is_shuffled():
    plan = build_plan([_join_step(reduce=True)], _inputs(big=[100], small=[1]), cpus=2, broadcast_limit=50)
    assert plan.stages[0].broadcast is None


def test_a_broadcast_join_fuses_with_the_next_step_and_later_steps_read_the_fused_stage():
    steps = [_join_step(), StepShape("group", ["step:0"], True, keys=["g"], aggregates=["n"]),
             StepShape("top", ["step:1"], False)]
    plan = build_plan(steps, _inputs(big=[100, 100], small=[5]), cpus=2, broadcast_limit=50)
    assert len(plan.stages) == 2
    fused, top = plan.stages
    assert fused.chain == (0, 1) and fused.name == "join + group" and fused.broadcast["step"] == 0
    assert [m.input for m in fused.maps] == ["big", "big"] and fused.num_partitions == 2
    assert all(m.input == "step:1" and m.source_stage == 0 for m in top.maps) and top.chain == (2,)
    text = explain(plan, steps, 2, 50)
    assert "broadcast inner join" in text and "fused" in text and "stage 1: top" in text


def test_no_broadcast_when_the_join_output_is_read_twice():
    steps = [_join_step(), StepShape("a", ["step:0"], True), StepShape("b", ["step:0", "step:1"], True,
                                                                       join={"how": "inner", "left": "step:0",
                                                                             "right": "step:1"})]
    plan = build_plan(steps, _inputs(big=[100], small=[5]), cpus=2, broadcast_limit=50)
    assert plan.stages[0].broadcast is None and len(plan.stages) == 3


def test_plans_from_before_fusion_still_load():
    plan = build_plan([StepShape("s", ["big"], True)], _inputs(big=[10]), cpus=2)
    d = plan.to_dict()
    for s in d["stages"]:
        del s["steps"], s["broadcast"]
        for m in s["maps"]:
            del m["source_stage"]
    from framework.plan import JobPlan

    again = JobPlan.from_dict(d)
    assert again.stages[0].chain == (0,) and again.stages[0].broadcast is None
