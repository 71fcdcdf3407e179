"""`Csv`: delimited text files (CSV, TSV) read with pyarrow.csv, one split per file.

Quoted fields may hold newlines, so a file cannot be cut at an arbitrary newline; each file is one split.

Skip mode (`read(split, bad)`, see `_SkippingRead`): rows with the wrong number of fields are dropped by pyarrow's
own `invalid_row_handler`, so the typed fast path (one parse and one conversion per block) is untouched. A value
that does not convert fails its whole block; from there on the file is re-read with every column as a string, and
each block is converted with pyarrow's CSV converter itself (the strings written back as CSV, which keeps its exact
rules: null values, booleans, timestamps, inferred types). In a block that fails, `badrecords.find_bad` tries
runs of rows: pyarrow names the failing row, the name is checked (else the run is bisected), so a bad value costs a
few conversions of slices about as long as the distance between bad values. Records become file lines through one
forward pass of Python's csv module per file, made only when there is a bad record to report.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from framework.errors import InputError, UsageError
from framework.io.badrecords import BadRecords, find_bad
from framework.io.formats import InputFormat, schema_from_option, schema_to_text
from framework.io.lines import BLOCK_BYTES
from framework.io.normalize import normalize_schema, normalize_types
from framework.io.paths import FileEntry, compression_of, resolve, read_error
from framework.io.splits import Split


@dataclass(frozen=True)
class Csv(InputFormat, name="csv"):
    """Delimited text. `header`: the first line names the columns (if `column_names` is also given, it replaces
    those names). `column_types` fixes some columns' types (others are inferred). `quote_char=None` turns quoting
    off. A row with the wrong number of fields is an InputError naming the file and line. Read with a `BadRecords`,
    such a row, or one with a value that does not convert to its column's type (given, or inferred from the first
    block), is skipped and reported with its file line instead."""

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

    def read(self, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
        if bad is None:
            yield from self._batches(split, schema_only=False)
        else:
            yield from _SkippingRead(self, split, bad).batches()

    def split_schema(self, split: Split) -> pa.Schema | None:
        """The columns from the header (or the names given) and the types inferred from the first block."""
        for schema in self._batches(split, schema_only=True):
            return schema
        return None

    def _batches(self, split: Split, *, schema_only: bool) -> Iterator[Any]:
        bad_rows: list[Any] = []

        def on_invalid_row(row: Any) -> str:
            if schema_only:  # the schema is the header's and the first block's, whatever its bad rows
                return "skip"
            bad_rows.append(row)
            return "error"

        fs, inner = resolve(split.path)
        types = self.column_types
        read_options = self._read_options()
        parse_options = self._parse_options(on_invalid_row)
        convert_options = pacsv.ConvertOptions(column_types=types) if types is not None else None
        try:
            with fs.open_input_stream(inner, compression=compression_of(split.path)) as stream:
                try:
                    reader = pacsv.open_csv(stream, read_options, parse_options, convert_options)
                except pa.ArrowInvalid as e:
                    if "Empty CSV file" in str(e):
                        return
                    if schema_only and _conversion_error(str(e)):
                        # a value of the first block does not convert to its given type (a read that skips bad
                        # records skipped it): the given types, and the others as inferred
                        yield self._fallback_schema(split)
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

    def _read_options(self) -> pacsv.ReadOptions:
        return pacsv.ReadOptions(
            use_threads=False,  # also what makes the parser report row numbers to on_invalid_row
            block_size=BLOCK_BYTES,
            column_names=list(self.column_names) if self.column_names is not None else None,
            autogenerate_column_names=not self.header and self.column_names is None,
            skip_rows=1 if self.header and self.column_names is not None else 0,
        )

    def _parse_options(self, on_invalid_row: Any) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=self.quote_char if self.quote_char is not None else False,
            newlines_in_values=self.quote_char is not None,
            invalid_row_handler=on_invalid_row,
        )

    def _inferred_schema(self, split: Split) -> pa.Schema:
        """The columns and the types pyarrow infers from the first block, ignoring `column_types` and bad rows."""
        fs, inner = resolve(split.path)
        with fs.open_input_stream(inner, compression=compression_of(split.path)) as stream:
            return pacsv.open_csv(stream, self._read_options(), self._parse_options(lambda row: "skip")).schema

    def _fallback_schema(self, split: Split) -> pa.Schema:
        inferred = self._inferred_schema(split)
        given = self.column_types
        if not isinstance(given, pa.Schema):
            return normalize_schema(inferred)
        fields = [given.field(f.name) if given.get_field_index(f.name) >= 0 else f for f in inferred]
        return normalize_schema(pa.schema(fields))

    def _physical_line(self, split: Split, row_number: int | None) -> int | None:
        """The file line where pyarrow's row `row_number` starts (error path only)."""
        if row_number is None:
            return None
        lines = _RecordLines(self, split.path)
        try:
            return lines.line(row_number)
        finally:
            lines.close()


