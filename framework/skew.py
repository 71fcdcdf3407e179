"""Skewed join keys: found by sampling at planning time, split across several reducers at run time.

A shuffle join sends every row of a key to one reducer, so a key that holds a large share of one side's rows
makes one reducer do that share of the work (and hold it in memory). When planning a shuffle join whose inputs are
job inputs, `hot_keys` samples the start of up to SAMPLE_SPLITS splits of the side that may be split, runs the
job's map over the sample and finds the keys holding at least SKEW_FRACTION of the sampled rows. The plan then
gives each hot key `fanout` extra partitions: the split side's rows of that key are spread over them by a hash of
the whole row (so a map run again routes each row alike), and the other side's rows of that key go to each of them (`framework.shuffle.partition.split_by_partition`). Keys are
identified by their 64-bit partitioning hash, so any key type and several key columns work, and a colder key
sharing a hot key's hash is simply routed the same way on both sides (still correct).

Which side may be split: the one whose unmatched rows the join keeps or drops, never the one whose unmatched rows
it emits from the replicated copies (those would appear once per copy): left for left/semi/anti joins, right for
right joins, either (the larger) for inner joins, neither for full joins or a join with a user `reduce` (which
expects every row of a key in one partition).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

#: a key holding at least this share of the sampled rows of the split side is split across several reducers
SKEW_FRACTION = 0.10
#: the sample: the first rows of up to this many splits (evenly spaced over the input), at most this many of each
#: (InputFormat.head: a format's first batch, or for Parquet the first rows of the split's first row group)
SAMPLE_SPLITS = 8
SAMPLE_ROWS = 20_000
#: the sides a join type lets split
SPLIT_SIDES = {"inner": ("left", "right"), "left": ("left",), "semi": ("left",), "anti": ("left",),
               "right": ("right",)}


def hot_keys(mapper: Any, fmt: Any, splits: Sequence[Any], keys: Sequence[str]) -> tuple[list[int], list[float], int]:
    """(hashes of the hot keys, their shares of the sample, sampled rows) of one join input."""
    import pyarrow as pa

    from framework.job import as_table
    from framework.shuffle.partition import hash_rows

    if not splits:
        return [], [], 0
    picks = sorted({int(i) for i in np.linspace(0, len(splits) - 1, min(SAMPLE_SPLITS, len(splits)))})
    tables = []
    for i in picks:
        # without a map the keys are input columns: a columnar format then decodes only those
        batch = fmt.head(splits[i], SAMPLE_ROWS, None if mapper else list(keys))
        if batch is None or batch.num_rows == 0:
            continue
        out = as_table(mapper(batch) if mapper else batch, "map()")
        if out is not None and out.num_rows and all(k in out.column_names for k in keys):
            tables.append(out.select(list(keys)))
    if not tables:
        return [], [], 0
    sample = pa.concat_tables(tables, promote_options="permissive")
    hashes, counts = np.unique(hash_rows(sample, keys), return_counts=True)
    total = sample.num_rows
    hot = np.flatnonzero(counts >= SKEW_FRACTION * total)
    order = hot[np.argsort(-counts[hot], kind="stable")]
    return [int(h) for h in hashes[order]], [round(float(counts[i]) / total, 4) for i in order], total


def skew_plan(how: str, sides: Mapping[str, str], sizes: Mapping[str, int], sample: Any) -> dict | None:
    """The skew entry of one shuffle join step, or None: `sides` {"left": input, "right": input}, `sizes` their
    planned bytes, `sample(input name) -> hot_keys(...)` of one side."""
    allowed = SPLIT_SIDES.get(how, ())
    if not allowed:
        return None
    side = max(allowed, key=lambda s: sizes.get(sides[s], 0))  # inner: split the larger side
    hashes, shares, rows = sample(sides[side])
    if not hashes:
        return None
    return {"split": sides[side], "side": side, "hashes": hashes, "shares": shares, "sampled_rows": rows}
