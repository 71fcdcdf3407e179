"""Declarative aggregates: what a job writes as `aggregate = {"count": Sum()}`.

Each aggregate runs in two phases over Arrow group-bys (pyarrow's hash aggregation, no Python loop per row):
`partial` runs map-side as the combiner over one map task's output, and `merge` + `finish` run in reduce over the
partials of every map task. Partials of one aggregate are ordinary columns named `<output>.<part>`, so they travel
through the shuffle like any other data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from framework.shuffle.partition import compact_strings


@dataclass(frozen=True)
class Aggregate:
    """Base class: one output column computed per key from a map-output column.

    `column` names the map-output column to aggregate; None means the column named like the output.
    """

    column: str | None = None

    # (part name, arrow function applied to the source column map-side, arrow function that merges partials)
    parts: tuple = ()

    def source(self, output: str) -> str:
        return self.column if self.column is not None else output

    def partial_specs(self, output: str) -> list[tuple[str | list, str, str]]:
        """(source column, arrow hash function, partial column name) for the map-side phase."""
        return [(self.source(output), fn, f"{output}.{part}") for part, fn, _ in self.parts]

    def merge_specs(self, output: str) -> list[tuple[str, str, str]]:
        """(partial column, arrow hash function, merged column name) for the reduce-side phase."""
        return [(f"{output}.{part}", merge, f"{output}.{part}") for part, _, merge in self.parts]

    def finish(self, table: pa.Table, output: str) -> pa.ChunkedArray:
        """The final column from the merged partials."""
        return table[f"{output}.{self.parts[0][0]}"]


@dataclass(frozen=True)
class Sum(Aggregate):
    """Sum of a numeric column (nulls skipped; null when a key has only nulls)."""

    parts: tuple = (("sum", "sum", "sum"),)


@dataclass(frozen=True)
class Count(Aggregate):
    """Number of rows per key; with a `column`, the number of non-null values in it."""

    def partial_specs(self, output: str) -> list[tuple[str | list, str, str]]:
        if self.column is None:
            return [([], "count_all", f"{output}.count")]
        return [(self.column, "count", f"{output}.count")]

    def merge_specs(self, output: str) -> list[tuple[str, str, str]]:
        return [(f"{output}.count", "sum", f"{output}.count")]

    def finish(self, table: pa.Table, output: str) -> pa.ChunkedArray:
        return table[f"{output}.count"]


@dataclass(frozen=True)
class Min(Aggregate):
    """Smallest value per key (nulls skipped)."""

    parts: tuple = (("min", "min", "min"),)


@dataclass(frozen=True)
class Max(Aggregate):
    """Largest value per key (nulls skipped)."""

    parts: tuple = (("max", "max", "max"),)


@dataclass(frozen=True)
class Mean(Aggregate):
    """Arithmetic mean per key as float64 (nulls skipped; null when a key has only nulls)."""

    parts: tuple = (("sum", "sum", "sum"), ("n", "count", "sum"))

    def partial_specs(self, output: str) -> list[tuple[str | list, str, str]]:
        src = self.source(output)
        return [(src, "sum", f"{output}.sum"), (src, "count", f"{output}.n")]

    def finish(self, table: pa.Table, output: str) -> pa.ChunkedArray:
        total = pc.cast(table[f"{output}.sum"], pa.float64())
        n = table[f"{output}.n"]
        # a key whose values were all null has n == 0: its mean is null, not a division error
        return pc.divide(total, pc.if_else(pc.equal(n, 0), None, pc.cast(n, pa.float64())))


def _group(table: pa.Table, keys: Sequence[str], specs: list[tuple[str | list, str, str]]) -> pa.Table:
    """One hash group-by; result columns renamed to the specs' target names, keys first."""
    if not keys:
        return _global_aggregate(table, specs)
    aggs = [(src, fn) for src, fn, _ in specs]
    for k in keys:  # canonical key types: the same output types whatever the input, and a faster group-by
        table = table.set_column(table.schema.get_field_index(k), k, compact_strings(table[k]))
    grouped = table.group_by(list(keys), use_threads=False).aggregate(aggs)
    # pyarrow names outputs "<src>_<fn>" (or "<fn>" for count_all); older releases put the keys last, newer first
    first = len(keys) if grouped.column_names[: len(keys)] == list(keys) else 0
    columns = [grouped[k] for k in keys] + [grouped.column(first + i) for i in range(len(specs))]
    return pa.table(columns, names=list(keys) + [name for _, _, name in specs])


def _global_aggregate(table: pa.Table, specs: list[tuple[str | list, str, str]]) -> pa.Table:
    """Aggregation without keys: one row for the whole table."""
    scalar_fn = {"count_all": "count", "sum": "sum", "count": "count", "min": "min", "max": "max"}
    columns = {}
    for src, fn, name in specs:
        if fn == "count_all":
            columns[name] = pa.array([table.num_rows], pa.int64())
        else:
            value = getattr(pc, scalar_fn[fn])(table[src])
            columns[name] = pa.array([value.as_py()], value.type)
    return pa.table(columns)


def combine(table: pa.Table, keys: Sequence[str], aggregates: Mapping[str, Aggregate]) -> pa.Table:
    """Map-side phase: reduce one map task's output to one row of partials per key."""
    specs = [spec for out, agg in aggregates.items() for spec in agg.partial_specs(out)]
    return _group(table, keys, specs)


def merge(partials: pa.Table, keys: Sequence[str], aggregates: Mapping[str, Aggregate]) -> pa.Table:
    """Reduce-side phase: merge the partials of all map tasks (also usable map-side to re-combine)."""
    specs = [spec for out, agg in aggregates.items() for spec in agg.merge_specs(out)]
    return _group(partials, keys, specs)


def finish(merged: pa.Table, keys: Sequence[str], aggregates: Mapping[str, Aggregate]) -> pa.Table:
    """Final columns: the keys, then one column per aggregate in declaration order."""
    columns = [merged[k] for k in keys] + [agg.finish(merged, out) for out, agg in aggregates.items()]
    return pa.table(columns, names=list(keys) + list(aggregates))
