"""`JsonLines`: newline-delimited JSON objects read with pyarrow.json, split by byte ranges like Text.

Skip mode (`read(split, bad)`): a block is parsed once, as in strict mode, and its rows checked against its
newline count (pyarrow reads JSON values, not lines: an object over two lines or two objects on one line parse, but
here a record is a line); only a block that fails either goes to `_skip_bad_lines`. That blanks the block's invalid
UTF-8 lines (a whitespace line is no row, and blanking keeps every byte and line number where it was), then finds
the lines that do not parse with `badrecords.find_bad`: runs of lines parsed as zero-copy slices, pyarrow's
"in row N" (checked) naming the failing line, else bisection; that is a few parses per bad line, never a Python
loop over good lines. The bad lines are blanked and the block parsed once more. Without a schema that last parse can
still fail on a value whose type conflicts with earlier lines' (a line that parses alone but not after the others):
the first such line is found the same way and blanked too.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from framework.errors import InputError
from framework.io.badrecords import BadRecords, find_bad, first_bad
from framework.io.formats import InputFormat, schema_from_option, schema_to_text
from framework.io.lines import (
    LineCounter,
    byte_range_splits,
    count_newlines_before,
    ensure_utf8,
    invalid_utf8_lines,
    is_utf8,
    iter_line_blocks,
    newline_positions,
)
from framework.io.normalize import normalize_schema, normalize_types
from framework.io.paths import FileEntry
from framework.io.splits import Split

_ROW = re.compile(r"\s*in row (\d+)\s*$")


@dataclass(frozen=True)
class JsonLines(InputFormat, name="jsonl", aliases=("json", "ndjson")):
    """One JSON object per line. Without a `schema` each block's types are inferred (pass one for stable types
    across splits); with one, other fields are ignored. Blank lines are skipped. Read with a `BadRecords`, a line
    that is not UTF-8, not one JSON object, or holds a value that does not convert (to the schema's type, or without
    one, to the type earlier lines of its block gave the field) is skipped and reported with its file line instead."""

    schema: Any = None  # a pa.Schema, or a mapping of column name to type; see formats.schema_from_option

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema", schema_from_option(self.schema, "JsonLines schema"))

    def options(self) -> dict[str, Any]:
        return {"schema": schema_to_text(self.schema)}

    def output_schema(self) -> pa.Schema | None:
        return normalize_schema(self.schema) if self.schema is not None else None

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        return byte_range_splits(files, target_bytes)

    def read(self, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
        if self.schema is not None:
            parse_options = pajson.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="ignore")
        else:
            parse_options = pajson.ParseOptions()
        lines = LineCounter(split) if bad is not None else None
        try:
            for offset, block in iter_line_blocks(split):
                if bad is None:
                    block = ensure_utf8(block, split.path, offset, hint="JSON text must be UTF-8")
                    try:
                        table = _parse(block, parse_options)
                    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
                        raise _locate(split, offset, block, str(e)) from None
                else:
                    assert lines is not None
                    table, error, utf8 = None, None, is_utf8(block)
                    if utf8:
                        try:
                            table = _parse(block, parse_options)
                        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
                            error = str(e)
                        if table is not None and not _one_row_per_line(block, table.num_rows):
                            table = None  # an object over two lines, or two on a line: each line is a record here
                    if table is None:
                        table = _skip_bad_lines(split, offset, block, parse_options, bad, lines, utf8, error)
                for batch in normalize_types(table).to_batches():
                    if batch.num_rows:
                        yield batch
        finally:
            if lines is not None:
                lines.close()


_WS = np.zeros(256, bool)  # JSON whitespace (a line of only these is no row), as a lookup table by byte
_WS[[9, 10, 13, 32]] = True


def _parse(buf: pa.Buffer, parse_options: pajson.ParseOptions) -> pa.Table:
    """pyarrow.json over `buf`, as one block.

    pyarrow (up to 26 at least) crashes the process when the first value of its input is `null` (a null line
    anywhere else is a row of nulls); such input is parsed behind an empty object line, which is dropped again,
    and row numbers in an error are those of `buf`.
    """
    read_options = pajson.ReadOptions(use_threads=False, block_size=max(len(buf), 1 << 16))
    if not _leads_with_null(buf):
        return pajson.read_json(pa.BufferReader(buf), read_options, parse_options)
    padded = pa.py_buffer(b"{}\n" + buf.to_pybytes())
    read_options = pajson.ReadOptions(use_threads=False, block_size=max(len(padded), 1 << 16))
    try:
        table = pajson.read_json(pa.BufferReader(padded), read_options, parse_options)
    except pa.ArrowInvalid as e:
        message = str(e)
        m = _ROW.search(message)
        if m and int(m.group(1)) > 0:
            message = f"{message[: m.start()]} in row {int(m.group(1)) - 1}"
        raise pa.ArrowInvalid(message) from None
    return table.slice(1, table.num_rows - 1)  # with a length: a table without columns ignores a bare offset


def _leads_with_null(buf: pa.Buffer) -> bool:
    """Whether the first non-whitespace bytes of `buf` are `null` (looks at as few bytes as it can)."""
    lo, width = 0, 256
    while lo < len(buf):
        head = buf[lo : lo + width].to_pybytes()
        rest = head.lstrip(b" \t\r\n")
        if rest:
            start = lo + len(head) - len(rest)
            return buf[start : start + 4].to_pybytes() == b"null"
        lo, width = lo + width, width * 16
    return False


def _skip_bad_lines(
    split: Split,
    offset: int,
    block: pa.Buffer,
    parse_options: pajson.ParseOptions,
    bad: BadRecords,
    lines: LineCounter,
    utf8: bool,
    error: str | None,
) -> pa.Table:
    """The good rows of a block that is not valid UTF-8 (`utf8` False) or does not parse as one object per line
    (`error`: pyarrow's parse error, if that is how), its bad lines reported to `bad` in file order (the slow path;
    see the module docstring).

    No more lines are looked for than can still be skipped: once `bad.room` bad lines are known, everything before
    the last of them has been examined (so the one that ends the job is the first in file order past the limit),
    and nothing after it is parsed."""
    a = np.frombuffer(block, np.uint8)
    n = len(a)
    newlines = newline_positions(block)
    starts = np.concatenate(([0], newlines + 1))
    if starts[-1] == n:  # no line after a final newline
        starts = starts[:-1]
    bounds = np.append(starts, n).tolist()  # line i is [bounds[i], bounds[i + 1])
    nlines = len(bounds) - 1
    room = bad.room
    found: dict[int, tuple[str, int | None]] = {}  # line index in the block -> (reason, absolute offset or None)
    data = a.copy()  # the block with its bad lines blanked
    solid = [np.zeros(0, np.int64)]  # the non-blank lines (pyarrow's rows), redone when lines are blanked

    def blank(i: int) -> None:
        lo, hi = bounds[i], bounds[i + 1]
        data[lo:hi] = 32
        if a[hi - 1] == 10:
            data[hi - 1] = 10

    def attempt(lo: int, hi: int) -> tuple[pa.Table | None, str | None]:
        """Lines [lo, hi) (bad lines blanked) parsed, or their parse error. pyarrow reads JSON values, not lines
        (an object may span lines, a line may hold two): here each non-blank line must be one row."""
        try:
            table = _parse(pa.py_buffer(data[bounds[lo] : bounds[hi]]), parse_options)
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            return None, str(e)
        rows = solid[0]
        if table.num_rows != int(np.searchsorted(rows, hi)) - int(np.searchsorted(rows, lo)):
            return None, "not one JSON object per line"
        return table, None

    def failure(lo: int, hi: int) -> str | None:
        return attempt(lo, hi)[1]

    # 1. Lines that are not UTF-8: Python's decoder from one bad byte to the next; they are blanked.
    not_utf8 = [] if utf8 else invalid_utf8_lines(block, newlines, most=room)
    for b in not_utf8:
        found[b.index] = (b.reason, offset + b.pos)
        blank(b.index)
    horizon = not_utf8[-1].index + 1 if len(not_utf8) >= room else nlines  # past the limit after that line
    utf8_at = [b.index for b in not_utf8]
    blank_line = _blank_lines(data, bounds)
    solid[0] = np.flatnonzero(~blank_line)

    def hint(lo: int, message: str) -> int | None:
        """The line of pyarrow's "in row N" for a parse of lines from lo."""
        m = _ROW.search(" ".join(message.split()))
        if not m:
            return None
        rows = solid[0]
        k = int(np.searchsorted(rows, lo)) + int(m.group(1))
        return int(rows[k]) if k < len(rows) else None

    def blank_bad(i: int) -> None:
        blank(i)
        blank_line[i] = True

    # 2. Lines that do not parse alone, left to right (pyarrow's row hints, checked; else bisection).
    if horizon:
        bad_lines, _ = find_bad(
            horizon,
            failure,
            hint,
            error=error if horizon == nlines else None,
            context=True,
            enough=lambda row, count: count + bisect_left(utf8_at, row) >= room,
        )
        for i, message in bad_lines:
            found[i] = (_reason(message), None)
            blank_bad(i)
        solid[0] = np.flatnonzero(~blank_line)

    # 3. The block (up to the line that ends the job, if one is known) parsed once more. Every line left parses
    # alone, so a failure now is a value whose type conflicts with earlier lines': the first line at which the
    # lines from the block's start stop parsing is bad.
    table = None
    while True:
        tipping = sorted(found)[room - 1] if len(found) >= room else None
        end = nlines if tipping is None else tipping
        if end == 0:
            break
        parsed, message = attempt(0, end)
        if message is None:
            table = parsed if tipping is None else None
            break
        i, _, message = first_bad(0, end, message, failure, hint, context=True)
        found[i] = (_reason(message), None)
        blank_bad(i)
        solid[0] = np.flatnonzero(~blank_line)
    if found:
        before = lines.at(offset, len(newlines), n)
        for i in sorted(found):
            reason, at = found[i]
            bad.skip(split.path, reason, line=before + i + 1, offset=at)
    if table is None:  # only when the limit ended the job above
        raise InputError(split.path, "more bad records than the limit allows")
    return table


