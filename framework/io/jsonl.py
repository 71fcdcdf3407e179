"""`JsonLines`: newline-delimited JSON objects read with pyarrow.json, split by byte ranges like Text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from framework.errors import InputError
from framework.io.formats import InputFormat, schema_from_option, schema_to_text
from framework.io.lines import byte_range_splits, count_newlines_before, ensure_utf8, iter_line_blocks
from framework.io.normalize import normalize_schema, normalize_types
from framework.io.paths import FileEntry
from framework.io.splits import Split

_ROW = re.compile(r"\s*in row (\d+)\s*$")


@dataclass(frozen=True)
class JsonLines(InputFormat, name="jsonl", aliases=("json", "ndjson")):
    """One JSON object per line. Without a `schema` each block's types are inferred (pass one for stable types
    across splits); with one, other fields are ignored. Blank lines are skipped."""

    schema: Any = None  # a pa.Schema, or a mapping of column name to type; see formats.schema_from_option

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema", schema_from_option(self.schema, "JsonLines schema"))

    def options(self) -> dict[str, Any]:
        return {"schema": schema_to_text(self.schema)}

    def output_schema(self) -> pa.Schema | None:
        return normalize_schema(self.schema) if self.schema is not None else None

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        return byte_range_splits(files, target_bytes)

    def read(self, split: Split) -> Iterator[pa.RecordBatch]:
        if self.schema is not None:
            parse_options = pajson.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="ignore")
        else:
            parse_options = pajson.ParseOptions()
        for offset, block in iter_line_blocks(split):
            block = ensure_utf8(block, split.path, offset, hint="JSON text must be UTF-8")
            read_options = pajson.ReadOptions(use_threads=False, block_size=max(len(block), 1 << 16))
            try:
                table = pajson.read_json(pa.BufferReader(block), read_options, parse_options)
            except (pa.ArrowInvalid, UnicodeDecodeError) as e:
                raise _locate(split, offset, block, str(e)) from None
            for batch in normalize_types(table).to_batches():
                if batch.num_rows:
                    yield batch


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
