"""`Text`: one row per line of text files (plain, or gzip / bz2 / zstd compressed), split by byte ranges."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from framework.errors import InputError, UsageError
from framework.io.badrecords import BadRecords
from framework.io.formats import InputFormat
from framework.io.lines import LineCounter, byte_range_splits, ensure_utf8, iter_line_blocks, lines_array
from framework.io.paths import FileEntry
from framework.io.splits import Split

_ERRORS = ("strict", "replace")


@dataclass(frozen=True)
class Text(InputFormat, name="text", aliases=("txt", "lines")):
    """Lines of UTF-8 text as one string column.

    Lines end at `\\n`; one trailing `\\r` is stripped (CRLF files); a last line without a newline is a row; empty
    lines are rows (""). errors="strict" refuses invalid UTF-8 (naming the file and byte offset), errors="replace"
    turns bad bytes into U+FFFD. Read with a `BadRecords` (and errors="strict"), a line holding invalid UTF-8 is
    skipped and reported with its file line instead; with errors="replace" there are no bad records.
    """

    errors: str = "strict"
    column: str = "line"

    def __post_init__(self) -> None:
        if self.errors not in _ERRORS:
            raise UsageError(f"Text errors must be one of {', '.join(_ERRORS)}, not {self.errors!r}")
        if not isinstance(self.column, str) or not self.column:
            raise UsageError(f"Text column must be a non-empty name, not {self.column!r}")

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        return byte_range_splits(files, target_bytes)

    def output_schema(self) -> pa.Schema:
        return pa.schema([(self.column, pa.string())])

    def read(self, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
        schema = self.output_schema()
        hint = 'read it with Text(errors="replace") to turn invalid bytes into U+FFFD'
        skipping = bad is not None and self.errors == "strict"
        lines = LineCounter(split) if skipping else None
        try:
            for offset, block in iter_line_blocks(split):
                if len(block) >= 2**31:  # only a single line can make a block this big
                    raise InputError(split.path, "a line is longer than 2 GiB", offset=offset)
                block = ensure_utf8(
                    block, split.path, offset, errors=self.errors, hint=hint, bad=bad if skipping else None, lines=lines
                )
                yield pa.RecordBatch.from_arrays([lines_array(block)], schema=schema)
        finally:
            if lines is not None:
                lines.close()
