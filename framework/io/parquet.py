"""`Parquet`: Parquet files split by row groups, with the files' schemas checked against each other up front."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from framework.errors import InputError, UsageError
from framework.io.badrecords import BadRecords
from framework.io.formats import InputFormat
from framework.io.normalize import normalize_schema, normalize_type, normalize_types
from framework.io.paths import FileEntry, resolve, read_error
from framework.io.splits import Split

BATCH_BYTES = 32 << 20  # aim for record batches of about this many (uncompressed) bytes


@dataclass(frozen=True)
class Parquet(InputFormat, name="parquet", aliases=("pq",)):
    """Parquet files. `columns` projects at read time (and must exist in every file). A split is a run of
    consecutive row groups of one file, grouped up to the target size by the metadata's uncompressed sizes."""

    columns: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.columns is not None:
            if isinstance(self.columns, str):
                raise UsageError("Parquet columns must be a list of names, not one string")
            object.__setattr__(self, "columns", tuple(str(c) for c in self.columns))

    def options(self) -> dict[str, Any]:
        return {"columns": list(self.columns) if self.columns is not None else None}

    def plan(self, files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
        out: list[Split] = []
        first: tuple[str, pa.Schema] | None = None
        for f in files:
            meta, file_schema = _metadata(f.path)
            schema = self._projected(f.path, file_schema)
            if first is None:
                first = (f.path, schema)
            else:
                _check_compatible(first, (f.path, schema))
            out.extend(_group_row_groups(f.path, meta, target_bytes, self.columns))
        return out

    def read(self, split: Split, bad: BadRecords | None = None) -> Iterator[pa.RecordBatch]:
        # `bad` is accepted and unused: Parquet has no malformed records to skip (a damaged file is an InputError).
        fs, inner = resolve(split.path)
        try:
            with fs.open_input_file(inner) as f:
                pf = pq.ParquetFile(f)
                meta = pf.metadata
                groups = list(split.row_groups) if split.row_groups else list(range(meta.num_row_groups))
                if not groups:
                    return
                columns = list(self.columns) if self.columns is not None else None
                if columns is not None:
                    self._projected(split.path, pf.schema_arrow)
                rows = sum(meta.row_group(g).num_rows for g in groups)
                size = sum(meta.row_group(g).total_byte_size for g in groups)
                batch_rows = max(1024, rows * BATCH_BYTES // max(size, 1))
                for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns):
                    if batch.num_rows:
                        yield normalize_types(batch)
        except (pa.ArrowInvalid, OSError) as e:
            raise _input_error(split.path, e) from None

    def head(self, split: Split, rows: int, columns: Sequence[str] | None = None) -> pa.RecordBatch | None:
        """The first `rows` rows of the split's first row group, decoding only `columns` (of those read) when given."""
        read = list(self.columns) if self.columns is not None else None
        if columns is not None:
            read = [c for c in (read or columns) if c in columns]
        fs, inner = resolve(split.path)
        try:
            with fs.open_input_file(inner) as f:
                pf = pq.ParquetFile(f)
                if pf.metadata.num_row_groups == 0:
                    return None
                group = split.row_groups[0] if split.row_groups else 0
                batch = next(pf.iter_batches(batch_size=rows, row_groups=[group], columns=read), None)
        except (pa.ArrowInvalid, OSError) as e:
            raise _input_error(split.path, e) from None
        return None if batch is None else normalize_types(batch)

    def split_schema(self, split: Split) -> pa.Schema:
        return normalize_schema(self._projected(split.path, _metadata(split.path)[1]))

    def _projected(self, path: str, schema: pa.Schema) -> pa.Schema:
        if self.columns is None:
            return schema
        missing = [c for c in self.columns if schema.get_field_index(c) < 0]
        if missing:
            raise InputError(path, f"no column {missing[0]!r} (the file has: {', '.join(schema.names)})")
        return pa.schema([schema.field(c) for c in self.columns])


def _metadata(path: str) -> tuple[pq.FileMetaData, pa.Schema]:
    fs, inner = resolve(path)
    try:
        with fs.open_input_file(inner) as f:
            pf = pq.ParquetFile(f)
            return pf.metadata, pf.schema_arrow
    except (pa.ArrowInvalid, OSError) as e:
        raise _input_error(path, e) from None


def _input_error(path: str, e: Exception) -> InputError:
    if isinstance(e, pa.ArrowInvalid):
        return InputError(path, f"not a readable Parquet file: {' '.join(str(e).split())}")
    return read_error(path, e)


def _group_row_groups(path: str, meta: pq.FileMetaData, target_bytes: int,
                      columns: Sequence[str] | None = None) -> list[Split]:
    """Splits of consecutive row groups up to `target_bytes`, sized by the uncompressed bytes of the columns read
    (all of them, or `columns`): what a task will hold, and what planning compares with the broadcast limit."""
    if meta.num_row_groups == 0:
        return [Split(path, size=0)]
    out: list[Split] = []
    group: list[int] = []
    size = 0
    wanted = None if columns is None else set(columns)
    owners = _leaf_owners(meta) if wanted is not None else []
    for g in range(meta.num_row_groups):
        row_group = meta.row_group(g)
        if wanted is None:
            g_size = row_group.total_byte_size
        else:
            g_size = sum(row_group.column(c).total_uncompressed_size for c in range(row_group.num_columns)
                         if owners[c] in wanted)
        if group and size + g_size > target_bytes:
            out.append(Split(path, row_groups=tuple(group), size=size))
            group, size = [], 0
        group.append(g)
        size += g_size
    out.append(Split(path, row_groups=tuple(group), size=size))
    return out


def _leaf_owners(meta: pq.FileMetaData) -> list[str]:
    """The top-level column each of the file's leaf columns belongs to (a name may itself contain dots)."""
    owners: list[str] = []
    for field in meta.schema.to_arrow_schema():
        owners += [field.name] * _leaves(field.type)
    if len(owners) != meta.num_columns:  # a layout this does not follow: fall back to the path's first part
        return [meta.row_group(0).column(c).path_in_schema.split(".")[0] for c in range(meta.num_columns)]
    return owners


def _leaves(t: pa.DataType) -> int:
    if pa.types.is_struct(t):
        return sum(_leaves(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _leaves(t.key_type) + _leaves(t.item_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _leaves(t.value_type)
    return 1


def _comparable(t: pa.DataType) -> pa.DataType:
    """Types that read back into the same Arrow type after normalisation (string / large_string / string_view)."""
    t = normalize_type(t)
    if t == pa.large_string():
        return pa.string()
    if t == pa.large_binary():
        return pa.binary()
    return t


def _check_compatible(first: tuple[str, pa.Schema], other: tuple[str, pa.Schema]) -> None:
    (a_path, a), (b_path, b) = first, other
    for field in a:
        i = b.get_field_index(field.name)
        if i < 0:
            raise InputError(b_path, f"column {field.name!r} is missing, but {a_path} has it: schemas differ")
        ta, tb = _comparable(field.type), _comparable(b.field(i).type)
        if ta != tb and not (pa.types.is_null(ta) or pa.types.is_null(tb)):
            raise InputError(
                b_path,
                f"column {field.name!r} is {b.field(i).type} here but {field.type} in {a_path}: schemas differ",
            )
    for field in b:
        if a.get_field_index(field.name) < 0:
            raise InputError(b_path, f"column {field.name!r} is not in {a_path}: schemas differ")
