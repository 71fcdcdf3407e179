"""The broadcast join: one join side read whole by every map task of the other side, indexed once per worker.

Planning (framework.plan) broadcasts a join side that is a small job input. A map task of the other (streamed)
side gets a `BroadcastSide` for it from `broadcast_side`: read, mapped by the job's map for that input, null keys
dropped, keys normalised, and indexed; kept per worker process for the job's stage, so the next task on that
worker reuses it. `BroadcastSide.join(streamed)` gives exactly what the shuffle join (`tasks.join_tables`) gives for
the same rows, column names and order included:

- a single integer key whose values are unique on the small side (a dimension table: the usual case) probes a
  numpy index: a direct-address array when the keys are dense enough, else binary search over the sorted keys;
- a single string or binary key, unique on the small side, probes with `pyarrow.compute.index_in`;
- anything else (duplicate small-side keys, several key columns, floats, decimals, ...) runs Arrow's hash join of
  the split against the small side (`join_tables`), the same function the shuffle join uses.

The small side's user counters are counted once: by the stage's first map task (whose committed attempt counts).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from framework.io.normalize import normalize_types
from framework.job import Join
from framework.shuffle.partition import normalize_key

#: a direct-address index is used when max - min key + 1 is at most this many times the number of keys (and at
#: most DIRECT_MAX_SLOTS): one int32 per slot, and a probe is one numpy gather
DIRECT_DENSITY = 8
DIRECT_MAX_SLOTS = 1 << 27

#: (job id, stage, the broadcast input's files as planned) -> BroadcastSide; one entry: a worker runs the tasks of
#: one stage at a time, and a service's workers live on across jobs, so a side is dropped as soon as another is
#: read, or a task of another job runs here (`forget_other_jobs`). The files' planned sizes and times are in the
#: key: a job id used again over other files never finds the old side.
_CACHE: dict[tuple, "BroadcastSide"] = {}


class BroadcastSide:
    """The broadcast side of one join (`side` "left" or "right" of `join`), indexed on its key columns."""

    def __init__(self, table: pa.Table | None, join: Join, side: str, counters: Mapping[str, int] | None = None):
        self.join_spec, self.side = join, side
        self.counters = dict(counters or {})
        self.keys = list(join.right_on if side == "right" else join.left_on)
        self.stream_keys = list(join.left_on if side == "right" else join.right_on)
        self.table = None if table is None else _index_ready(table, self.keys)
        self.lookup: Callable[[pa.ChunkedArray | pa.Array], np.ndarray] | None = None
        if self.table is not None and len(self.keys) == 1:
            self.lookup = _build_lookup(self.table[self.keys[0]])

    def join(self, streamed: pa.Table, where: str = "join") -> pa.Table | None:
        """The joined rows of `streamed` (the other side's rows of one map task) with this side."""
        from framework.exec.tasks import check_join_keys, join_tables

        how = self.join_spec.how
        if self.table is None:  # no rows and no schema on this side: as the shuffle join does
            return streamed if (self.side == "right" and how in ("left", "anti")) else None
        left, right = (streamed, self.table) if self.side == "right" else (self.table, streamed)
        if self.lookup is None or streamed.num_rows == 0:
            return join_tables(left, right, self.join_spec, where)
        check_join_keys(left, right, self.join_spec, where)
        streamed = normalize_types(streamed)  # Arrow's filter and take have no view-type kernels
        key = self.stream_keys[0]
        streamed = streamed.set_column(streamed.schema.get_field_index(key), key, normalize_key(streamed[key]))
        index = self.lookup(streamed[key])
        return self._assemble(streamed, index, where)

    def _assemble(self, streamed: pa.Table, index: np.ndarray, where: str = "join") -> pa.Table:
        """The join's output from `index` (per streamed row, the matching small-side row, or -1)."""
        from framework.exec.tasks import join_output_names

        how, join = self.join_spec.how, self.join_spec
        hit = index >= 0
        if how in ("semi", "anti", "inner"):
            keep = hit if how != "anti" else ~hit
            rows = streamed if keep.all() else streamed.filter(pa.array(keep))
            if how != "inner":
                return rows
            taken = pa.array(index if keep.all() else index[hit])
        else:  # the streamed side's outer join: every streamed row, the small side's columns null where unmatched
            rows = streamed
            taken = pa.array(index, mask=~hit)
        small = self.table
        lkeys, rkeys = list(join.left_on), list(join.right_on)
        coalesced = set(lkeys) if lkeys == rkeys else set()
        left_t, right_t = (rows, small) if self.side == "right" else (small, rows)
        names = join_output_names(left_t.column_names, right_t.column_names, join, where)
        columns = []
        for c in left_t.column_names:
            # the streamed side's own column; the coalesced key (equal on matches, the streamed one's elsewhere);
            # else the small side's, taken per output row
            mine = self.side == "right" or c in coalesced
            columns.append(rows[c] if mine else small[c].take(taken))
        for c in right_t.column_names:
            if c not in coalesced:
                columns.append(small[c].take(taken) if self.side == "right" else rows[c])
        return pa.Table.from_arrays([_chunked(c) for c in columns], names=names)


def _chunked(column: Any) -> pa.ChunkedArray:
    return column if isinstance(column, pa.ChunkedArray) else pa.chunked_array([column])


def _index_ready(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Keys normalised (as the shuffle join hashes them), rows with a null key dropped (they never match; the
    broadcast side's unmatched rows are never kept), view types made plain, in one chunk per column."""
    table = normalize_types(table)
    for k in keys:
        table = table.set_column(table.schema.get_field_index(k), k, normalize_key(table[k]))
    if any(table[k].null_count for k in keys):
        table = table.filter(functools.reduce(pc.and_, [pc.is_valid(table[k]) for k in keys]))
    return table.combine_chunks()


def _build_lookup(column: pa.ChunkedArray) -> Callable[[pa.ChunkedArray | pa.Array], np.ndarray] | None:
    """A probe function for a unique single key column (no nulls): streamed keys -> small-side row or -1; None when
    the keys are not unique or of a type the fast paths do not cover."""
    t = column.type
    if t == pa.int64():
        values = column.to_numpy()
        return _int_lookup(values)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        if pc.count_distinct(column).as_py() != len(column):
            return None
        value_set = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

        def probe(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
            found = pc.index_in(keys, value_set=value_set)
            return pc.fill_null(found, -1).to_numpy().astype(np.int64, copy=False)

        return probe
    return None


def _int_lookup(values: np.ndarray) -> Callable[[pa.ChunkedArray | pa.Array], np.ndarray] | None:
    n = len(values)
    if n == 0:
        return lambda keys: np.full(len(keys), -1, np.int64)
    lo, hi = int(values.min()), int(values.max())
    slots = hi - lo + 1
    if slots <= min(DIRECT_MAX_SLOTS, max(DIRECT_DENSITY * n, 1 << 16)):
        table = np.full(slots, -1, np.int32 if n < (1 << 31) else np.int64)
        table[values - lo] = np.arange(n, dtype=table.dtype)
        if np.count_nonzero(table >= 0) != n:
            return None  # duplicate keys

        def direct(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
            k, valid = _int_keys(keys)
            rel = k - lo
            if valid is None and len(rel) and rel.min() >= 0 and rel.max() < slots:
                return table[rel]  # every key valid and in range: one gather
            inside = (rel >= 0) & (rel < slots)
            if valid is not None:
                inside &= valid
            out = np.full(len(k), -1, table.dtype)
            out[inside] = table[rel[inside]]
            return out

        return direct
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    if n > 1 and bool((ordered[1:] == ordered[:-1]).any()):
        return None

    def search(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
        k, valid = _int_keys(keys)
        pos = np.searchsorted(ordered, k)
        pos[pos >= n] = n - 1
        found = ordered[pos] == k
        if valid is not None:
            found &= valid
        return np.where(found, order[pos], -1).astype(np.int64, copy=False)

    return search


def _int_keys(keys: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """int64 key values (nulls as 0) and where they are valid (None: everywhere)."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    if keys.null_count:
        valid = pc.is_valid(keys).to_numpy(zero_copy_only=False)
        return pc.fill_null(keys, 0).to_numpy(), valid
    return keys.to_numpy(), None


def forget_other_jobs(job_id: str) -> None:
    """Drop the cached side unless it is job `job_id`'s (called as every task attempt starts)."""
    if _CACHE and next(iter(_CACHE))[0] != job_id:
        _CACHE.clear()


def broadcast_side(job_id: str, stage: int, read: Callable[[], tuple[pa.Table | None, dict]], join: Join,
                   side: str, version: Any = None) -> BroadcastSide:
    """The stage's broadcast side from this worker's cache, or `read()` (-> table, user counters) and indexed;
    `version`: what identifies the side's input (its files as planned)."""
    key = (job_id, stage, version)
    found = _CACHE.get(key)
    if found is None:
        _CACHE.clear()
        table, counters = read()
        found = _CACHE[key] = BroadcastSide(table, join, side, counters)
    return found
