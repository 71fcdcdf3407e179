"""Map and reduce task bodies over Arrow: pure functions that every executor (inline or Ray) calls.

A map task turns batches of one input split into partitioned, combined tables; a reduce task turns every piece of
one partition into output rows (aggregates merged, a join, or the user's `reduce`). Neither knows where its data
came from or goes to: executors pass data in and take results out. All heavy work is pyarrow/polars kernels.
"""

from __future__ import annotations

import base64
import functools
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from framework import aggregates
from framework.errors import UsageError
from framework.exec.errors import InfraError, TaskError  # noqa: F401  (re-exported)
from framework.job import Join, Step, as_table
from framework.loader import JobContext
from framework.shuffle.partition import normalize_key, split_by_partition

if TYPE_CHECKING:
    from framework.exec.broadcast import BroadcastSide

#: map() is called on slices of at most this many rows, so a user's map never sees an unbounded batch
MAP_BATCH_ROWS = 1 << 20
#: a map task re-combines its partial aggregates once this many rows have piled up
COMBINE_EVERY_ROWS = 4 << 20

_JOIN_TYPES = {
    "inner": "inner",
    "left": "left outer",
    "right": "right outer",
    "full": "full outer",
    "semi": "left semi",
    "anti": "left anti",
}


def task_error(exc: BaseException, where: str) -> TaskError:
    """Wrap an exception raised inside a task body, naming the step and the split."""
    if isinstance(exc, TaskError):
        return exc
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, UsageError):  # bad input: the same on every attempt
        return TaskError(str(exc), details, fatal=True, usage=True, cause=exc)
    if isinstance(exc, InfraError):
        return TaskError(f"{where}: {exc}", details, infra=True)
    return TaskError(f"{where}: {type(exc).__name__}: {exc}", details, cause=exc)


@dataclass
class MapOutput:
    partitions: dict  # partition -> pa.Table
    result: dict  # metadata for TaskDone
    table: pa.Table | None = None  # the whole output, for a stage that does not shuffle (0 partitions)


