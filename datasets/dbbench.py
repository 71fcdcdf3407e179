"""db-benchmark (h2oai) join tables: the left table `x` and right tables `small`, `medium` and `big`, as Parquet.

This module owns a vectorised port of db-benchmark's `_data/join-datagen.R` (written from memory of that script;
see "Differences" below). For `n` rows (1e7 in the "J1_1e7" tables):

* Key pools. For each join key, `split_xlr(m)` draws m * 1.1 distinct integers from 1..m * 1.1 in random order
  and splits them into `x` (the first 90% of m: keys on both sides), `l` (10% of m: left only) and `r` (10% of
  m: right only). id1 uses m = n / 1e6, id2 m = n / 1e3, id3 m = n.
* `sample_all(keys, size)`: every key once plus `size - len(keys)` more drawn with replacement, shuffled.
* x (`n` rows): id1, id2, id3 from `sample_all(x + l, n)` of their pools; id4, id5, id6 = "id" + id1/id2/id3 as
  strings; v1 uniform in [0, 100) rounded to 6 decimals.
* small (n / 1e6 rows): id1 from `sample_all(x + r)`, id4, v2.
* medium (n / 1e3 rows): id1 and id2 from their `x + r`, id4, id5, v2.
* big (n rows): id1, id2, id3 from their `x + r`, id4, id5, id6, v2.

So about 90% of x's rows find a match in each right table on its keys (exactly 90% for big, whose keys each
appear once on each side), and about 90% of each right table's rows match x.

Differences from the R script: the random numbers are numpy's, not R's, so the rows differ; integer keys are
int64 (R writes 32-bit integers); tables are Parquet files named `x`, `small`, `medium`, `big` rather than CSV
files named `J1_1e7_NA_0_0` etc.; row counts below one are raised to one (the R script does not support n < 1e6);
`nas` > 0 makes that percentage of each key (in both its integer and string column) and of the value column
null, independently per key (from memory, the R script's join generator does not support NAs); and `k`, which
the R script ignores for joins (its file names carry "NA"), here optionally sets the number of distinct id3 /
id6 keys in place of `n`. Shuffles use numpy's `Generator.permutation` (fast, and unchanged across numpy
releases so far, but not covered by numpy's stream-compatibility promise).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from framework.datagen import common

MATCH_SHARE = 0.9
ROW_GROUP_ROWS = 1_000_000


def _split_xlr(gen: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keys on both sides, left-only keys and right-only keys for a key of cardinality `m`."""
    n_x = max(1, round(m * MATCH_SHARE))
    n_lr = max(0, m - n_x)
    keys = gen.permutation(n_x + 2 * n_lr) + 1  # distinct keys 1..1.1m in random order
    return keys[:n_x], keys[n_x : n_x + n_lr], keys[n_x + n_lr :]


def _sample_all(gen: np.random.Generator, keys: np.ndarray, size: int) -> np.ndarray:
    """Every key at least once (when `size` allows), topped up with uniform draws, in random order."""
    if size <= len(keys):
        return gen.permutation(keys)[:size]
    if 4 * len(keys) > size:
        extra = keys[common.uniform_ints(gen, 0, len(keys) - 1, size - len(keys))]
        return gen.permutation(np.concatenate([keys, extra]))
    # Few keys: shuffling them in with the draws is the same as drawing every row and then writing the keys, in
    # random order, over distinct random rows; that avoids permuting all `size` rows.
    out = keys[common.uniform_ints(gen, 0, len(keys) - 1, size)]
    rows = np.empty(0, dtype=np.int64)
    while len(rows) < len(keys):
        drawn = np.concatenate([rows, common.uniform_ints(gen, 0, size - 1, 2 * len(keys) + 16)])
        _, first = np.unique(drawn, return_index=True)
        rows = drawn[np.sort(first)]
    out[rows[: len(keys)]] = gen.permutation(keys)
    return out


def id_strings(max_id: int) -> pa.Array:
    """"id0", "id1", ..., "id<max_id>" (db-benchmark's `paste0("id", id)`): element i is the string of id i."""
    return pc.binary_join_element_wise(pa.scalar("id"), pa.array(np.arange(max_id + 1)).cast(pa.string()), "")


def _values(gen: np.random.Generator, n: int) -> np.ndarray:
    return np.round(common.uniforms(gen, n) * 100.0, 6)