class _RecordLines:
    """The file line on which each of pyarrow's records starts (the skip and error paths only).

    pyarrow counts records, skipping blank lines, and a quoted field may span lines; Python's csv module, set up
    the same way, tells which physical line a record starts on. It reads forward: asking for records in
    increasing order costs one pass over the file (up to the last record asked) however many are asked.
    """

    def __init__(self, fmt: Csv, path: str):
        self._fmt = fmt
        self._path = path
        self._text: io.TextIOWrapper | None = None
        self._reader: Any = None
        self._records = 0  # records read so far
        self._last = 0  # the line the last record read starts on
        self._line_before = 0  # lines read so far
        self._broken = False

    def line(self, record: int) -> int:
        """The line on which record `record` (1-based) starts; the record number itself when that is unknown."""
        if self._broken:
            return record
        if self._reader is None or record < self._records:
            self._open()
            if self._reader is None:
                return record
        if record == self._records:
            return self._last
        try:
            for fields in self._reader:
                start = self._line_before + 1
                self._line_before = self._reader.line_num
                if fields:
                    self._records += 1
                    self._last = start
                    if self._records == record:
                        return start
        except (OSError, csv.Error):
            self._broken = True
        return record

    def _open(self) -> None:
        self.close()
        fs, inner = resolve(self._path)
        fmt = self._fmt
        quoting = {"quotechar": fmt.quote_char} if fmt.quote_char else {"quoting": csv.QUOTE_NONE}
        try:
            stream = fs.open_input_stream(inner, compression=compression_of(self._path))
        except OSError:
            self._broken = True
            return
        self._text = io.TextIOWrapper(io.BufferedReader(stream), encoding="utf-8", errors="replace", newline="")
        self._reader = csv.reader(self._text, delimiter=fmt.delimiter, **quoting)
        self._records = self._last = self._line_before = 0

    def close(self) -> None:
        if self._text is not None:
            try:
                self._text.close()
            except OSError:
                pass
            self._text = self._reader = None


_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?(.*)$", re.S)
_INVALID_VALUE = re.compile(r"CSV conversion error to (.+?): invalid value '(.*)'$", re.S)


def _conversion_error(message: str) -> bool:
    return "CSV conversion error" in message


