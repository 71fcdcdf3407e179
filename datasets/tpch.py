"""TPC-H-shaped `orders` and `lineitem` tables as Parquet: the input of the join and aggregation benchmarks.

This module owns a vectorised re-implementation of the parts of TPC-H's dbgen that these two tables need. It
keeps TPC-H's sizes, keys and value rules, but it is not dbgen: values are drawn from our own seeded streams, so
the rows differ from official TPC-H data (use `--use-tpchgen` with `tpchgen-cli` for that).

* Sizes: 1,500,000 * scale orders, each with 1-7 line items (uniform), so about 6,000,000 * scale line items.
  Fractional scales work (0.01 gives 15,000 orders).
* Keys: `o_orderkey` is sparse as in TPC-H (the first 8 of every 32 keys are used: 1-8, 33-40, ...); every
  `l_orderkey` is an order's key and an order's items are numbered `l_linenumber` 1..n. `o_custkey` is in
  [1, 150,000 * scale] and never a multiple of 3, `l_partkey` in [1, 200,000 * scale], `l_suppkey` follows dbgen's
  formula from the part key, `o_clerk` is `Clerk#000000NNN` over 1,000 * scale clerks.
* Values follow TPC-H 4.2.3: dates from 1992-01-01 (ship 1-121 days after the order, commit 30-90, receipt 1-30
  after shipping), return flag and line status from the 1995-06-17 "current date", `l_extendedprice` = quantity
  times the part's retail price, `o_totalprice` the sum of its items' price with tax and discount (dbgen's
  integer-cent arithmetic), `o_orderstatus` F / O / P from its items' line statuses.
* Decimal columns (`o_totalprice`, `l_quantity`, `l_extendedprice`, `l_discount`, `l_tax`) are float64, not
  decimal(15,2): every engine we compare handles float64 natively. Values are exact cents before conversion.
* Comments are substrings of a 2 MB text pool generated from TPC-H's sentence grammar, at random offsets, as
  dbgen does (its pool is 300 MB), so they are nearly all distinct and may start or end mid-word.

Rows are generated in blocks of 65,536 orders, each from its own random stream, so the data does not depend on
the number of files or the row-group size. File i of `orders/` and file i of `lineitem/` cover the same range of
order keys.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from framework.datagen import common

ORDERS_PER_SCALE = 1_500_000
CUSTOMERS_PER_SCALE = 150_000
PARTS_PER_SCALE = 200_000
SUPPLIERS_PER_SCALE = 10_000
CLERKS_PER_SCALE = 1_000
BLOCK_ORDERS = 1 << 16
TARGET_FILE_BYTES = 128 << 20
# Parquet (snappy) bytes per row, measured at SF 0.5; used only to choose the number of files.
_LINEITEM_FILE_BYTES_PER_ROW = 38

_EPOCH = np.datetime64("1970-01-01", "D")
START_DATE = int((np.datetime64("1992-01-01", "D") - _EPOCH).astype(int))
END_DATE = int((np.datetime64("1998-12-31", "D") - _EPOCH).astype(int))
CURRENT_DATE = int((np.datetime64("1995-06-17", "D") - _EPOCH).astype(int))

ORDER_PRIORITIES = ("1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW")
SHIP_INSTRUCTIONS = ("DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN")
SHIP_MODES = ("REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB")

ORDERS_SCHEMA = pa.schema([
    ("o_orderkey", pa.int64()),
    ("o_custkey", pa.int64()),
    ("o_orderstatus", pa.string()),
    ("o_totalprice", pa.float64()),
    ("o_orderdate", pa.date32()),
    ("o_orderpriority", pa.string()),
    ("o_clerk", pa.string()),
    ("o_shippriority", pa.int32()),
    ("o_comment", pa.string()),
])
LINEITEM_SCHEMA = pa.schema([
    ("l_orderkey", pa.int64()),
    ("l_partkey", pa.int64()),
    ("l_suppkey", pa.int64()),
    ("l_linenumber", pa.int32()),
    ("l_quantity", pa.float64()),
    ("l_extendedprice", pa.float64()),
    ("l_discount", pa.float64()),
    ("l_tax", pa.float64()),
    ("l_returnflag", pa.string()),
    ("l_linestatus", pa.string()),
    ("l_shipdate", pa.date32()),
    ("l_commitdate", pa.date32()),
    ("l_receiptdate", pa.date32()),
    ("l_shipinstruct", pa.string()),
    ("l_shipmode", pa.string()),
    ("l_comment", pa.string()),
])

_CATEGORICAL = pa.dictionary(pa.int8(), pa.string())
_ORDERS_IN_MEMORY = pa.schema([
    f.with_type(_CATEGORICAL) if f.name in ("o_orderstatus", "o_orderpriority") else f for f in ORDERS_SCHEMA
]).set(6, pa.field("o_clerk", pa.dictionary(pa.int32(), pa.string())))
_LINEITEM_IN_MEMORY = pa.schema([
    f.with_type(_CATEGORICAL) if f.name in ("l_returnflag", "l_linestatus", "l_shipinstruct", "l_shipmode") else f
    for f in LINEITEM_SCHEMA
])
_DICTIONARY_COLUMNS = {
    "o_orderstatus", "o_orderdate", "o_orderpriority", "o_clerk", "o_shippriority", "l_linenumber", "l_quantity",
    "l_discount", "l_tax", "l_returnflag", "l_linestatus", "l_shipdate", "l_commitdate", "l_receiptdate",
    "l_shipinstruct", "l_shipmode",
}
_FLAGS = ("A", "F", "N", "O", "P", "R")  # flag codes below are positions in this tuple


def _categorical(codes: np.ndarray, values: pa.Array, index_type: type = np.int8) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(index_type)), values)


# TPC-H's comment grammar (spec 4.2.2.10), with its word lists abridged.
_NOUNS = (
    "foxes ideas theodolites pinto_beans instructions dependencies excuses platelets asymptotes courts dolphins "
    "multipliers sauternes warthogs frets dinos attainments somas Tiresias' patterns forges braids hockey_players "
    "frays warhorses dugouts notornis epitaphs pearls tithes waters orbits gifts sheaves depths sentiments decoys "
    "realms pains grouches escapades packages requests accounts deposits"
)
_VERBS = (
    "sleep wake are cajole haggle nag use boost affix detect integrate maintain nod was lose sublate solve thrash "
    "promise engage hinder print x-ray breach eat grow impress mold poach serve run dazzle snooze doze unwind "
    "kindle play hang believe doubt"
)
_ADJECTIVES = (
    "furious sly careful blithe quick fluffy slow quiet ruthless thin close dogged daring brave stealthy permanent "
    "enticing idle busy regular final ironic even bold silent special express pending unusual"
)
_ADVERBS = (
    "sometimes always never furiously slyly carefully blithely quickly fluffily slowly quietly ruthlessly thinly "
    "closely doggedly daringly bravely stealthily permanently enticingly idly busily regularly finally ironically "
    "evenly boldly silently"
)
_PREPOSITIONS = (
    "about above according_to across after against along alongside_of among around at atop before behind beneath "
    "beside besides between beyond by despite during except for from in_place_of inside instead_of into near of "
    "on outside over past since through throughout to toward under until up upon without with within"
)
_AUXILIARIES = (
    "do may might shall will would can could should ought_to must will_have_to shall_have_to could_have_to "
    "should_have_to must_have_to need_to try_to"
)
_TERMINATORS = (".", ";", ":", "?", "!", "--")


def _words(text: str) -> pa.Array:
    return pa.array([w.replace("_", " ") for w in text.split()], pa.string())


def _pick(gen: np.random.Generator, choices: pa.Array, n: int, present: np.ndarray | None = None) -> pa.Array:
    """`n` random elements of `choices`; null where `present` is False (so a join can skip them)."""
    picked = choices.take(pa.array(common.uniform_ints(gen, 0, len(choices) - 1, n)))
    if present is None:
        return picked
    return pc.if_else(pa.array(present), picked, pa.scalar(None, pa.string()))


def _noun_phrases(gen: np.random.Generator, n: int) -> pa.Array:
    # noun | adjective noun | adjective, adjective noun | adverb adjective noun
    form = common.uniform_ints(gen, 0, 3, n)
    adjective = _pick(gen, _words(_ADJECTIVES), n)
    first = pc.if_else(pa.array(form == 2), pc.binary_join_element_wise(adjective, pa.scalar(","), ""), adjective)
    first = pc.if_else(pa.array(form == 3), _pick(gen, _words(_ADVERBS), n), first)
    first = pc.if_else(pa.array(form == 0), pa.scalar(None, pa.string()), first)
    second = _pick(gen, _words(_ADJECTIVES), n, form >= 2)
    return pc.binary_join_element_wise(first, second, _pick(gen, _words(_NOUNS), n), " ", null_handling="skip")


def _verb_phrases(gen: np.random.Generator, n: int) -> pa.Array:
    # verb | auxiliary verb | verb adverb | auxiliary verb adverb
    form = common.uniform_ints(gen, 0, 3, n)
    return pc.binary_join_element_wise(
        _pick(gen, _words(_AUXILIARIES), n, (form & 1) == 1),
        _pick(gen, _words(_VERBS), n),
        _pick(gen, _words(_ADVERBS), n, form >= 2),
        " ", null_handling="skip",
    )


def _prep_phrases(gen: np.random.Generator, n: int, present: np.ndarray) -> pa.Array:
    """preposition the noun_phrase, null where `present` is False."""
    # Built whole and masked afterwards: pyarrow 26's binary_join_element_wise with null_handling="skip" drops
    # rows whose inputs are all null instead of returning null for them.
    phrase = pc.binary_join_element_wise(
        _pick(gen, _words(_PREPOSITIONS), n), pa.scalar("the"), _noun_phrases(gen, n), " ",
    )
    return pc.if_else(pa.array(present), phrase, pa.scalar(None, pa.string()))


def text_pool(gen: np.random.Generator, size_bytes: int) -> np.ndarray:
    """About `size_bytes` of TPC-H comment text (sentences from the spec's grammar) as a uint8 array."""
    n = max(16, size_bytes // 64)  # sentences average about 64 bytes
    # Sentence forms: NP VP T | NP VP PP T | NP VP NP T | NP PP VP NP T | NP PP VP PP T
    form = common.uniform_ints(gen, 0, 4, n)
    sentences = pc.binary_join_element_wise(
        _noun_phrases(gen, n),
        _prep_phrases(gen, n, form >= 3),
        _verb_phrases(gen, n),
        _prep_phrases(gen, n, (form == 1) | (form == 4)),
        pc.if_else(pa.array((form == 2) | (form == 3)), _noun_phrases(gen, n), pa.scalar(None, pa.string())),
        " ", null_handling="skip",
    )
    sentences = pc.binary_join_element_wise(sentences, _pick(gen, pa.array(_TERMINATORS), n), pa.scalar(" "), "")
    offsets = np.frombuffer(sentences.buffers()[1], dtype=np.int32, count=n + 1)
    return np.frombuffer(sentences.buffers()[2], dtype=np.uint8, count=int(offsets[-1]))


def comments(gen: np.random.Generator, text: np.ndarray, n: int, min_len: int, max_len: int) -> pa.StringArray:
    """`n` comments as dbgen makes them: substrings of the text pool at random offsets, with lengths uniform in
    [min_len, max_len].

    Built as Arrow string views into `text` (16 bytes per row: the length, then the bytes themselves when at most
    12, else a 4-byte prefix and the offset) and cast to a plain string array, so the only per-byte work is the
    cast's copy.
    """
    lengths = common.uniform_ints(gen, min_len, max_len, n)
    starts = common.uniform_ints(gen, 0, len(text) - max_len - 1, n)
    views = np.zeros((n, 4), dtype=np.int32)
    view_bytes = views.view(np.uint8)  # (n, 16)
    views[:, 0] = lengths
    inline = lengths <= 12
    short, long = np.flatnonzero(inline), np.flatnonzero(~inline)
    for j in range(12):
        rows = short[lengths[short] > j]
        view_bytes[rows, 4 + j] = text[starts[rows] + j]
    for j in range(4):  # the prefix of an out-of-line string
        view_bytes[long, 4 + j] = text[starts[long] + j]
    views[long, 3] = starts[long]  # buffer 0, at this offset
    array = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), pa.py_buffer(text)])
    return array.cast(pa.string())


