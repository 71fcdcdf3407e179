"""Arrow type normalisation: view types become the plain types every kernel accepts.

Files written by Polars or DuckDB often carry `string_view` / `binary_view` / `list_view` columns; some Arrow
kernels (hash joins among them) and writers do not accept them. Every reader passes its output through
`normalize_types`, and other modules may too. Large types (`large_string`, ...) are left as they are.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

T = TypeVar("T", pa.Table, pa.RecordBatch)


def normalize_type(t: pa.DataType) -> pa.DataType:
    """`t` with every view type (also nested in lists, structs, maps, dictionaries) replaced by its plain type."""
    if t == pa.string_view():
        return pa.string()
    if t == pa.binary_view():
        return pa.binary()
    if pa.types.is_list_view(t):
        return pa.list_(_field(t.value_field))
    if pa.types.is_large_list_view(t):
        return pa.large_list(_field(t.value_field))
    if pa.types.is_list(t):
        return pa.list_(_field(t.value_field))
    if pa.types.is_large_list(t):
        return pa.large_list(_field(t.value_field))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(_field(t.value_field), t.list_size)
    if pa.types.is_map(t):
        return pa.map_(_field(t.key_field), _field(t.item_field), t.keys_sorted)
    if pa.types.is_struct(t):
        return pa.struct([_field(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, normalize_type(t.value_type), t.ordered)
    return t


def _field(f: pa.Field) -> pa.Field:
    return f.with_type(normalize_type(f.type))


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with view types replaced; the same object when there are none."""
    if not any(_has_view(t) for t in schema.types):
        return schema
    return pa.schema([_field(f) for f in schema], metadata=schema.metadata)


def _has_view(t: pa.DataType) -> bool:
    if t in _VIEWS or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return True
    if pa.types.is_dictionary(t):
        return _has_view(t.value_type)
    return any(_has_view(t.field(i).type) for i in range(t.num_fields))


_VIEWS = (pa.string_view(), pa.binary_view())


def normalize_types(data: T) -> T:
    """The table or record batch with view types cast to plain ones; returned unchanged (no copy) if it has none."""
    schema = data.schema
    target = normalize_schema(schema)
    if target is schema:
        return data
    if not any(_has_list_view(t) for t in schema.types):
        return data.cast(target)
    # pyarrow's list_view -> list cast builds invalid offsets (pyarrow 26), so those columns are rebuilt by hand.
    columns = []
    for column, field in zip(data.columns, target):
        if not _has_list_view(column.type):
            columns.append(column.cast(field.type))
        elif isinstance(column, pa.ChunkedArray):
            columns.append(pa.chunked_array([_cast_array(c, field.type) for c in column.chunks], field.type))
        else:
            columns.append(_cast_array(column, field.type))
    return type(data).from_arrays(columns, schema=target)


def _has_list_view(t: pa.DataType) -> bool:
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return True
    if pa.types.is_dictionary(t):
        return False
    return any(_has_list_view(t.field(i).type) for i in range(t.num_fields))


def _cast_array(arr: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_list_view(arr.type) or pa.types.is_large_list_view(arr.type):
        large = pa.types.is_large_list_view(arr.type)
        values = _cast_array(pc.list_flatten(arr), target.value_type)
        lengths = pc.fill_null(arr.value_lengths(), 0).to_numpy(zero_copy_only=False)
        offsets = np.zeros(len(arr) + 1, np.int64 if large else np.int32)
        np.cumsum(lengths, out=offsets[1:])
        cls = pa.LargeListArray if large else pa.ListArray
        mask = arr.is_null() if arr.null_count else None
        return cls.from_arrays(pa.array(offsets), values, type=target, mask=mask)
    if pa.types.is_struct(arr.type) and _has_list_view(arr.type):
        children = [_cast_array(c, target.field(i).type) for i, c in enumerate(arr.flatten())]
        mask = arr.is_null() if arr.null_count else None
        return pa.StructArray.from_arrays(children, fields=list(target), mask=mask)
    return arr.cast(target)