def schema_to_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_text(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _slices(batch: pa.RecordBatch | pa.Table) -> Iterable[pa.RecordBatch]:
    if isinstance(batch, pa.Table):
        for b in batch.to_batches(max_chunksize=MAP_BATCH_ROWS):
            yield b
        return
    for start in range(0, max(batch.num_rows, 1), MAP_BATCH_ROWS):
        yield batch.slice(start, MAP_BATCH_ROWS)


def _concat(tables: Sequence[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def _check_keys(table: pa.Table, keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in table.column_names]
    if missing:
        raise UsageError(f"{where}: the output has no key column {', '.join(map(repr, missing))} "
                         f"(columns: {', '.join(table.column_names)})")


def _drop_unmatchable(table: pa.Table, keys: Sequence[str], join: Join, side: str) -> pa.Table:
    """Rows whose join key has a null never match: drop them map-side unless the join keeps that side's rows."""
    keeps = {"left": ("left", "full", "anti"), "right": ("right", "full")}[side]
    if join.how in keeps or not any(table[k].null_count for k in keys):
        return table
    return table.filter(functools.reduce(pc.and_, [pc.is_valid(table[k]) for k in keys]))

def run_map(
    ctx: JobContext,
    stage: int,
    input_name: str,
    batches: Iterable[pa.RecordBatch | pa.Table],
    num_partitions: int,
    where: str,
    chain: Sequence[int] | None = None,
    broadcast: "BroadcastSide | None" = None,
    skew: Mapping | None = None,
) -> MapOutput:
    """Run one map task: the step's map over every batch, the combiner, then hash partitioning by key.

    `chain`: the job steps the stage runs (default: step `stage`); the last one's map, combiner and key apply.
    `broadcast`: this input is the streamed side of step chain[0]'s broadcast join: its rows are mapped by that
    step's map and joined with the broadcast side first; the joined rows are then that step's output. With
    `num_partitions` 0 nothing is partitioned: the whole output is MapOutput.table. `skew`: how this side's rows
    of hot join keys are routed (framework.shuffle.partition.split_by_partition).
    """
    chain = list(chain or [stage])
    job = ctx.job
    job.current_input = input_name
    job._counters = {}
    rows_in = 0
    mapped_already = False
    if broadcast is not None:
        batches, rows_in = _broadcast_joined(ctx, chain[0], input_name, batches, broadcast, where)
        input_name = f"step:{chain[0]}"  # from here on the rows are the join step's output
        job.current_input = input_name
        mapped_already = len(chain) == 1  # a final broadcast join: nothing maps its output
    step: Step = ctx.steps[chain[-1]]
    mapper = None if mapped_already else step.mapper_for(input_name)
    keys = step.keys_for(input_name)
    outputs: list[pa.Table] = []
    pending_rows = 0
    schema = None
    for batch in batches:
        if broadcast is None:
            rows_in += batch.num_rows
        for piece in _slices(batch):
            out = as_table(mapper(piece) if mapper else piece, f"{where}: map()")
            if out is None:
                continue
            schema = out.schema
            if out.num_rows == 0:
                continue
            if step.aggregate:
                _check_keys(out, keys, where)
                out = aggregates.combine(out, keys, step.aggregate)
            outputs.append(out)
            pending_rows += out.num_rows
            if step.aggregate and pending_rows > COMBINE_EVERY_ROWS and len(outputs) > 1:
                outputs = [aggregates.merge(_concat(outputs), keys, step.aggregate)]
                pending_rows = outputs[0].num_rows
    if step.aggregate and len(outputs) > 1:
        outputs = [aggregates.merge(_concat(outputs), keys, step.aggregate)]
    table = _concat(outputs) if outputs else None
    parts: dict[int, pa.Table] = {}
    whole = None
    if num_partitions == 0:
        whole = table if table is not None else (schema.empty_table() if schema is not None else None)
    elif table is not None and table.num_rows:
        _check_keys(table, keys, where)
        if step.join is not None:
            side = "left" if input_name == step.join.left else "right"
            table = _drop_unmatchable(table, keys, step.join, side)
        parts = split_by_partition(table, keys, num_partitions, skew)
    result = {
        "rows_in": rows_in,
        "rows_out": sum(t.num_rows for t in parts.values()) if whole is None else whole.num_rows,
        "bytes_out": sum(t.nbytes for t in parts.values()) if whole is None else whole.nbytes,
        "partitions": {str(p): t.num_rows for p, t in parts.items()},
        "counters": dict(job._counters),
        "input": input_name,
        "schema": schema_to_text(schema) if schema is not None else None,
    }
    return MapOutput(parts, result, whole)


def as_table_slices(mapper, batches: Iterable[pa.RecordBatch | pa.Table],
                    where: str) -> tuple[list[pa.Table], int]:
    """`mapper` (None: identity) over every slice of `batches`, as tables (None results left out, empty ones kept:
    they carry the schema), and the rows read."""
    outs, rows = [], 0
    for batch in batches:
        rows += batch.num_rows
        for piece in _slices(batch):
            out = as_table(mapper(piece) if mapper else piece, where)
            if out is not None:
                outs.append(out)
    return outs, rows


def read_broadcast_input(ctx: JobContext, step_index: int, name: str, batches: Iterable[pa.RecordBatch | pa.Table],
                         where: str) -> tuple[pa.Table | None, dict]:
    """A broadcast join's small input `name`, whole: mapped by the join step's map for it, its keys checked; with
    the user counters that map incremented (kept apart from the task's own)."""
    step: Step = ctx.steps[step_index]
    job = ctx.job
    saved, job._counters, job.current_input = job._counters, {}, name
    try:
        tables, _ = as_table_slices(step.mapper_for(name), batches, f"{where}: map() of broadcast input {name!r}")
        table = _concat(tables) if tables else None
        if table is not None:
            _check_keys(table, step.keys_for(name), f"{where}: broadcast input {name!r}")
        return table, dict(job._counters)
    finally:
        job._counters = saved


def _broadcast_joined(ctx: JobContext, step_index: int, input_name: str, batches: Iterable[pa.RecordBatch | pa.Table],
                      side: "BroadcastSide", where: str) -> tuple[list[pa.Table], int]:
    """The streamed side's rows of one map task, mapped by the join step's map for `input_name` and joined with the
    broadcast side: ([joined table] or [] when nothing has even a schema, rows read)."""
    step: Step = ctx.steps[step_index]
    assert step.join is not None
    keys = step.keys_for(input_name)
    outs, rows_in = as_table_slices(step.mapper_for(input_name), batches, f"{where}: map()")
    if not outs:
        return [], rows_in
    table = _concat(outs)
    _check_keys(table, keys, where)
    table = _drop_unmatchable(table, keys, step.join, "left" if input_name == step.join.left else "right")
    joined = side.join(table, where)
    return ([joined] if joined is not None else []), rows_in


def run_reduce(
    ctx: JobContext,
    stage: int,
    pieces: Mapping[str, list[pa.Table]],
    schemas: Mapping[str, pa.Schema],
    where: str,
    step_index: int | None = None,
) -> tuple[pa.Table | None, dict]:
    """Run one reduce task over every piece of one partition ({input name: tables}) of job step `step_index`
    (default: `stage`); returns (rows, counters)."""
    step: Step = ctx.steps[stage if step_index is None else step_index]
    job = ctx.job
    job._counters = {}
    job.current_input = None
    if step.join is not None:
        table = _join_partition(step.join, pieces, schemas, where)
        if step.reduce is not None and table is not None:
            table = as_table(step.reduce(table), f"{where}: reduce()")
        return table, dict(job._counters)
    tables = [t for ts in pieces.values() for t in ts if t.num_rows]
    if not tables:
        return None, {}
    table = _concat(tables)
    if step.aggregate:
        keys = step.keys_for(next(iter(pieces)))
        merged = aggregates.merge(table, keys, step.aggregate)
        table = aggregates.finish(merged, keys, step.aggregate)
    if step.reduce is not None:
        table = as_table(step.reduce(table), f"{where}: reduce()")
    return table, dict(job._counters)


def _side(pieces: Mapping[str, list[pa.Table]], schemas: Mapping[str, pa.Schema], name: str) -> pa.Table | None:
    tables = [t for t in pieces.get(name, []) if t.num_rows]
    if tables:
        return _concat(tables)
    schema = schemas.get(name)
    return schema.empty_table() if schema is not None else None


def _normalized_keys(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    for k in keys:
        i = table.schema.get_field_index(k)
        table = table.set_column(i, k, normalize_key(table[k]))
    return table


def _join_partition(join: Join, pieces, schemas, where: str) -> pa.Table | None:
    left = _side(pieces, schemas, join.left)
    right = _side(pieces, schemas, join.right)
    if left is None or right is None:
        return left if (left is not None and join.how in ("left", "full", "anti")) else None
    return join_tables(left, right, join, where)


def join_tables(left: pa.Table, right: pa.Table, join: Join, where: str = "join") -> pa.Table:
    """SQL equi-join of two tables: null keys never match, duplicates give every pair, clashing names get suffixes.

    Output columns: the left's, then the right's (a key of the same name on both sides appears once).
    """
    lkeys, rkeys = list(join.left_on), list(join.right_on)
    check_join_keys(left, right, join, where)
    join_output_names(left.column_names, right.column_names, join, where)  # clashes: one line, before the join
    left, right = _normalized_keys(left, lkeys), _normalized_keys(right, rkeys)
    same_names = lkeys == rkeys
    joined = left.join(
        right,
        keys=lkeys,
        right_keys=rkeys,
        join_type=_JOIN_TYPES[join.how],
        left_suffix=join.suffixes[0],
        right_suffix=join.suffixes[1],
        coalesce_keys=same_names,
        use_threads=False,
    )
    if join.how in ("semi", "anti"):
        return joined.select(left.column_names)
    return joined.select(_join_column_order(left, right, join, joined.column_names))


def _join_column_order(left: pa.Table, right: pa.Table, join: Join, names: list[str]) -> list[str]:
    """Left columns then right columns, using the names pyarrow gave them (suffixed where they clashed)."""
    order = join_output_names(left.column_names, right.column_names, join)
    assert sorted(order) == sorted(names), (order, names)
    return order


def check_join_keys(left: pa.Table, right: pa.Table, join: Join, where: str = "join") -> None:
    """UsageError unless each pair of key columns has the same type once normalised (any integer width, any string
    kind)."""
    for lk, rk in zip(join.left_on, join.right_on):
        if normalize_key(left[lk]).type != normalize_key(right[rk]).type:
            raise UsageError(f"{where}: join key {lk!r} is {left[lk].type} on the left but {rk!r} is "
                             f"{right[rk].type} on the right")


def join_output_names(left: Sequence[str], right: Sequence[str], join: Join, where: str = "join") -> list[str]:
    """The joined columns' names: the left's then the right's, a key of the same name on both sides once, other
    names both sides have suffixed. A suffixed name that clashes again is a UsageError."""
    lkeys, rkeys = list(join.left_on), list(join.right_on)
    coalesced = set(lkeys) if lkeys == rkeys else set()
    clash = (set(left) & set(right)) - coalesced
    order = [c + join.suffixes[0] if c in clash else c for c in left]
    order += [c + join.suffixes[1] if c in clash else c for c in right if c not in coalesced]
    if join.how not in ("semi", "anti") and len(set(order)) != len(order):
        dup = next(c for c in order if order.count(c) > 1)
        raise UsageError(f"{where}: the joined rows would have two columns named {dup!r} (columns both sides have "
                         f"get the suffixes {join.suffixes[0]!r} / {join.suffixes[1]!r}): rename one in a map")
    return order
