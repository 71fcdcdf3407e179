"""The job API: what users write in a job module, and nothing about how it is distributed.

A job is a `Job` subclass. The simple form declares one step with class attributes:

    class WordCount(Job):
        input = Text()
        key = "word"
        aggregate = {"count": Sum()}
        def map(self, batch): ...

Multi-step jobs override `steps()` and return a list of `Step`s; step N+1 reads step N's output. A step is
map -> shuffle by key -> reduce, where reduce is the declared aggregates (run map-side as the combiner too), the
`reduce(table)` escape hatch (one whole partition at a time), or an equi-join of two inputs (`Join`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa

from framework.aggregates import Aggregate
from framework.argparsing import UsageParser
from framework.errors import UsageError

JOIN_HOWS = ("inner", "left", "right", "full", "semi", "anti")


class Option:
    """A job-declared command-line option; takes `argparse.add_argument` arguments.

    `options = [Option("--top", type=int, default=10, help="how many words")]` makes `self.args.top`.
    """

    def __init__(self, *flags: str, **kwargs: Any):
        if not flags or not all(f.startswith("-") for f in flags):
            raise TypeError(f"Option needs flags starting with '-', got {flags!r}")
        self.flags = flags
        self.kwargs = kwargs

    @property
    def dest(self) -> str:
        if "dest" in self.kwargs:
            return self.kwargs["dest"]
        longest = max(self.flags, key=len)
        return longest.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Join:
    """An equi-join of two inputs, shuffled on their keys with the same partitioner and joined per partition.

    SQL semantics: null keys never match; duplicate keys give every pair; `semi`/`anti` keep left rows with /
    without a match. Non-key columns whose names clash get `suffixes`. With equal key names on both sides the
    output has one (coalesced) key column; with different names both are kept.
    """

    left_on: Sequence[str]
    right_on: Sequence[str]
    how: str = "inner"
    left: str = "left"
    right: str = "right"
    suffixes: tuple[str, str] = ("_left", "_right")

    def __post_init__(self) -> None:
        if self.how not in JOIN_HOWS:
            raise UsageError(f"unknown join type {self.how!r}: choose one of {', '.join(JOIN_HOWS)}")
        if len(self.left_on) != len(self.right_on) or not self.left_on:
            raise UsageError("a join needs the same number (at least one) of left and right key columns")


@dataclass
class Step:
    """One map -> shuffle -> reduce step.

    map: a function of one record batch returning a table (or a dict input name -> function); None = identity.
    key: the column(s) rows are grouped and partitioned by; None sends every row to a single reduce.
    aggregate: output column -> Aggregate; runs as the combiner map-side and again in reduce.
    reduce: a function of one whole partition (a table holding every row of the keys in it) returning a table;
        after a join it post-processes each joined partition.
    join: join two inputs instead of aggregating (the key is the join's columns).
    inputs: the inputs this step reads: names of the job's inputs, or "step:N" for step N's output. Default: the
        job's inputs for the first step, the previous step's output after.
    partitions: number of reduce partitions; default sized from the data and the cluster.
    """

    map: Callable[[pa.RecordBatch], Any] | Mapping[str, Callable[[pa.RecordBatch], Any]] | None = None
    key: str | Sequence[str] | None = None
    aggregate: Mapping[str, Aggregate] | None = None
    reduce: Callable[[pa.Table], Any] | None = None
    join: Join | None = None
    inputs: Sequence[str] | None = None
    partitions: int | None = None
    name: str | None = None

    def keys_for(self, input_name: str) -> list[str]:
        """The key columns of the rows that come from `input_name`."""
        if self.join is not None:
            return list(self.join.left_on if input_name == self.join.left else self.join.right_on)
        if self.key is None:
            return []
        return [self.key] if isinstance(self.key, str) else list(self.key)

    def mapper_for(self, input_name: str) -> Callable[[pa.RecordBatch], Any] | None:
        if isinstance(self.map, Mapping):
            return self.map.get(input_name)
        return self.map


class Job:
    """Base class of every job. Subclass it in a job module; see the module docstring for the two forms."""

    #: the single input (files given as positional arguments); a Text() when neither this nor `inputs` is set
    input: Any = None
    #: named inputs, e.g. {"left": Auto(), "right": Auto()}; given as --input NAME=PATH
    inputs: Mapping[str, Any] | None = None
    key: str | Sequence[str] | None = None
    aggregate: Mapping[str, Aggregate] | None = None
    options: Sequence[Option] = ()
    partitions: int | None = None
    #: how `paxflow run` without -o orders the rows it previews, e.g. [("count", "descending")]
    preview_order: Sequence[tuple[str, str]] = ()
    #: malformed input records (a line not UTF-8, a CSV row with the wrong field count or an unparsable value, a
    #: JSON line that does not parse) the job may skip in all, counted in the counter `skipped_records`; past it
    #: the job fails naming the record. 0: fail on the first one. `paxflow run --skip-bad-records N` overrides it.
    skip_bad_records: int = 0

    def __init__(self, args: Mapping[str, Any] | argparse.Namespace | None = None):
        values = self._defaults()
        if isinstance(args, argparse.Namespace):
            values.update(vars(args))
        elif args is not None:
            values.update(dict(args))
        self.args = argparse.Namespace(**values)
        self.current_input: str | None = None
        self._counters: dict[str, int] = {}

    # ---- what a job overrides -------------------------------------------------------------------------------

    def map(self, batch: pa.RecordBatch) -> pa.Table | pa.RecordBatch | Mapping[str, Any] | None:
        """Turn one batch of input rows into output rows (default: pass the rows through)."""
        return batch

    def reduce(self, table: pa.Table) -> pa.Table | pa.RecordBatch | Mapping[str, Any] | None:
        """Escape hatch: turn one whole partition (every row of the keys in it) into output rows."""
        raise NotImplementedError

    def steps(self) -> list[Step]:
        """The job's steps; by default one step built from `map`, `key`, `aggregate` and `reduce`."""
        overrides_reduce = type(self).reduce is not Job.reduce
        return [
            Step(
                map=self.map,
                key=self.key,
                aggregate=self.aggregate,
                reduce=self.reduce if overrides_reduce else None,
                partitions=self.partitions,
            )
        ]

    def validate(self) -> None:
        """Check option values before any work starts; raise UsageError with a one-line message."""

    @classmethod
    def sample_input(cls) -> Mapping[str, str] | None:
        """Inputs to use when the user gives none ({input name: path}); None means inputs are required."""
        return None

    # ---- used inside map / reduce ---------------------------------------------------------------------------

    def increment(self, counter: str, amount: int = 1) -> None:
        """Add to a user counter. Only the attempt of a task that commits is counted, so retries never double."""
        self._counters[counter] = self._counters.get(counter, 0) + int(amount)

    # ---- plumbing -------------------------------------------------------------------------------------------

    def input_formats(self) -> dict[str, Any]:
        """{input name: input format}; a single-input job's input is named "input"."""
        if self.inputs:
            return dict(self.inputs)
        if self.input is not None:
            return {"input": self.input}
        from framework.io import Text

        return {"input": Text()}

    @classmethod
    def argument_parser(cls, prog: str | None = None) -> argparse.ArgumentParser:
        parser = UsageParser(prog=prog or cls.__name__, add_help=False)
        for option in cls.options:
            parser.add_argument(*option.flags, **option.kwargs)
        return parser

    @classmethod
    def parse_args(cls, argv: Sequence[str]) -> argparse.Namespace:
        """Parse the job's own options; an unknown or malformed option raises UsageError."""
        return cls.argument_parser().parse_args(list(argv))

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        parser = cls.argument_parser()
        return {a.dest: a.default for a in parser._actions if a.dest != argparse.SUPPRESS}

    @classmethod
    def main(cls, argv: Sequence[str] | None = None) -> None:
        """Run this job from its own module: `python jobs/wordcount.py INPUT -o OUT` (same flags as paxflow run)."""
        from framework.cli import exit_fast, run_job_main

        sys.exit(exit_fast(run_job_main(cls, sys.argv[1:] if argv is None else list(argv))))


def as_table(result: Any, where: str) -> pa.Table | None:
    """Normalise what a user's map or reduce returned to a table (None and empty results allowed)."""
    if result is None:
        return None
    if isinstance(result, pa.Table):
        return result
    if isinstance(result, pa.RecordBatch):
        return pa.Table.from_batches([result])
    if isinstance(result, Mapping):
        return pa.table(dict(result))
    try:
        import pandas as pd

        if isinstance(result, pd.DataFrame):
            return pa.Table.from_pandas(result, preserve_index=False)
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    raise TypeError(f"{where} must return a pyarrow Table, RecordBatch, dict of columns or None; got {type(result).__name__}")


def job_steps(job: Job) -> list[Step]:
    """The job's steps with defaults filled in and checked (inputs wired, keys present)."""
    steps = list(job.steps())
    if not steps:
        raise UsageError(f"{type(job).__name__}.steps() returned no steps")
    formats = job.input_formats()
    for i, step in enumerate(steps):
        if step.inputs is None:
            if step.join is not None:
                step.inputs = [step.join.left, step.join.right]
            else:
                step.inputs = list(formats) if i == 0 else [f"step:{i - 1}"]
        for name in step.inputs:
            if name.startswith("step:"):
                n = int(name.split(":", 1)[1])
                if not 0 <= n < i:
                    raise UsageError(f"step {i} reads {name}, which is not an earlier step")
            elif name not in formats:
                raise UsageError(f"step {i} reads input {name!r}, but the job declares {sorted(formats)}")
        if step.join is not None and len(step.inputs) != 2:
            raise UsageError(f"step {i} joins, so it reads exactly two inputs")
        if step.name is None:
            step.name = f"step {i}"
    return steps