class _Generator:
    """The per-call constants and pools: everything a block needs besides its own random stream."""

    def __init__(self, scale: float, seed: int):
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.scale = scale
        self.seed = seed
        self.n_orders = max(1, round(ORDERS_PER_SCALE * scale))
        self.customers = max(3, int(CUSTOMERS_PER_SCALE * scale))
        self.parts = max(1, int(PARTS_PER_SCALE * scale))
        self.suppliers = max(4, int(SUPPLIERS_PER_SCALE * scale))
        self.clerks = max(1, int(CLERKS_PER_SCALE * scale))
        gen = common.rng(seed, common.stream_key("tpch-pools"))
        self.text = text_pool(gen, 2 << 20)
        self.priorities = pa.array(ORDER_PRIORITIES, pa.string())
        self.instructions = pa.array(SHIP_INSTRUCTIONS, pa.string())
        self.modes = pa.array(SHIP_MODES, pa.string())
        self.flags = pa.array(_FLAGS, pa.string())
        clerks = pa.array(np.arange(1, self.clerks + 1)).cast(pa.string())
        self.clerk_names = pc.binary_join_element_wise(pa.scalar("Clerk#"), pc.utf8_lpad(clerks, 9, "0"), "")

    @property
    def n_blocks(self) -> int:
        return -(-self.n_orders // BLOCK_ORDERS)

    def block(self, index: int) -> tuple[pa.Table, pa.Table]:
        """Orders and line items of block `index` (orders BLOCK_ORDERS * index onwards)."""
        gen = common.rng(self.seed, common.stream_key("tpch-block"), index)
        first = index * BLOCK_ORDERS
        n = min(BLOCK_ORDERS, self.n_orders - first)
        ints = lambda low, high, size: common.uniform_ints(gen, low, high, size)

        order_index = np.arange(first, first + n, dtype=np.int64)
        orderkey = (order_index // 8) * 32 + order_index % 8 + 1
        # Uniform over the customers whose key is not a multiple of 3: k -> k + k // 2 + 1 skips 3, 6, 9, ...
        custkey = ints(0, self.customers - self.customers // 3 - 1, n)
        custkey += custkey // 2 + 1
        orderdate = ints(START_DATE, END_DATE - 151, n)
        lines = ints(1, 7, n)

        m = int(lines.sum())
        line_start = np.cumsum(lines) - lines
        l_orderkey = np.repeat(orderkey, lines)
        linenumber = np.arange(m, dtype=np.int64) - np.repeat(line_start, lines) + 1
        l_orderdate = np.repeat(orderdate, lines)
        partkey = ints(1, self.parts, m)
        supplier_slot = ints(0, 3, m)
        s = self.suppliers
        suppkey = (partkey + supplier_slot * (s // 4 + (partkey - 1) // s)) % s + 1
        quantity = ints(1, 50, m)
        retail_cents = 90000 + (partkey // 10) % 20001 + 100 * (partkey % 1000)
        price_cents = quantity * retail_cents
        discount = ints(0, 10, m)
        tax = ints(0, 8, m)
        shipdate = l_orderdate + ints(1, 121, m)
        commitdate = l_orderdate + ints(30, 90, m)
        receiptdate = shipdate + ints(1, 30, m)
        # Return flag: R or A if received by the current date, else N. Line status: O if shipped after it, else F.
        returnflag = np.where(receiptdate <= CURRENT_DATE, np.where(ints(0, 1, m) == 1, 5, 0), 2)
        shipped = shipdate <= CURRENT_DATE
        linestatus = np.where(shipped, 1, 3)

        # dbgen's total: per item (price * (100 - discount) / 100) * (100 + tax) / 100 in integer cents.
        line_total = (price_cents * (100 - discount) // 100) * (100 + tax) // 100
        totalprice = np.add.reduceat(line_total, line_start)
        shipped_lines = np.add.reduceat(shipped.astype(np.int64), line_start)
        orderstatus = np.where(shipped_lines == lines, 1, np.where(shipped_lines == 0, 3, 4))

        orders = pa.Table.from_arrays([
            pa.array(orderkey),
            pa.array(custkey),
            _categorical(orderstatus, self.flags),
            pa.array(totalprice / 100.0),
            pa.array(orderdate.astype(np.int32), pa.int32()).view(pa.date32()),
            _categorical(ints(0, 4, n), self.priorities),
            _categorical(ints(0, self.clerks - 1, n), self.clerk_names, np.int32),
            pa.array(np.zeros(n, dtype=np.int32)),
            comments(gen, self.text, n, 19, 78),
        ], schema=_ORDERS_IN_MEMORY)
        lineitem = pa.Table.from_arrays([
            pa.array(l_orderkey),
            pa.array(partkey),
            pa.array(suppkey),
            pa.array(linenumber.astype(np.int32)),
            pa.array(quantity.astype(np.float64)),
            pa.array(price_cents / 100.0),
            pa.array(discount / 100.0),
            pa.array(tax / 100.0),
            _categorical(returnflag, self.flags),
            _categorical(linestatus, self.flags),
            pa.array(shipdate.astype(np.int32), pa.int32()).view(pa.date32()),
            pa.array(commitdate.astype(np.int32), pa.int32()).view(pa.date32()),
            pa.array(receiptdate.astype(np.int32), pa.int32()).view(pa.date32()),
            _categorical(ints(0, 3, m), self.instructions),
            _categorical(ints(0, 6, m), self.modes),
            comments(gen, self.text, m, 10, 43),
        ], schema=_LINEITEM_IN_MEMORY)
        return orders, lineitem


class _RowGroupWriter:
    """Writes tables arriving in blocks as row groups of exactly `row_group_rows` rows (the last one shorter)."""

    def __init__(self, path: str, schema: pa.Schema, row_group_rows: int, compression: str):
        # Categorical columns arrive dictionary-encoded, which the writer turns into Parquet dictionary pages
        # without hashing a string. Not storing the Arrow schema makes readers see them as plain strings, the
        # types of ORDERS_SCHEMA / LINEITEM_SCHEMA. Only low-cardinality columns try dictionary encoding: for
        # keys, prices and comments it would be built and thrown away.
        self.writer = pq.ParquetWriter(
            path, schema, compression=compression, store_schema=False,
            use_dictionary=[name for name in schema.names if name in _DICTIONARY_COLUMNS],
        )
        self.row_group_rows = row_group_rows
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.row_group_rows:
            merged = pa.concat_tables(self.pending)
            full = (merged.num_rows // self.row_group_rows) * self.row_group_rows
            self.writer.write_table(merged.slice(0, full), row_group_size=self.row_group_rows)
            rest = merged.slice(full)
            self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        if self.pending_rows:
            self.writer.write_table(pa.concat_tables(self.pending), row_group_size=self.row_group_rows)
        self.writer.close()


def default_files(scale: float) -> int:
    """Files per table: one per ~128 MB of `lineitem` Parquet, and never more than there are blocks."""
    lineitem_bytes = 4 * ORDERS_PER_SCALE * scale * _LINEITEM_FILE_BYTES_PER_ROW
    n_blocks = -(-max(1, round(ORDERS_PER_SCALE * scale)) // BLOCK_ORDERS)
    return int(max(1, min(n_blocks, round(lineitem_bytes / TARGET_FILE_BYTES))))


def generate_tpch(
    out_dir: str,
    scale: float = 1.0,
    seed: int = 0,
    files: int | None = None,
    row_group_rows: int = 1_000_000,
    compression: str = "snappy",
) -> dict[str, list[str]]:
    """Write `orders` and `lineitem` at TPC-H scale factor `scale` as Parquet under `out_dir`/orders/ and
    `out_dir`/lineitem/ (`part-000.parquet`, ...), `files` files per table (default: one per ~128 MB of line
    items). Returns {"orders": [paths], "lineitem": [paths]}."""
    if row_group_rows < 1:
        raise ValueError(f"row_group_rows must be positive, got {row_group_rows}")
    generator = _Generator(scale, seed)
    n_files = default_files(scale) if files is None else int(files)
    if not 1 <= n_files <= generator.n_blocks:
        raise ValueError(f"files must be between 1 and {generator.n_blocks} at scale {scale}, got {files}")
    paths: dict[str, list[str]] = {"orders": [], "lineitem": []}
    for table in paths:
        os.makedirs(os.path.join(out_dir, table), exist_ok=True)
    for f in range(n_files):
        writers = {}
        for table, schema in (("orders", _ORDERS_IN_MEMORY), ("lineitem", _LINEITEM_IN_MEMORY)):
            path = os.path.join(out_dir, table, f"part-{f:03d}.parquet")
            writers[table] = _RowGroupWriter(path, schema, row_group_rows, compression)
            paths[table].append(path)
        for block in range(generator.n_blocks * f // n_files, generator.n_blocks * (f + 1) // n_files):
            orders, lineitem = generator.block(block)
            writers["orders"].write(orders)
            writers["lineitem"].write(lineitem)
        for writer in writers.values():
            writer.close()
    return paths


def generate_with_tpchgen(out_dir: str, scale: float = 1.0) -> dict[str, list[str]]:
    """Generate official TPC-H `orders` and `lineitem` with the `tpchgen-cli` executable (must be on PATH).

    Its files use TPC-H's own types (decimal(15,2) prices) and are moved to `out_dir`/<table>/<table>.parquet.
    """
    exe = shutil.which("tpchgen-cli")
    if exe is None:
        raise FileNotFoundError("tpchgen-cli is not on PATH (pip install tpchgen-cli)")
    paths: dict[str, list[str]] = {}
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tpchgen-", dir=out_dir) as tmp:
        for table in ("orders", "lineitem"):
            # The flag spelling changed between tpchgen-cli releases (--format=parquet, then a subcommand).
            attempts = (
                [exe, "-s", str(scale), "--output-dir", tmp, "--tables", table, "--format", "parquet"],
                [exe, "parquet", "-s", str(scale), "--output-dir", tmp, "--tables", table],
            )
            for cmd in attempts:
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode == 0:
                    break
            else:
                raise RuntimeError(f"tpchgen-cli failed: {done.stderr.strip()}")
            target_dir = os.path.join(out_dir, table)
            os.makedirs(target_dir, exist_ok=True)
            produced = sorted(
                os.path.join(root, name) for root, _, names in os.walk(tmp) for name in names
                if name.startswith(table) and name.endswith(".parquet")
            )
            paths[table] = []
            for src in produced:
                dst = os.path.join(target_dir, os.path.basename(src))
                shutil.move(src, dst)
                paths[table].append(dst)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The TPC-H generator's command-line options (shared with `generate.py tpch`)."""
    parser.add_argument("-o", "--out", required=True, help="output folder; tables go to OUT/orders and OUT/lineitem")
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor, fractions allowed (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--files", type=int, default=None, help="files per table (default: one per ~128 MB)")
    parser.add_argument("--row-group-rows", type=common.count_arg, default=1_000_000,
                        help="rows per Parquet row group (default 1M)")
    parser.add_argument("--compression", default="snappy", help="Parquet compression (default snappy)")
    parser.add_argument("--use-tpchgen", action="store_true",
                        help="call the tpchgen-cli executable for official TPC-H data instead")


def run(args: argparse.Namespace) -> dict[str, list[str]]:
    """Generate the tables from parsed command-line `args` and print a one-line summary."""
    start = time.perf_counter()
    if args.use_tpchgen:
        paths = generate_with_tpchgen(args.out, args.scale)
    else:
        paths = generate_tpch(args.out, scale=args.scale, seed=args.seed, files=args.files,
                              row_group_rows=args.row_group_rows, compression=args.compression)
    elapsed = time.perf_counter() - start
    total = sum(os.path.getsize(p) for ps in paths.values() for p in ps)
    rows = {t: sum(pq.ParquetFile(p).metadata.num_rows for p in ps) for t, ps in paths.items()}
    print(f"tpch: SF {args.scale:g}: {rows.get('orders', 0):,} orders, {rows.get('lineitem', 0):,} line items, "
          f"{common.format_size(total)} of Parquet in {elapsed:.2f} s ({total / elapsed / 1e6:.0f} MB/s) "
          f"to {args.out}")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tpch.py", description="Generate TPC-H-shaped orders and lineitem.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
