"""`Csv`: delimited text files (CSV, TSV) read with pyarrow.csv, one split per file.

Quoted fields may hold newlines, so a file cannot be cut at an arbitrary newline; each file is one split.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from framework.errors import InputError, UsageError
from framework.io.formats import InputFormat, schema_from_option, schema_to_text
from framework.io.lines import BLOCK_BYTES
from framework.io.normalize import normalize_schema, normalize_types
from framework.io.paths import FileEntry, compression_of, resolve, read_error
from framework.io.splits import Split


@dataclass(frozen=True)
class Csv(InputFormat, name="csv"):
    """Delimited text. `header`: the first line names the columns (if `column_names` is also given, it replaces
    those names). `column_types` fixes some columns' types (others are inferred). `quote_char=None` turns quoting
    off. A row with the wrong number of fields is an InputError naming the file and line."""

    delimiter: str = ","
    header: bool = True
    column_names: Sequence[str] | None = None
    column_types: Mapping[str, Any] | pa.Schema | str | None = None
    quote_char: str | None = '"'

    def __post_init__(self) -> None:
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1:
            raise UsageError(f"Csv delimiter must be one character, not {self.delimiter!r}")
        if self.quote_char is not None and (not isinstance(self.quote_char, str) or len(self.quote_char) > 1):
            raise UsageError(f"Csv quote_char must be one character or None, not {self.quote_char!r}")
        if self.quote_char == "":
            object.__setattr__(self, "quote_char", None)
        if self.column_names is not None:
            if isinstance(self.column_names, str):
                raise UsageError("Csv column_names must be a list of names, not one string")
            object.__setattr__(self, "column_names", tuple(str(c) for c in self.column_names))
        object.__setattr__(self, "column_types", schema_from_option(self.column_types, "Csv column_types"))

    def options(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "header": self.header,
            "column_names": list(self.column_names) if self.column_names is not None else None,
            "column_types": schema_to_text(self.column_types),  # type: ignore[arg-type]
            "quote_char": self.quote_char,
        }

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        return [Split(f.path, 0, -1, size=f.size) for f in files]

    def read(self, split: Split) -> Iterator[pa.RecordBatch]:
        yield from self._batches(split, schema_only=False)

    def split_schema(self, split: Split) -> pa.Schema | None:
        """The columns from the header (or the names given) and the types inferred from the first block."""
        for schema in self._batches(split, schema_only=True):
            return schema
        return None

    def _batches(self, split: Split, *, schema_only: bool) -> Iterator[Any]:
        bad_rows: list[Any] = []

        def on_invalid_row(row: Any) -> str:
            bad_rows.append(row)
            return "error"

        fs, inner = resolve(split.path)
        types = self.column_types
        read_options = pacsv.ReadOptions(
            use_threads=False,  # also what makes the parser report row numbers to on_invalid_row
            block_size=BLOCK_BYTES,
            column_names=list(self.column_names) if self.column_names is not None else None,
            autogenerate_column_names=not self.header and self.column_names is None,
            skip_rows=1 if self.header and self.column_names is not None else 0,
        )
        parse_options = pacsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=self.quote_char if self.quote_char is not None else False,
            newlines_in_values=self.quote_char is not None,
            invalid_row_handler=on_invalid_row,
        )
        convert_options = pacsv.ConvertOptions(column_types=types) if types is not None else None
        try:
            with fs.open_input_stream(inner, compression=compression_of(split.path)) as stream:
                try:
                    reader = pacsv.open_csv(stream, read_options, parse_options, convert_options)
                except pa.ArrowInvalid as e:
                    if "Empty CSV file" in str(e):
                        return
                    raise
                if schema_only:
                    yield normalize_schema(reader.schema)
                    return
                for batch in reader:
                    if batch.num_rows:
                        yield normalize_types(batch)
        except pa.ArrowInvalid as e:
            if bad_rows:
                row = bad_rows[0]
                problem = f"expected {row.expected_columns} fields, found {row.actual_columns}: {_clip(row.text)}"
                raise InputError(split.path, problem, line=self._physical_line(split, row.number)) from None
            raise InputError(split.path, _clean(str(e))) from None
        except OSError as e:
            raise read_error(split.path, e) from None

    def _physical_line(self, split: Split, row_number: int | None) -> int | None:
        """The file line where pyarrow's row `row_number` starts (error path only).

        pyarrow counts records, skipping blank lines, and a quoted field may span lines; Python's csv module,
        set up the same way, tells which physical line the record starts on.
        """
        if row_number is None:
            return None
        fs, inner = resolve(split.path)
        quoting = {"quotechar": self.quote_char} if self.quote_char else {"quoting": csv.QUOTE_NONE}
        try:
            with fs.open_input_stream(inner, compression=compression_of(split.path)) as stream:
                text = io.TextIOWrapper(io.BufferedReader(stream), encoding="utf-8", errors="replace", newline="")
                reader = csv.reader(text, delimiter=self.delimiter, **quoting)
                records, line_before = 0, 0
                for record in reader:
                    if record:
                        records += 1
                        if records == row_number:
                            return line_before + 1
                    line_before = reader.line_num
        except (OSError, csv.Error):
            pass
        return row_number


def _clean(message: str) -> str:
    return " ".join(message.split())


def _clip(text: str, limit: int = 80) -> str:
    text = _clean(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