def _null_mask(gen: np.random.Generator, rows: int, nas: int) -> pa.Array | None:
    """Rows to blank: each with probability `nas` percent, or None when `nas` is 0."""
    if nas == 0 or rows == 0:
        return None
    return pa.array(common.uniform_ints(gen, 0, 99, rows) < nas)


def _blank(column: pa.Array, mask: pa.Array | None) -> pa.Array:
    return column if mask is None else pc.if_else(mask, pa.scalar(None, column.type), column)


def join_tables(n: int = 10_000_000, k: int | None = None, nas: int = 0, seed: int = 0) -> dict[str, pa.Table]:
    """The four db-benchmark join tables as Arrow tables: {"x", "small", "medium", "big"}."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0 <= nas <= 100:
        raise ValueError(f"nas must be a percentage in 0..100, got {nas}")
    gen = common.rng(seed, common.stream_key("db-benchmark-join"))
    cardinality = (max(1, round(n / 1e6)), max(1, round(n / 1e3)), int(k) if k else n)
    pools = [_split_xlr(gen, m) for m in cardinality]
    sizes = {"small": cardinality[0], "medium": cardinality[1], "big": n}

    # The string keys are taken from "id0", "id1", ... once per key column rather than formatted per row.
    names = [id_strings(sum(len(keys) for keys in pool)) for pool in pools]  # keys are 1..pool size

    def table(rows: int, n_keys: int, side: int, value: str) -> pa.Table:
        ids = [_sample_all(gen, np.concatenate([pools[i][0], pools[i][side]]), rows) for i in range(n_keys)]
        masks = [_null_mask(gen, rows, nas) for _ in ids]  # a key is null in both its int and string column
        columns = {f"id{i + 1}": _blank(pa.array(key), mask) for i, (key, mask) in enumerate(zip(ids, masks))}
        for i, (key, mask) in enumerate(zip(ids, masks)):
            columns[f"id{i + 4}"] = _blank(names[i].take(pa.array(key)), mask)
        columns[value] = _blank(pa.array(_values(gen, rows)), _null_mask(gen, rows, nas))
        return pa.table(columns)

    tables = {"x": table(n, 3, 1, "v1")}
    for name, n_keys in (("small", 1), ("medium", 2), ("big", 3)):
        tables[name] = table(sizes[name], n_keys, 2, "v2")
    return tables


def generate_join_tables(
    out_dir: str, n: int = 10_000_000, k: int | None = None, nas: int = 0, seed: int = 0
) -> dict[str, str]:
    """Write x, small, medium and big as `out_dir`/<name>.parquet; returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    # Dictionary-encode only the low-cardinality keys: for id3/id6 (n distinct values) the writer would build a
    # dictionary only to give it up, at a cost.
    low_cardinality = {"id1", "id2", "id4", "id5"} | ({"id3", "id6"} if k and k <= 1_000_000 else set())
    paths = {}
    for name, tbl in join_tables(n, k=k, nas=nas, seed=seed).items():
        path = os.path.join(out_dir, f"{name}.parquet")
        pq.write_table(tbl, path, row_group_size=ROW_GROUP_ROWS,
                       use_dictionary=[c for c in tbl.column_names if c in low_cardinality])
        paths[name] = path
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The join generator's command-line options (shared with `generate.py join`)."""
    parser.add_argument("-o", "--out", required=True, help="output folder for x/small/medium/big.parquet")
    parser.add_argument("-n", "--rows", type=common.count_arg, default=10_000_000,
                        help="rows of x and big, e.g. 1e7, 10M (default 1e7)")
    parser.add_argument("-k", type=common.count_arg, default=None,
                        help="distinct id3 keys (default: n, as db-benchmark)")
    parser.add_argument("--nas", type=int, default=0, help="percentage of null cells (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def run(args: argparse.Namespace) -> dict[str, str]:
    """Generate the tables from parsed command-line `args` and print a one-line summary."""
    start = time.perf_counter()
    paths = generate_join_tables(args.out, n=args.rows, k=args.k, nas=args.nas, seed=args.seed)
    elapsed = time.perf_counter() - start
    total = sum(os.path.getsize(p) for p in paths.values())
    rows = ", ".join(f"{name} {pq.ParquetFile(p).metadata.num_rows:,}" for name, p in paths.items())
    print(f"join: {rows} rows, {common.format_size(total)} of Parquet in {elapsed:.2f} s "
          f"({total / elapsed / 1e6:.0f} MB/s) to {args.out}")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dbbench.py", description="Generate db-benchmark join tables.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
