"""`Auto`: picks the format of each file from its name, so a job can be pointed at any files.

.parquet/.pq -> Parquet, .csv -> Csv, .tsv -> Csv with tabs, .jsonl/.ndjson -> JsonLines, anything else -> Text.
A compression suffix is looked through: `x.csv.gz` is a gzip-compressed CSV, `x.gz` and `x.txt.bz2` are Text.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from framework.io.badrecords import BadRecords
from framework.io.delimited import Csv
from framework.io.formats import InputFormat
from framework.io.jsonl import JsonLines
from framework.io.parquet import Parquet
from framework.io.paths import FileEntry, compression_of, strip_query
from framework.io.splits import Split
from framework.io.text import Text

_BY_EXTENSION: dict[str, InputFormat] = {
    ".parquet": Parquet(),
    ".pq": Parquet(),
    ".csv": Csv(),
    ".tsv": Csv(delimiter="\t"),
    ".jsonl": JsonLines(),
    ".ndjson": JsonLines(),
}


def format_for_path(path: str) -> InputFormat:
    """The format `Auto` uses for a file."""
    name = posixpath.basename(strip_query(path)).lower()
    stem, ext = posixpath.splitext(name)
    if compression_of(name):
        ext = posixpath.splitext(stem)[1]
        if ext in (".parquet", ".pq"):  # Parquet compresses inside the file; a compressed one is not Parquet
            return Text()
    return _BY_EXTENSION.get(ext, Text())


@dataclass(frozen=True)
class Auto(InputFormat, name="auto"):
    """Each file read by the format its extension names (see `format_for_path`), with default options."""

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        groups: dict[InputFormat, list[FileEntry]] = {}
        for f in files:
            groups.setdefault(format_for_path(f.path), []).append(f)
        splits = [s for fmt, group in groups.items() for s in fmt.plan(group, target_bytes)]
        return sorted(splits, key=lambda s: (s.path, s.start, s.row_groups))

    def read(self, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
        return format_for_path(split.path).read(split, bad)

    def head(self, split: Split, rows: int, columns: Sequence[str] | None = None) -> pa.RecordBatch | None:
        return format_for_path(split.path).head(split, rows, columns)

    def split_schema(self, split: Split) -> pa.Schema | None:
        return format_for_path(split.path).split_schema(split)
