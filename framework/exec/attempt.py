"""One task attempt from start to finish, independent of where it runs.

`task_args` turns the master's state into the small, JSON-safe description an attempt needs (which split or
partition, which attempts committed upstream and where they put their pieces, which stores were dead when it
launched, output settings). `run_attempt` fetches the attempt's input, runs the pure task body
(framework.exec.tasks), and hands its output to the shuffle stores or writes a part file. Executors supply `fetch`
and `put`, which is all that differs between in-process and Ray.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator, Mapping, Sequence

import pyarrow as pa

from framework.exec.broadcast import forget_other_jobs
from framework.exec.tasks import run_map, run_reduce, schema_from_text, task_error
from framework.errors import InputError
from framework.io import Split, write_part
from framework.io.badrecords import BadRecords
from framework.io.paths import file_version
from framework.loader import context_for
from framework.plan import is_reduce, output_dataset, shuffle_dataset
from framework.shuffle.store import Piece

#: fetch(dataset, partition, partitions in the dataset, sources) -> pieces (tables resolved); sources are
#: [{"ring": index, "dead": stores dead when those attempts launched, "committed": {task: attempt}, "wrote": tasks
#: that put pieces of this partition}] (JobState.map_sources / reduce_sources)
Fetch = Callable[[str, int, int, Sequence[Mapping]], Sequence[Piece]]
#: put(dataset, task id, attempt, [(partition, Piece)]) -> None; returns only once the store holds the data
Put = Callable[[str, str, int, Sequence[tuple[int, Piece]]], None]


def run_attempt(spec: Mapping, args: Mapping, fetch: Fetch, put: Put) -> dict:
    """Run one attempt; returns the TaskDone result or raises TaskError naming the step and split."""
    started = time.perf_counter()
    ctx = None
    where = f"task {args['task_id']}"
    try:
        forget_other_jobs(args["job_id"])  # a broadcast side another job left in this worker
        ctx = context_for(args["job_id"], spec)
        step_name = args.get("stage_name") or ctx.steps[args["stage"]].name
        if is_reduce(args["task_id"]):
            where = f"{step_name}, reduce partition {args['partition']}"
            result = _reduce(ctx, args, fetch, put, where)
        else:
            where = f"{step_name}, map over {args['describe']}"
            result = _map(ctx, args, fetch, put, where)
    except Exception as e:
        raise task_error(e, where) from None
    result["seconds"] = round(time.perf_counter() - started, 4)
    return result


def _map(ctx, args: Mapping, fetch: Fetch, put: Put, where: str) -> dict:
    batches: Iterator[pa.RecordBatch | pa.Table]
    bytes_in = 0
    bad = None
    if args.get("split") is not None:
        split = Split.from_dict(args["split"])
        check_unchanged(split.path, args.get("planned"))
        bad = BadRecords(args["skip_bad_records"]) if args.get("skip_bad_records") else None
        batches = _at_least_one_batch(ctx.formats[args["input"]], split, bad)
        bytes_in = split.size
    else:
        pieces = fetch(output_dataset(args["source_stage"]), args["source_partition"], args["source_partitions"],
                       args["sources"])
        batches = iter([p.value for p in pieces])
        bytes_in = sum(p.nbytes for p in pieces)
    side = _broadcast_side(ctx, args, where) if args.get("broadcast") else None
    out = run_map(ctx, args["stage"], args["input"], batches, args["num_partitions"], where, chain=args.get("chain"),
                  broadcast=side, skew=args.get("skew"))
    if side is not None and side.counters and args.get("index") == 0:  # the broadcast side's counters, once
        for name, n in side.counters.items():
            out.result["counters"][name] = out.result["counters"].get(name, 0) + n
    if args["num_partitions"] == 0:  # a stage without shuffle: this map writes its output part
        out.result["rows"] = out.table.num_rows if out.table is not None else 0
        out.result["part"] = _write_output(out.table, args, args["index"])
    else:
        only = None if args.get("only") is None else set(args["only"])
        label = out.result["input"]  # the step input these rows are (a fused join's output: "step:N")
        put(
            shuffle_dataset(args["stage"]),
            args["task_id"],
            args["attempt"],
            [(p, Piece(label, t, t.num_rows, t.nbytes)) for p, t in out.partitions.items()
             if only is None or p in only],
        )
    out.result["bytes_in"] = bytes_in
    if bad is not None and bad.count:  # counted once: only the committed attempt's result counts
        out.result["counters"]["skipped_records"] = bad.count
        out.result["skipped"] = bad.records
        out.result["skipped_in"] = args["describe"]
    return out.result


def _broadcast_side(ctx, args: Mapping, where: str):
    """The broadcast side this map joins with: from this worker's cache, else read whole (every split, mapped by
    the job's map for that input) and indexed."""
    from framework.exec.broadcast import broadcast_side
    from framework.exec.tasks import read_broadcast_input

    b = args["broadcast"]
    name = b["input"]

    def read() -> tuple[pa.Table | None, dict]:
        batches = (batch for split in b["splits"]
                   for batch in _at_least_one_batch(ctx.formats[name], Split.from_dict(split)))
        return read_broadcast_input(ctx, b["step"], name, batches, where)

    planned = b.get("planned") or {}
    for path in dict.fromkeys(s["path"] for s in b["splits"]):  # every task: the side's files are as planned
        check_unchanged(path, planned.get(path))
    version = repr(sorted(planned.items())) + repr(b["splits"])
    return broadcast_side(args["job_id"], args["stage"], read, ctx.steps[b["step"]].join, b["side"], version)


