"""Csv, JsonLines, Parquet and Auto input, view-type normalisation, and the format/split dict round trips.

Oracles: Python's csv and json modules, pyarrow.parquet reading whole files, DuckDB/Polars-written files."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from framework.errors import InputError, UsageError
from framework.io import (
    Auto,
    Csv,
    JsonLines,
    Parquet,
    Split,
    Text,
    by_name,
    format_for_path,
    format_from_dict,
    normalize_types,
)
from framework.io import lines as lines_mod


def read_table(fmt, paths, target=1 << 30) -> pa.Table:
    batches = [b for s in fmt.splits(paths, target) for b in fmt.read(s)]
    return pa.Table.from_batches(batches) if batches else pa.table({})


# ---------------------------------------------------------------- CSV


def test_csv_matches_python_csv(tmp_path):
    rows = [["id", "name", "score"]] + [
        [str(i), f'n{i}, "q"\nline2' if i % 5 == 0 else f"n{i}", f"{i / 4}"] for i in range(200)
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path = tmp_path / "a.csv"
    path.write_text(buf.getvalue())
    table = read_table(Csv(), str(path))
    assert table.column_names == rows[0]
    got = [[str(r["id"]), r["name"], str(r["score"])] for r in table.to_pylist()]
    assert got == [[r[0], r[1], str(float(r[2]))] for r in rows[1:]]


def test_csv_options_tsv_no_header_names_types(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("1\tx\n2\ty\n")
    table = read_table(
        Csv(delimiter="\t", header=False, column_names=["k", "v"], column_types={"k": "string"}), str(path)
    )
    assert table.to_pylist() == [{"k": "1", "v": "x"}, {"k": "2", "v": "y"}]
    auto = read_table(Csv(delimiter="\t", header=False), str(path))
    assert auto.column_names == ["f0", "f1"] and auto.num_rows == 2
    # header line present but replaced by explicit names
    path2 = tmp_path / "h.csv"
    path2.write_text("a,b\n1,2\n")
    assert read_table(Csv(column_names=["x", "y"]), str(path2)).to_pylist() == [{"x": 1, "y": 2}]


def test_csv_wrong_field_count_names_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4\n5,6,7\n8,9\n")
    with pytest.raises(InputError) as info:
        read_table(Csv(), str(path))
    err = info.value
    assert err.line == 4 and err.path == str(path)
    assert "expected 2 fields, found 3" in str(err) and str(path) in str(err) and "line 4" in str(err)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_csv_line_number_counts_blank_lines_and_quoted_newlines(tmp_path, suffix):
    data = b'a,b\n1,"x\n\ny"\n\n\n3,4\n5\n'  # the bad row "5" is on line 8, pyarrow's record 4
    path = tmp_path / f"q.csv{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(InputError) as info:
        read_table(Csv(), str(path))
    assert info.value.line == 8


def test_csv_wrong_field_count_deep_in_a_big_file(tmp_path, monkeypatch):
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 1 << 12)  # Csv reads in blocks of this size too
    import framework.io.delimited as delimited

    monkeypatch.setattr(delimited, "BLOCK_BYTES", 1 << 12)
    path = tmp_path / "big.csv"
    path.write_text("a,b\n" + "1,2\n" * 5000 + "3\n")
    with pytest.raises(InputError) as info:
        read_table(Csv(), str(path))
    assert info.value.line == 5002 and "found 1" in str(info.value)


def test_csv_gzip_and_empty_files(tmp_path):
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(b"x,y\n1,2\n3,4\n"))
    assert read_table(Csv(), str(tmp_path / "a.csv.gz")).to_pylist() == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header_only.csv").write_bytes(b"x,y\n")
    assert read_table(Csv(), [str(tmp_path / "empty.csv"), str(tmp_path / "header_only.csv")]).num_rows == 0


def test_csv_type_conflict_is_an_input_error(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("a\n1\nnot a number\n")
    with pytest.raises(InputError, match=str(path)):
        read_table(Csv(column_types={"a": pa.int64()}), str(path))


def test_csv_options_round_trip():
    fmt = Csv(
        delimiter=";",
        header=False,
        column_names=["a", "b"],
        column_types={"a": pa.int32(), "b": "string"},
        quote_char=None,
    )
    d = fmt.to_dict()
    assert json.loads(json.dumps(d)) == d
    again = format_from_dict(d)
    assert again == fmt and again.column_types == pa.schema([("a", pa.int32()), ("b", pa.string())])
    assert by_name("tsv") == Csv(delimiter="\t")
    with pytest.raises(UsageError):
        Csv(delimiter=";;")


# ---------------------------------------------------------------- JSON lines


def _jsonl_rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": i, "word": rng.choice(["a", "é€", "日本", "x\ny"]), "v": rng.random()} for i in range(n)]


def test_jsonl_split_by_byte_ranges_matches_json_module(tmp_path):
    rows = _jsonl_rows(120)
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
    path = tmp_path / "a.jsonl"
    path.write_text(text)
    size = len(text.encode())
    for target in (3, 37, 500, 4096, size):
        fmt = JsonLines()
        splits = fmt.splits(str(path), target)
        assert len(splits) == -(-size // target) if target < size else len(splits) == 1
        assert read_table(fmt, str(path), target).to_pylist() == rows, f"target {target}"


def test_jsonl_crlf_blank_lines_and_schema(tmp_path):
    path = tmp_path / "b.ndjson"
    path.write_bytes(b'{"a": 1, "b": "x", "extra": true}\r\n\r\n{"a": 2, "b": null}\r\n')
    fmt = JsonLines(schema={"a": "int32", "b": pa.string()})
    table = read_table(fmt, str(path))
    assert table.schema == pa.schema([("a", pa.int32()), ("b", pa.string())])
    assert table.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert format_from_dict(json.loads(json.dumps(fmt.to_dict()))) == fmt
    assert fmt.output_schema() == table.schema


@pytest.mark.parametrize(
    "bad_line",
    ['{"a": }', '{"a": 1', "not json", '{"a": "string where a number was"}'],
)
def test_jsonl_malformed_line_number(tmp_path, monkeypatch, bad_line):
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 64)
    good = ['{"a": 1}'] * 40
    good[3] = ""  # blank lines count as lines but not as rows
    lines = good[:25] + [bad_line] + good[25:]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_table(JsonLines(), str(path), target=100)
    assert info.value.line == 26 and info.value.path == str(path)
    assert "line 26" in str(info.value) and "\n" not in str(info.value)


def test_jsonl_invalid_utf8_and_gzip(tmp_path):
    path = tmp_path / "u.jsonl"
    data = b'{"a": "ok"}\n{"a": "\xff"}\n'
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_table(JsonLines(), str(path))
    assert info.value.offset == data.index(b"\xff")
    gz = tmp_path / "g.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}'))
    assert len(JsonLines().splits(str(gz), 1)) == 1
    assert read_table(JsonLines(), str(gz)).to_pylist() == [{"a": 1}, {"a": 2}]


# ---------------------------------------------------------------- Parquet


def _write_parquet(path, n: int, row_group_size: int, **extra) -> pa.Table:
    table = pa.table({"id": pa.array(range(n), pa.int64()), "s": pa.array([f"v{i}" for i in range(n)]), **extra})
    pq.write_table(table, path, row_group_size=row_group_size)
    return table


def test_parquet_split_by_row_groups_covers_all_rows_once(tmp_path):
    a = _write_parquet(tmp_path / "a.parquet", 1000, 100)
    b = _write_parquet(tmp_path / "b.parquet", 250, 100)
    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata
    sizes = [meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)]
    target = sum(sizes[:3])
    fmt = Parquet()
    splits = fmt.splits(str(tmp_path), target)
    a_groups = [s.row_groups for s in splits if s.path.endswith("a.parquet")]
    assert [g for groups in a_groups for g in groups] == list(range(10))  # consecutive, each group once
    assert a_groups[0] == (0, 1, 2) and splits[0].describe().endswith("a.parquet row groups 0-2")
    for s in splits:
        assert s.size <= target or len(s.row_groups) == 1
    assert sum(s.size for s in splits if s.path.endswith("a.parquet")) == sum(sizes)
    got = read_table(fmt, str(tmp_path), target)
    assert got.equals(pa.concat_tables([a, b]))
    one_each = fmt.splits(str(tmp_path), 1)
    assert len(one_each) == 13 and read_table(fmt, str(tmp_path), 1).equals(got)


def test_parquet_columns_projection(tmp_path):
    _write_parquet(tmp_path / "a.parquet", 10, 5)
    got = read_table(Parquet(columns=["s"]), str(tmp_path / "a.parquet"))
    assert got.column_names == ["s"] and got.num_rows == 10
    with pytest.raises(InputError, match="no column 'zz'"):
        Parquet(columns=["zz"]).splits(str(tmp_path / "a.parquet"), 1 << 20)
    assert format_from_dict(Parquet(columns=["s"]).to_dict()) == Parquet(columns=["s"])


def test_parquet_schema_mismatch_names_both_files_and_the_column(tmp_path):
    _write_parquet(tmp_path / "a.parquet", 10, 5)
    pq.write_table(pa.table({"id": pa.array(["x"]), "s": ["y"]}), tmp_path / "b.parquet")
    with pytest.raises(InputError) as info:
        Parquet().splits(str(tmp_path), 1 << 20)
    message = str(info.value)
    assert "a.parquet" in message and "b.parquet" in message and "'id'" in message
    pq.write_table(pa.table({"id": pa.array([1])}), tmp_path / "b.parquet")
    with pytest.raises(InputError, match="'s'"):
        Parquet().splits(str(tmp_path), 1 << 20)
    # only the projected columns need to agree
    assert Parquet(columns=["id"]).splits(str(tmp_path), 1 << 20)


def test_parquet_not_parquet(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"definitely not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        Parquet().splits(str(tmp_path / "x.parquet"), 1 << 20)


def test_view_types_from_polars_and_duckdb_are_normalised(tmp_path):
    pl.DataFrame({"k": ["a", "b", None], "v": [1, 2, 3], "l": [["x"], [], None]}).write_parquet(tmp_path / "p.parquet")
    sv = pa.table({"k": pa.array(["a", "b"], pa.string_view()), "b": pa.array([b"\x00", b"y"], pa.binary_view())})
    pq.write_table(sv, tmp_path / "sv.parquet")
    assert pq.read_table(tmp_path / "sv.parquet").schema.field("k").type == pa.string_view()  # the input has views
    got = read_table(Parquet(), str(tmp_path / "sv.parquet"))
    assert got.schema == pa.schema([("k", pa.string()), ("b", pa.binary())])
    assert got.to_pylist() == sv.to_pylist()
    got = read_table(Parquet(), str(tmp_path / "p.parquet"))
    assert not any("view" in str(t) for t in got.schema.types)
    assert got.column("k").to_pylist() == ["a", "b", None]
    duckdb = pytest.importorskip("duckdb")
    duck = duckdb.sql("select 'x' as s, [1, 2] as l").arrow()
    duck = duck.read_all() if hasattr(duck, "read_all") else duck
    assert not any("view" in str(t) for t in normalize_types(duck).schema.types)


def test_normalize_nested_views_and_identity():
    t = pa.table(
        {
            "s": pa.array(["a"], pa.string_view()),
            "st": pa.array([{"x": "y"}], pa.struct([("x", pa.string_view())])),
            "l": pa.array([["a"]], pa.list_(pa.string_view())),
            "lv": pa.array([[1, 2]], pa.list_view(pa.int64())),
        }
    )
    n = normalize_types(t)
    n.validate(full=True)
    assert n.schema == pa.schema(
        [
            ("s", pa.string()),
            ("st", pa.struct([("x", pa.string())])),
            ("l", pa.list_(pa.string())),
            ("lv", pa.list_(pa.int64())),
        ]
    )
    assert n.to_pylist() == t.to_pylist()
    plain = pa.table({"a": [1]})
    assert normalize_types(plain) is plain
    assert normalize_types(t.to_batches()[0]).schema == n.schema


# ---------------------------------------------------------------- Auto and dicts


def test_auto_picks_format_by_extension(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.tsv").write_text("x\ty\n1\t2\n")
    (tmp_path / "c.jsonl").write_text('{"x": 1}\n')
    _write_parquet(tmp_path / "d.parquet", 3, 2)
    (tmp_path / "e.txt").write_text("hello\n")
    (tmp_path / "f.gz").write_bytes(gzip.compress(b"zipped\n"))
    (tmp_path / "g.csv.gz").write_bytes(gzip.compress(b"x\n5\n"))
    assert format_for_path("a.csv") == Csv() and format_for_path("b.TSV") == Csv(delimiter="\t")
    assert format_for_path("c.ndjson") == JsonLines() and format_for_path("d.pq") == Parquet()
    assert format_for_path("e.log") == Text() and format_for_path("f.gz") == Text()
    assert format_for_path("g.csv.gz") == Csv() and format_for_path("s3://b/x.parquet?region=y") == Parquet()
    fmt = Auto()
    splits = fmt.splits(str(tmp_path), 1 << 20)
    assert [s.path.rsplit("/", 1)[1] for s in splits] == [
        "a.csv",
        "b.tsv",
        "c.jsonl",
        "d.parquet",
        "e.txt",
        "f.gz",
        "g.csv.gz",
    ]
    counts = {s.path.rsplit("/", 1)[1]: sum(b.num_rows for b in fmt.read(s)) for s in splits}
    assert counts == {"a.csv": 1, "b.tsv": 1, "c.jsonl": 1, "d.parquet": 3, "e.txt": 1, "f.gz": 1, "g.csv.gz": 1}
    assert [r for s in splits[-1:] for b in fmt.read(s) for r in b.to_pylist()] == [{"x": 5}]
    assert format_from_dict(Auto().to_dict()) == Auto()


def test_split_dict_round_trip():
    for s in (Split("s3://b/k.txt", 10, 20, size=10), Split("/x.parquet", row_groups=(2, 3), size=99), Split("/a")):
        d = s.to_dict()
        assert json.loads(json.dumps(d)) == d and Split.from_dict(d) == s
    assert Split("/x.parquet", row_groups=(4,)).describe() == "/x.parquet row group 4"
    assert Split("/a.txt", 0, 67108864).describe() == "/a.txt bytes 0-67108864"
    assert Split("/a.gz").describe() == "/a.gz"


def test_split_schema_tells_the_columns_of_empty_inputs(tmp_path):
    (tmp_path / "header_only.csv").write_text("a,b\n")
    (tmp_path / "rows.csv").write_text("a,b\n1,x\n")
    (tmp_path / "empty.csv").write_text("")
    empty = pa.table({"s": pa.array([], pa.string_view()), "n": pa.array([], pa.int64())})
    pq.write_table(empty, tmp_path / "empty.parquet")
    schema = Auto().split_schema
    assert schema(Split(str(tmp_path / "header_only.csv"))).names == ["a", "b"]
    assert schema(Split(str(tmp_path / "rows.csv"))) == pa.schema([("a", pa.int64()), ("b", pa.string())])
    assert schema(Split(str(tmp_path / "empty.csv"))) is None
    assert schema(Split(str(tmp_path / "empty.parquet"))) == pa.schema([("s", pa.string()), ("n", pa.int64())])
    assert Parquet(columns=["n"]).split_schema(Split(str(tmp_path / "empty.parquet"))).names == ["n"]
    assert list(Parquet().read(Parquet().splits(str(tmp_path / "empty.parquet"), 100)[0])) == []
    assert Text(column="x").split_schema(Split("/any")) == pa.schema([("x", pa.string())])
    assert JsonLines().split_schema(Split("/any")) is None
    assert JsonLines(schema={"a": "int64"}).split_schema(Split("/any")) == pa.schema([("a", pa.int64())])


def test_parquet_splits_are_sized_by_the_columns_read(tmp_path):
    n = 20_000
    table = pa.table({"user.id": pa.array(range(n), pa.int64()), "payload": ["x" * 50] * n,
                      "nested": pa.array([{"a": i, "b": [i, i]} for i in range(n)])})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2000)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    ids = sum(meta.row_group(g).column(0).total_uncompressed_size for g in range(meta.num_row_groups))
    narrow = Parquet(columns=["user.id"]).splits(str(tmp_path), 1 << 30)  # a name with a dot in it
    assert sum(s.size for s in narrow) == ids
    nested = sum(s.size for s in Parquet(columns=["nested"]).splits(str(tmp_path), 1 << 30))
    leaves = sum(meta.row_group(g).column(c).total_uncompressed_size for g in range(meta.num_row_groups)
                 for c in (2, 3))
    assert nested == leaves
    whole = sum(s.size for s in Parquet().splits(str(tmp_path), 1 << 30))
    assert whole == sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)) > nested > ids


def test_head_reads_the_first_rows_and_for_parquet_only_the_columns_asked(tmp_path):
    from framework.io import Auto

    table = pa.table({"k": list(range(5000)), "v": ["x"] * 5000})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=1000)
    (tmp_path / "t.csv").write_text("k,v\n" + "".join(f"{i},x\n" for i in range(5000)))
    split = Parquet().splits(str(tmp_path / "t.parquet"), 1)[2]  # row group 2
    head = Parquet().head(split, 10, ["k"])
    assert head.column_names == ["k"] and head["k"].to_pylist() == list(range(2000, 2010))
    assert Parquet(columns=["v"]).head(split, 3, ["k"]) is not None  # a hint: never a column the format omits
    csv_head = Auto().head(Auto().splits(str(tmp_path / "t.csv"), 1 << 20)[0], 7, ["k"])
    assert csv_head.num_rows == 7 and csv_head["k"].to_pylist() == list(range(7))
