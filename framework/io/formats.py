"""The `InputFormat` base class and the registry that turns format names and dicts back into formats.

A job declares its input as a format object (`input = Text()`, `inputs = {"left": Parquet()}`); the master calls
`splits()` once, up front, and workers call `read()` on each split. Formats are small frozen dataclasses whose
`to_dict()` is JSON-safe, so they can travel in the job log and be rebuilt with `format_from_dict`; the CLI builds
them with `by_name("csv", delimiter=";")`. `read(split, bad)` with a `BadRecords` skips malformed records instead of
raising on the first one.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa

from framework.errors import UsageError
from framework.io.badrecords import BadRecords
from framework.io.paths import FileEntry, expand_paths
from framework.io.splits import Split

_REGISTRY: dict[str, type[InputFormat]] = {}


class InputFormat:
    """Base of all input formats. Subclasses are frozen dataclasses registered under a name."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, *, name: str = "", aliases: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name:
            cls.name = name
            for key in (name, *aliases):
                _REGISTRY[key] = cls

    def splits(self, paths: str | Sequence[str], target_bytes: int) -> list[Split]:
        """Expand `paths` and cut the files into splits of about `target_bytes` each, validating what is cheap."""
        if target_bytes <= 0:
            raise UsageError(f"the split size must be positive, not {target_bytes}")
        return self.plan(expand_paths(paths), target_bytes)

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        """Cut already expanded files into splits (what `splits` does after expanding the paths)."""
        raise NotImplementedError

    def read(self, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
        """The split's rows as record batches (plain Arrow types, no view types).

        Without `bad` a malformed record raises InputError; with it, malformed records are skipped, each reported
        to `bad.skip` (which raises once more than `bad.limit` are skipped), and the good rows are returned."""
        raise NotImplementedError

    def head(self, split: Split, rows: int, columns: Sequence[str] | None = None) -> pa.RecordBatch | None:
        """About the first `rows` rows of `split` (None when it has none), for sampling at planning time; `columns`
        is a hint: a format that can read only those columns may. Default: the first batch `read` yields, cut."""
        batch = next(iter(self.read(split)), None)
        return None if batch is None else batch.slice(0, rows)

    def output_schema(self) -> pa.Schema | None:
        """The schema of every batch `read` yields, when it is known without reading the files; else None."""
        return None

    def split_schema(self, split: Split) -> pa.Schema | None:
        """The schema of `split`'s batches when it is cheap to learn without reading its rows (a Parquet footer, a
        CSV header), so an empty split can still tell its columns; None when unknown."""
        return self.output_schema()

    def options(self) -> dict[str, Any]:
        """The constructor options, JSON-safe, such that `type(self)(**self.options()) == self`."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.name, **self.options()}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> InputFormat:
        return format_from_dict(d)


def by_name(name: str, **options: Any) -> InputFormat:
    """The format registered as `name` ("text", "csv", "tsv", "jsonl", "parquet", "auto"), built with `options`."""
    if name.lower() == "tsv":
        name = "csv"
        options.setdefault("delimiter", "\t")
    cls = _REGISTRY.get(name.lower())
    if cls is None:
        known = ", ".join(sorted(_REGISTRY))
        raise UsageError(f"unknown input format {name!r} (known formats: {known}, tsv)")
    try:
        return cls(**options)
    except TypeError as e:
        raise UsageError(f"bad options for the {cls.name} format: {e}") from None


def format_from_dict(d: Mapping[str, Any]) -> InputFormat:
    """Inverse of `InputFormat.to_dict`."""
    options = dict(d)
    name = options.pop("format", None)
    if not isinstance(name, str):
        raise UsageError(f"an input format dict needs a 'format' name: {d!r}")
    return by_name(name, **options)


def schema_to_text(schema: pa.Schema | None) -> str | None:
    """A JSON-safe, exact encoding of a schema (Arrow IPC, base64)."""
    if schema is None:
        return None
    return "arrow-schema:" + base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_option(value: Any, what: str) -> pa.Schema | None:
    """A schema from what a user or a log may give: None, a pa.Schema, text from `schema_to_text`, or a mapping
    (or list of pairs) of column name to pa.DataType or a type name such as "int64" or "string"."""
    if value is None or isinstance(value, pa.Schema):
        return value
    if isinstance(value, str) and value.startswith("arrow-schema:"):
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(value[len("arrow-schema:") :])))
    items = value.items() if isinstance(value, Mapping) else value
    try:
        return pa.schema([(str(k), t if isinstance(t, pa.DataType) else pa.type_for_alias(str(t))) for k, t in items])
    except (TypeError, ValueError, KeyError) as e:
        raise UsageError(f"bad {what}: {value!r} ({e})") from None