def check_unchanged(path: str, planned: Sequence | None) -> None:
    """InputError unless the file is the version the job was planned on (same size and mtime): the job's other
    splits may have been read from that version, before a crash or while it ran."""
    if not planned:
        return
    size, mtime = file_version(path)
    if size != planned[0] or (mtime is not None and planned[1] is not None and mtime != planned[1]):
        raise InputError(path, f"the file changed after the job was planned (size {planned[0]} -> {size} bytes, "
                               f"modified {_when(planned[1])} -> {_when(mtime)}), and some of the job's tasks may "
                               f"have read the earlier version: run the job again")


def _when(mtime_ns: int | None) -> str:
    return "?" if mtime_ns is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime_ns / 1e9))


def _at_least_one_batch(fmt, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
    """The split's batches (malformed records skipped into `bad` when given); an empty split still yields one
    empty batch, so map() reveals the output schema (a join with an empty side still knows that side's columns)."""
    empty = True
    for batch in fmt.read(split, bad):
        empty = False
        yield batch
    if empty:
        schema = fmt.split_schema(split) if hasattr(fmt, "split_schema") else fmt.output_schema()
        if schema is not None:
            yield pa.RecordBatch.from_pylist([], schema=schema)


def _reduce(ctx, args: Mapping, fetch: Fetch, put: Put, where: str) -> dict:
    pieces = fetch(shuffle_dataset(args["stage"]), args["partition"], args["num_partitions"], args["sources"])
    by_input: dict[str, list[pa.Table]] = {}
    for piece in pieces:
        by_input.setdefault(piece.input, []).append(piece.value)
    schemas = {name: schema_from_text(text) for name, text in args["schemas"].items()}
    step = (args.get("chain") or [args["stage"]])[-1]
    table, counters = run_reduce(ctx, args["stage"], by_input, schemas, where, step_index=step)
    result = {"rows_in": sum(p.rows for p in pieces), "bytes_in": sum(p.nbytes for p in pieces),
              "rows": table.num_rows if table is not None else 0, "counters": counters, "part": None}
    if args["final"]:
        result["part"] = _write_output(table, args, args["partition"])
    elif table is not None and table.num_rows:
        put(output_dataset(args["stage"]), args["task_id"], args["attempt"],
            [(args["partition"], Piece(f"step:{step}", table, table.num_rows, table.nbytes))])
    return result


def _write_output(table: pa.Table | None, args: Mapping, part: int) -> str | None:
    """Write output part `part` of this attempt (under the output's temporary folder); the path, or None when it has
    no rows (part 0 is written even empty, so an empty result still has its schema)."""
    if table is None or not (table.num_rows or part == 0):
        return None
    out = args["output"]
    return write_part(table, out["path"], args["job_id"], part, args["attempt"], out["format"])