def _one_row_per_line(block: pa.Buffer, rows: int) -> bool:
    """Whether a block that parsed into `rows` rows has exactly one per non-blank line (a newline count; the blank
    lines are looked for only when the counts differ). A line of two values and an object over two lines in the
    same block would cancel out: that is not told apart."""
    a = np.frombuffer(block, np.uint8)
    lines = int(np.count_nonzero(a == 10)) + (1 if len(a) and a[-1] != 10 else 0)
    if rows >= lines:
        return rows == lines
    starts = np.concatenate(([0], np.flatnonzero(a == 10) + 1))
    if starts[-1] == len(a):
        starts = starts[:-1]
    return rows == lines - int(np.count_nonzero(_blank_lines(a, [*starts.tolist(), len(a)])))


def _blank_lines(data: np.ndarray, bounds: list[int]) -> np.ndarray:
    """Which lines of `data` are whitespace only (vectorised; every line has at least one byte)."""
    if len(bounds) < 2:
        return np.zeros(0, bool)
    return ~np.logical_or.reduceat(~_WS[data], np.asarray(bounds[:-1], np.int64))


def _reason(message: str) -> str:
    message = " ".join(message.split())
    m = _ROW.search(message)
    if m:
        message = message[: m.start()]
    return "malformed JSON: " + message.removeprefix("JSON parse error: ")


def _locate(split: Split, offset: int, block: pa.Buffer, message: str) -> InputError:
    """An InputError for a JSON parse failure, with the file's line number when it can be found (error path)."""
    message = " ".join(message.split())
    lines = block.to_pybytes().split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    index = None
    m = _ROW.search(message)
    if m:
        # pyarrow counts JSON objects in the block, skipping blank lines.
        message = message[: m.start()]
        row = int(m.group(1))
        nonblank = [i for i, line in enumerate(lines) if line.strip()]
        if row < len(nonblank):
            index = nonblank[row]
    if index is None:
        index = _first_bad_line(lines)
    message = message.removeprefix("JSON parse error: ")
    if index is None:
        return InputError(split.path, f"malformed JSON: {message}")
    line = count_newlines_before(split, offset) + index + 1
    return InputError(split.path, f"malformed JSON: {message}", line=line)


def _first_bad_line(lines: list[bytes]) -> int | None:
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            return i
        if not isinstance(value, dict):
            return i
    return None
