"""Hash partitioning of Arrow tables by key columns.

Rows go to partition `hash(key) mod P` where the hash is polars' vectorised row hash with fixed seeds: the same
key gives the same partition in every process of a job (never Python's randomised `hash()`). Key columns are
normalised first so that both sides of a join agree: every integer type hashes as int64, every string type
(string, large_string, string_view, dictionary of strings) as `string`.

Measured here (polars 2.1, one core): ~110 M int64 keys/s, ~50 M string keys/s.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa

_SEED = 0x5EED_F10


def compact_strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Large or view string/binary columns as plain `string`/`binary` where they fit; other types untouched."""
    t = column.type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _narrow(column, pa.string(), pa.large_string())
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return _narrow(column, pa.binary(), pa.large_binary())
    return column


def normalize_key(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The canonical type a key column is hashed and joined as."""
    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
        t = column.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return column.cast(pa.int64()) if t != pa.int64() else column
    column = compact_strings(column)
    if pa.types.is_floating(t):
        return column.cast(pa.float64()) if t != pa.float64() else column
    return column


def _skewed_ids(hashes: np.ndarray, skew: Mapping, table: pa.Table) -> tuple[np.ndarray, np.ndarray | None]:
    """(partition per output row, the input row of each output row or None when they are the same rows)."""
    base, fanout = int(skew["base"]), int(skew["fanout"])
    hot = np.asarray(skew["hashes"], dtype=np.uint64)
    pids = (hashes % np.uint64(base)).astype(np.int64)
    ordered = np.argsort(hot)
    pos = np.searchsorted(hot[ordered], hashes)
    pos[pos >= len(hot)] = 0
    is_hot = hot[ordered][pos] == hashes
    which = ordered[pos]  # the hot key's number, where is_hot
    hot_rows = np.flatnonzero(is_hot)
    if hot_rows.size == 0:
        return pids, None
    first = base + which[hot_rows] * fanout
    if skew["mode"] == "split":
        spread = _content_hash(table.take(pa.array(hot_rows)))
        pids[hot_rows] = first + (spread % np.uint64(fanout)).astype(np.int64)
        return pids, None
    cold_rows = np.flatnonzero(~is_hot)
    rows = np.concatenate([cold_rows, np.repeat(hot_rows, fanout)])
    copies = np.repeat(first, fanout) + np.tile(np.arange(fanout), hot_rows.size)
    return np.concatenate([pids[cold_rows], copies]), rows


_SPREAD_SEED = 0x5EED_F11


def _content_hash(rows: pa.Table) -> np.ndarray:
    """A hash per row of all its columns (equal rows hash alike; the columns polars cannot hash are left out)."""
    columns = list(rows.column_names)
    try:
        return hash_rows(rows, columns, _SPREAD_SEED)
    except Exception:  # noqa: BLE001 - a type polars cannot take: hash the plain ones
        plain = [c for c in columns if pa.types.is_integer(rows[c].type) or pa.types.is_floating(rows[c].type)
                 or pa.types.is_string(rows[c].type) or pa.types.is_large_string(rows[c].type)
                 or pa.types.is_boolean(rows[c].type) or pa.types.is_temporal(rows[c].type)]
        return hash_rows(rows, plain, _SPREAD_SEED) if plain else np.zeros(rows.num_rows, np.uint64)


def _narrow(column, narrow: pa.DataType, wide: pa.DataType):
    """32-bit offsets where they fit: Arrow's hash group-by and join run several times faster on `string` than on
    `large_string` (measured here: 1.7 s vs 7 s for 11 M words)."""
    try:
        return column.cast(narrow)
    except (pa.ArrowInvalid, pa.ArrowCapacityError):  # a chunk holds over 2 GiB of characters
        return column.cast(wide)


def hash_rows(table: pa.Table, keys: Sequence[str], seed: int = _SEED) -> np.ndarray:
    """A uint64 hash per row over the key columns, stable across processes."""
    if table.num_rows == 0:
        return np.zeros(0, dtype=np.uint64)
    import polars as pl  # here: a client or a master replica that only plans never loads it

    frame = pl.from_arrow(
        pa.table([normalize_key(table[k]) for k in keys], names=[f"k{i}" for i in range(len(keys))]),
        rechunk=False,
    )
    assert isinstance(frame, pl.DataFrame)
    return frame.hash_rows(seed=seed).to_numpy()


def partition_ids(table: pa.Table, keys: Sequence[str], num_partitions: int) -> np.ndarray:
    """The partition of every row: `hash(key) mod num_partitions`; all rows go to 0 without keys."""
    if not keys or num_partitions == 1:
        return np.zeros(table.num_rows, dtype=np.int64)
    return (hash_rows(table, keys) % np.uint64(num_partitions)).astype(np.int64)


def split_by_partition(table: pa.Table, keys: Sequence[str], num_partitions: int,
                       skew: Mapping | None = None) -> dict[int, pa.Table]:
    """The rows of `table` grouped by partition: {partition: rows}, empty partitions left out.

    `skew` (a skewed join's side, see framework.skew): {"hashes": hot keys' hashes, "base": partitions of the
    other keys, "fanout": partitions per hot key, "mode": "split" or "replicate"}. A row of hot key j goes to
    partition base + j * fanout + (its position mod fanout) when split, and to all `fanout` of them when
    replicated; other rows to hash mod base. The position is the row's content hashed (not its place in
    `table`), so a map that runs again and returns its rows in another order routes each row the same way (a redo
    re-sends only the lost partitions, next to the first attempt's others)."""
    if table.num_rows == 0:
        return {}
    rows = None
    if skew is not None and skew.get("hashes"):
        pids, rows = _skewed_ids(hash_rows(table, keys), skew, table)
    else:
        pids = partition_ids(table, keys, num_partitions)
        if num_partitions == 1 or not keys:
            return {0: table}
    counts = np.bincount(pids, minlength=num_partitions)
    # on uint16 numpy's stable sort is a radix sort: ~5x faster than on int64 (41 -> 8 ms per million rows here)
    order = np.argsort(pids.astype(np.uint16) if num_partitions <= 1 << 16 else pids, kind="stable")
    ordered = table.take(pa.array(order if rows is None else rows[order]))
    out: dict[int, pa.Table] = {}
    start = 0
    for p in np.flatnonzero(counts):  # a loop per partition, not per row
        n = int(counts[p])
        out[int(p)] = ordered.slice(start, n)
        start += n
    return out