class _SkippingRead:
    """One read of a CSV file that skips bad records (see the module docstring).

    Record numbers are pyarrow's: records counted from 1 at the file's first (the header, if any), blank lines not
    counted. The rows pyarrow returns are the "valid" rows (right field count); valid row v (0-based) is record
    `base + v` plus the number of invalid records before it, which `record_of` computes from the invalid records'
    numbers. Bad records wait in `pending` until every record before them is known to be good or bad, and are then
    reported in file order.
    """

    def __init__(self, fmt: Csv, split: Split, bad: BadRecords):
        self.fmt = fmt
        self.split = split
        self.path = split.path
        self.bad = bad
        self.base = 2 if fmt.header else 1  # the first data row's record number (a skipped header counts)
        self.invalid: list[int] = []  # record numbers of the rows with a wrong field count, ascending
        self.seen = 0  # the highest record number the row handler was called with
        self.pending: dict[int, str] = {}  # record number -> reason, not yet reported
        self.valid = 0  # valid rows done with (returned, or found bad)
        self.lines = _RecordLines(fmt, split.path)

    # -- record numbers and reporting

    def on_invalid_row(self, row: Any) -> str:
        number = row.number
        if number is None or number <= self.seen:  # None: never with use_threads=False; else a re-read row
            return "skip"
        self.seen = number
        if len(self.pending) < self.bad.room:  # more cannot be reported: the limit ends the job before them
            self.invalid.append(number)
            found = f"expected {row.expected_columns} fields, found {row.actual_columns}: {_clip(row.text)}"
            self.pending[number] = found
        return "skip"

    def record_of(self, valid: np.ndarray) -> np.ndarray:
        """Record numbers of valid rows (0-based indices among the valid rows)."""
        invalid = np.asarray(self.invalid, np.int64)
        valid_before = invalid - self.base - np.arange(len(invalid))  # valid rows before each invalid record
        return self.base + valid + np.searchsorted(valid_before, valid, side="right")

    def flush(self, upto: int | None = None) -> None:
        """Report the pending bad records up to record `upto` (all if None), in order."""
        for number in sorted(n for n in self.pending if upto is None or n <= upto):
            reason = self.pending.pop(number)
            self.bad.skip(self.path, reason, line=self.lines.line(number))

    def flush_done(self) -> None:
        """Report the pending bad records before the last valid row done with."""
        if self.valid:
            self.flush(int(self.record_of(np.array([self.valid - 1]))[0]))

    # -- reading

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._read()
            self.flush()
        except pa.ArrowInvalid as e:
            raise InputError(self.path, _clean(str(e))) from None
        except OSError as e:
            raise read_error(self.path, e) from None
        finally:
            self.lines.close()

    def _open(self, convert_options: pacsv.ConvertOptions | None) -> tuple[Any, Any]:
        fs, inner = resolve(self.path)
        stream = fs.open_input_stream(inner, compression=compression_of(self.path))
        try:
            options = (self.fmt._read_options(), self.fmt._parse_options(self.on_invalid_row), convert_options)
            return stream, pacsv.open_csv(stream, *options)
        except BaseException:
            stream.close()
            raise

    def _read(self) -> Iterator[pa.RecordBatch]:
        """The typed fast path (strict mode's reader, rows with a wrong field count skipped), until a value does
        not convert; then `_read_strings` for the rest of the file."""
        types = self.fmt.column_types
        schema = None
        try:
            stream, reader = self._open(pacsv.ConvertOptions(column_types=types) if types is not None else None)
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e):
                return
            if not _conversion_error(str(e)):
                raise
        else:
            with stream:
                schema = reader.schema
                try:
                    for batch in reader:
                        self.valid += batch.num_rows
                        self.flush_done()
                        if batch.num_rows:
                            yield normalize_types(batch)
                    return
                except pa.ArrowInvalid as e:
                    if not _conversion_error(str(e)):
                        raise
        yield from self._read_strings(schema)

    def _read_strings(self, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
        """The file from its first row not yet done with, read as strings and converted block by block by
        `_convert`. `schema` is the typed reader's (None if the first block failed: the given types then, and the
        types the first block's good rows infer for the other columns)."""
        names = schema.names if schema is not None else self.fmt._inferred_schema(self.split).names
        types: pa.Schema | None = schema if schema is not None else self.fmt.column_types  # type: ignore[assignment]
        strings = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, check_utf8=False)
        done, at = self.valid, 0  # rows the typed reader returned; the string reader's next row
        stream, reader = self._open(strings)
        with stream:
            for batch in reader:
                lo, at = max(0, done - at), at + batch.num_rows
                if lo >= batch.num_rows:
                    continue
                rows = pa.Table.from_batches([batch.slice(lo)])
                table = self._convert_skipping(rows, names, types, at - batch.num_rows + lo)
                self.valid = at
                if table is not None and schema is None:
                    schema = types = table.schema
                self.flush_done()
                if table is not None:
                    for out in normalize_types(table).to_batches():
                        if out.num_rows:
                            yield out

    def _convert_skipping(
        self, strings: pa.Table, names: list[str], types: pa.Schema | None, first: int
    ) -> pa.Table | None:
        """`strings` (valid rows `first`...) converted, without the rows whose values do not convert, which go to
        `pending`; None if no row is left."""
        table, message = _convert(strings, names, types)
        if message is None:
            return table
        pending = np.sort(np.fromiter(self.pending, np.int64, len(self.pending)))
        room = self.bad.room

        def enough(row: int, count: int) -> bool:  # bad records before row: enough of them end the job
            if not count and not len(pending):
                return False
            return count + int(np.searchsorted(pending, self.record_of(np.array([first + row]))[0])) >= room

        found, stopped = find_bad(
            strings.num_rows,
            lambda lo, hi: _convert(strings.slice(lo, hi - lo), names, types)[1],
            _row_hint,
            error=message,
            context=False,
            enough=enough,
        )
        rows = np.array([i for i, _ in found], np.int64)
        for number, (_, why) in zip(self.record_of(first + rows).tolist(), found):
            self.pending[number] = _conversion_reason(why, names)
        if stopped:  # the limit ends the job on one of these, or on an earlier bad record
            self.flush()
            raise InputError(self.path, "more bad records than the limit allows")
        if not found:
            raise InputError(self.path, _clean(message))
        keep = np.ones(strings.num_rows, bool)
        keep[rows] = False
        if not keep.any():
            return None
        table, message = _convert(strings.filter(pa.array(keep)), names, types)
        if message is not None:
            raise InputError(self.path, _clean(message))
        return table


def _convert(strings: pa.Table, names: list[str], types: pa.Schema | None) -> tuple[pa.Table | None, str | None]:
    """String columns converted by pyarrow's CSV converter (written back as CSV and read with `types`, the others
    inferred, all in one block as the typed reader infers a block): the table, or the conversion error."""
    if strings.num_rows == 0:
        return None, None
    sink = pa.BufferOutputStream()
    pacsv.write_csv(strings, sink, pacsv.WriteOptions(include_header=False))  # quotes every string
    data = sink.getvalue()
    read_options = pacsv.ReadOptions(use_threads=False, column_names=names, block_size=max(len(data) + 1, 1 << 16))
    convert_options = pacsv.ConvertOptions(column_types=types) if types is not None else None
    try:  # the streaming reader, as its errors name the row ("Row #N")
        reader = pacsv.open_csv(
            pa.BufferReader(data), read_options, pacsv.ParseOptions(newlines_in_values=True), convert_options
        )
        return reader.read_all(), None
    except pa.ArrowInvalid as e:
        return None, str(e)


_ROW = re.compile(r"Row #(\d+):")


def _row_hint(lo: int, message: str) -> int | None:
    """The row a conversion error of rows from lo names (its "Row #N" counts them from 1)."""
    m = _ROW.search(message)
    return lo + int(m.group(1)) - 1 if m else None


def _conversion_reason(message: str, names: list[str]) -> str:
    """"column 'x': 'abc' is not a valid int64" from pyarrow's conversion error."""
    message = _clean(message)
    m = _CONVERSION.search(message)
    if not m:
        return message
    index, problem = int(m.group(1)), m.group(2)
    column = repr(names[index]) if index < len(names) else f"#{index}"
    v = _INVALID_VALUE.match(problem)
    if v:
        return f"column {column}: {_clip(repr(v.group(2)))} is not a valid {v.group(1)}"
    return f"column {column}: {problem.removeprefix('CSV conversion error to ')}"


def _clean(message: str) -> str:
    return " ".join(message.split())


def _clip(text: str, limit: int = 80) -> str:
    text = _clean(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
