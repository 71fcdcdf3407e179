"""Skip mode of the input readers (`fmt.read(split, BadRecords(limit))`), against oracles made of Python's own
decoder, csv and json modules over the file's lines: the good rows returned, `bad.count` and `bad.records` (paths and
line numbers) exact; the limit; byte-range splits cut anywhere (every bad line counted once, by the split that owns
its first byte); tiny blocks (bad lines in many blocks of one split); CRLF, blank lines, a bad last line without a
newline, gzip. Pure: no Ray."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.errors import InputError, UsageError
from framework.io import Auto, BadRecords, Csv, JsonLines, Parquet, Split, Text
from framework.io import delimited as delimited_mod
from framework.io import lines as lines_mod
from framework.io.lines import LineCounter

# ---------------------------------------------------------------- helpers and oracles


def file_lines(data: bytes) -> list[bytes]:
    """The file's lines as Text defines them: split on \\n, no empty remainder after a final newline."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return parts


def text_oracle(data: bytes) -> tuple[list[str], list[int]]:
    """(good lines decoded, one trailing \\r stripped; 1-based numbers of the lines that are not UTF-8)."""
    good, bad = [], []
    for number, line in enumerate(file_lines(data), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(number)
            continue
        good.append(text[:-1] if text.endswith("\r") else text)
    return good, bad


def json_oracle(data: bytes) -> tuple[list[dict], list[int]]:
    """(the objects of the good lines; numbers of the lines that are neither blank nor one JSON object)."""
    good, bad = [], []
    for number, line in enumerate(file_lines(data), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            bad.append(number)
            continue
        if isinstance(value, dict):
            good.append(value)
        else:
            bad.append(number)
    return good, bad


def rows_of(fmt, split: Split, bad: BadRecords | None) -> list:
    out = []
    for batch in fmt.read(split, bad):
        out.extend(batch.column(0).to_pylist() if isinstance(fmt, Text) else batch.to_pylist())
    return out


def read_ranges(fmt, path: str, cuts: list[int], bad: BadRecords) -> list:
    """Rows of the splits [cuts[i], cuts[i+1]) in order, all reporting to `bad`."""
    return [r for lo, hi in zip(cuts, cuts[1:]) for r in rows_of(fmt, Split(path, lo, hi), bad)]


def lines_in(records: list[str], path: str) -> list[int]:
    """The line numbers in `bad.records` entries "path:line: reason" (all of `path`)."""
    out = []
    for r in records:
        assert r.startswith(f"{path}:"), r
        out.append(int(r[len(path) + 1 :].split(":", 1)[0]))
    return out


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Line blocks of 16 bytes: a split's bad lines fall in many blocks (line counting carries across them); the
    UTF-8 scan decodes 4 bytes at a time (sequences cut by its windows)."""
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 16)
    monkeypatch.setattr(lines_mod, "_PROBE_BYTES", 4)
    monkeypatch.setattr(lines_mod, "_DECODE_WINDOW", 4)


# ---------------------------------------------------------------- BadRecords


def test_bad_records_counts_describes_and_raises_past_the_limit():
    bad = BadRecords(3)
    bad.skip("a.txt", "r1", line=4)
    bad.skip("a.txt", "r2", offset=17)
    bad.skip("b.txt", "r3")
    assert bad.count == 3 and bad.limit == 3
    assert bad.records == ["a.txt:4: r1", "a.txt:byte 17: r2", "b.txt: r3"]
    with pytest.raises(InputError) as info:
        bad.skip("c.txt", "too many", line=9, offset=100)
    err = info.value
    assert (err.path, err.line, err.offset) == ("c.txt", 9, 100)
    assert err.problem == "too many (bad record 4; the job skips at most 3)"
    assert str(err) == "c.txt, line 9, byte offset 100: too many (bad record 4; the job skips at most 3)"
    assert bad.count == 4 and len(bad.records) == 3 and err.exit_code == 2


def test_bad_records_keeps_the_first_hundred_and_validates_the_limit():
    bad = BadRecords(1000)
    for i in range(250):
        bad.skip("f", f"r{i}", line=i + 1)
    assert bad.count == 250 and len(bad.records) == BadRecords.KEEP == 100
    assert bad.records[0] == "f:1: r0" and bad.records[-1] == "f:100: r99"
    with pytest.raises(InputError, match="bad record 1; the job skips at most 0"):
        BadRecords(0).skip("f", "r", line=1)
    for wrong in (-1, 1.5, "3", True, None):
        with pytest.raises(UsageError):
            BadRecords(wrong)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Text


TEXT = (
    b"good one\n"
    b"bad \xff here\n"  # 2
    b"\n"
    b"crlf line\r\n"
    b"\xc3( broken\r\n"  # 5: invalid continuation, CRLF
    b"\xe2\x82\xac euro ok\n"
    b"\xed\xa0\x80 surrogate\n"  # 7
    b"last bad \xe2\x82"  # 8: truncated sequence, no final newline
)


def test_text_skips_invalid_utf8_lines_with_exact_lines_and_reasons(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT)
    bad = BadRecords(10)
    rows = rows_of(Text(), Split(str(path)), bad)
    assert rows == ["good one", "", "crlf line", "€ euro ok"] == text_oracle(TEXT)[0]
    p = str(path)
    assert bad.count == 4
    assert bad.records == [
        f"{p}:2: invalid UTF-8 (invalid start byte: byte 0xff)",
        f"{p}:5: invalid UTF-8 (invalid continuation byte: byte 0xc3)",
        f"{p}:7: invalid UTF-8 (invalid continuation byte: byte 0xed)",
        f"{p}:8: invalid UTF-8 (unexpected end of data: byte 0xe2)",
    ]


def test_text_limit_names_the_tipping_line_and_strict_mode_is_unchanged(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT)
    bad = BadRecords(2)
    with pytest.raises(InputError) as info:
        rows_of(Text(), Split(str(path)), bad)
    err = info.value
    assert err.path == str(path) and err.line == 7 and err.offset == TEXT.index(b"\xed")
    assert "bad record 3; the job skips at most 2" in str(err) and "line 7" in str(err)
    assert bad.count == 3 and len(bad.records) == 2
    with pytest.raises(InputError) as info:
        rows_of(Text(), Split(str(path)), None)
    assert info.value.offset == TEXT.index(b"\xff") and info.value.line is None and "replace" in str(info.value)
    # errors="replace" has no bad records
    bad = BadRecords(0)
    assert rows_of(Text(errors="replace"), Split(str(path)), bad) == [
        line.decode("utf-8", "replace").removesuffix("\r") for line in file_lines(TEXT)
    ]
    assert bad.count == 0


def _text_with_bad_lines(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    pieces = []
    for i in range(n):
        word = rng.choice([b"", b"a", b"xyz", "é€".encode(), b"bad\xff", b"\xc3(", b"ok\r", b"trunc\xe2\x82"])
        pieces.append(word + str(i).encode())
    return b"\n".join(pieces) + rng.choice([b"\n", b""])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_text_every_split_size_counts_every_bad_line_once(tmp_path, seed):
    data = _text_with_bad_lines(40, seed)
    path = tmp_path / "s.txt"
    path.write_bytes(data)
    good, bad_lines = text_oracle(data)
    assert bad_lines and good
    for size in range(1, len(data) + 2, 3):
        cuts = list(range(0, len(data), size)) + [len(data)]
        bad = BadRecords(1000)
        assert read_ranges(Text(), str(path), cuts, bad) == good, f"split size {size}"
        assert bad.count == len(bad_lines)
        assert lines_in(bad.records, str(path)) == bad_lines, f"split size {size}"


def test_text_bad_lines_first_and_last_in_a_split(tmp_path):
    data = b"aa\n\xff1\nbb\n\xff2\n\xff3"
    path = str(tmp_path / "edge.txt")
    (tmp_path / "edge.txt").write_bytes(data)
    # splits owning exactly: [aa, \xff1] [bb] [\xff2, \xff3]: bad lines first, last, and the file's last line
    for cuts in ([0, 4, 8, len(data)], [0, 3, 6, 9, len(data)], [0, 1, 2, 3, len(data)]):
        bad = BadRecords(10)
        assert read_ranges(Text(), path, cuts, bad) == ["aa", "bb"]
        assert lines_in(bad.records, path) == [2, 4, 5] and bad.count == 3
    bad = BadRecords(10)
    assert rows_of(Text(), Split(path, 8, len(data)), bad) == []
    assert lines_in(bad.records, path) == [4, 5]


def test_text_tiny_blocks_many_bad_blocks_in_one_split(tmp_path, tiny_blocks):
    data = _text_with_bad_lines(200, 7)
    path = tmp_path / "t.txt"
    path.write_bytes(data)
    good, bad_lines = text_oracle(data)
    for cuts in ([0, len(data)], [0, len(data) // 3, len(data) // 2, len(data)]):
        bad = BadRecords(10_000)
        assert read_ranges(Text(), str(path), cuts, bad) == good
        assert bad.count == len(bad_lines) > 20
        assert lines_in(bad.records, str(path)) == bad_lines[: BadRecords.KEEP]


def test_text_gzip_skips_with_line_numbers(tmp_path, monkeypatch):
    data = _text_with_bad_lines(300, 11)
    path = tmp_path / "t.txt.gz"
    path.write_bytes(gzip.compress(data))
    good, bad_lines = text_oracle(data)
    for block in (1 << 20, 64):
        monkeypatch.setattr(lines_mod, "BLOCK_BYTES", block)
        bad = BadRecords(10_000)
        (split,) = Text().splits(str(path), 100)
        assert rows_of(Text(), split, bad) == good
        assert bad.count == len(bad_lines)
        assert lines_in(bad.records, str(path)) == bad_lines[:100]


BYTE_PIECES = st.sampled_from([b"\n", b"\r\n", b"a", b"\xff", b"\xc3", b"\xa9", b"\xe2\x82\xac", b"\xf0\x9f", b"z"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(BYTE_PIECES, max_size=50), cut_seeds=st.lists(st.integers(0, 10**6), max_size=6))
def test_text_random_bytes_random_cuts(tmp_path, pieces, cut_seeds):
    data = b"".join(pieces)
    path = tmp_path / "h.txt"
    path.write_bytes(data)
    cuts = sorted({0, len(data), *(s % (len(data) + 1) for s in cut_seeds)})
    good, bad_lines = text_oracle(data)
    bad = BadRecords(10_000)
    assert read_ranges(Text(), str(path), cuts, bad) == good
    assert bad.count == len(bad_lines) and lines_in(bad.records, str(path)) == bad_lines


def test_line_counter_matches_counting_in_python(tmp_path, monkeypatch):
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 7)
    rng = random.Random(5)
    data = bytes(rng.choice(b"ab\n") for _ in range(3000))
    (tmp_path / "p.txt").write_bytes(data)
    (tmp_path / "p.txt.gz").write_bytes(gzip.compress(data))
    for name in ("p.txt", "p.txt.gz"):
        counter = LineCounter(Split(str(tmp_path / name)))
        offsets = sorted(rng.randrange(len(data) + 1) for _ in range(30)) + [5, 2999, 0, 3000]
        for off in offsets:
            assert counter.before(off) == data.count(b"\n", 0, off), (name, off)
        # stepping over a block the caller counted
        assert counter.at(100, data.count(b"\n", 100, 150), 50) == data.count(b"\n", 0, 100)
        assert counter.before(200) == data.count(b"\n", 0, 200)
        counter.close()


# ---------------------------------------------------------------- JSON lines


def _jsonl_file(n: int, seed: int, crlf: bool = False) -> bytes:
    rng = random.Random(seed)
    bad_lines = [b'{"id": }', b"not json", b"[1, 2]", b"7", b'{"id": 1', b'{"id": "\xff"}', b'"str"', b"}"]
    lines = []
    for i in range(n):
        r = rng.random()
        if r < 0.25:
            line = rng.choice(bad_lines)
        elif r < 0.32:
            line = rng.choice([b"", b"   "])
        else:
            line = json.dumps({"id": i, "w": rng.choice(["a", "é€", "x y"])}, ensure_ascii=False).encode()
        lines.append(line + (b"\r" if crlf else b""))
    return b"\n".join(lines) + rng.choice([b"\n", b""])


def _rows(objects: list[dict]) -> list[dict]:
    return [{"id": o.get("id"), "w": o.get("w")} for o in objects]


@pytest.mark.parametrize("crlf", [False, True])
def test_jsonl_every_target_size_counts_every_bad_line_once(tmp_path, crlf):
    data = _jsonl_file(80, 3, crlf)
    path = tmp_path / "a.jsonl"
    path.write_bytes(data)
    good, bad_lines = json_oracle(data)
    assert len(bad_lines) > 10
    for target in (1, 5, 17, 64, 333, len(data)):
        for fmt in (JsonLines(), JsonLines(schema={"id": "int64", "w": "string"})):
            bad = BadRecords(1000)
            rows = [r for s in fmt.splits(str(path), target) for r in rows_of(fmt, s, bad)]
            assert _rows(rows) == _rows(good), f"target {target}"
            assert bad.count == len(bad_lines)
            assert lines_in(bad.records, str(path)) == bad_lines, f"target {target}"


def test_jsonl_reasons_limit_and_strict_mode(tmp_path):
    data = b'{"a": 1}\n{"a": }\n\n{"a": \xff}\n[1]\n{"a": 2}\n{"a": 3'
    path = tmp_path / "r.jsonl"
    path.write_bytes(data)
    p = str(path)
    bad = BadRecords(5)
    assert rows_of(JsonLines(), Split(p), bad) == [{"a": 1}, {"a": 2}]
    assert bad.records == [
        f"{p}:2: malformed JSON: Invalid value.",
        f"{p}:4: invalid UTF-8 (invalid start byte: byte 0xff)",
        f"{p}:5: malformed JSON: Column() changed from object to array",
        f"{p}:7: malformed JSON: Missing a comma or '}}' after an object member.",
    ]
    with pytest.raises(InputError) as info:
        rows_of(JsonLines(), Split(p), BadRecords(2))
    assert info.value.line == 5 and info.value.path == p and "bad record 3; the job skips at most 2" in str(info.value)
    with pytest.raises(InputError) as info:
        rows_of(JsonLines(), Split(p), None)
    assert info.value.offset == data.index(b"\xff")  # strict: the first problem, as before


def test_jsonl_schema_conversion_and_type_conflicts(tmp_path, monkeypatch):
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 64)
    lines = [b'{"n": %d}' % i for i in range(30)]
    lines[4] = b'{"n": "four"}'  # a string where the schema (or the lines before) say number
    lines[11] = b'{"n": 1.5}'  # converts without a schema (int64 -> double), not to int64
    lines[20] = b'{"n": [20]}'
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "s.jsonl"
    path.write_bytes(data)
    expected = [{"n": i} for i in range(30) if i not in (4, 11, 20)]
    bad = BadRecords(10)
    assert rows_of(JsonLines(schema={"n": "int64"}), Split(str(path)), bad) == expected
    assert lines_in(bad.records, str(path)) == [5, 12, 21]
    assert "couldn't parse:1.5" in bad.records[1]
    # no schema: each block infers; a block's later line whose type conflicts with its earlier lines is bad
    bad = BadRecords(10)
    got = rows_of(JsonLines(), Split(str(path)), bad)
    assert lines_in(bad.records, str(path)) == [5, 21]
    assert "changed from number to string" in bad.records[0]
    assert [r["n"] for r in got] == [i if i != 11 else 1.5 for i in range(30) if i not in (4, 20)]


def test_jsonl_null_first_line_does_not_crash(tmp_path):
    """pyarrow crashes on input whose first value is `null`: a split starting there is read all the same."""
    data = b'{"a": 1}\nnull\n{"a": 2}\n'
    path = tmp_path / "n.jsonl"
    path.write_bytes(data)
    for bad in (None, BadRecords(0)):
        assert rows_of(JsonLines(), Split(str(path), 0, 3), bad) == [{"a": 1}]
        assert rows_of(JsonLines(), Split(str(path), 3, len(data)), bad) == [{"a": None}, {"a": 2}]
    (tmp_path / "m.jsonl").write_bytes(b"\n  null\nnullx\n{\"a\": 3}\n")
    bad = BadRecords(5)
    assert rows_of(JsonLines(), Split(str(tmp_path / "m.jsonl"), 1, 100), bad) == [{"a": None}, {"a": 3}]
    assert lines_in(bad.records, str(tmp_path / "m.jsonl")) == [3]


def test_jsonl_a_record_is_a_line(tmp_path):
    """pyarrow reads values, not lines: a line of two objects, or an object over two lines, parses (and moves
    pyarrow's row numbers). Skipping, each line is a record: those lines are bad too, the others still the right
    ones (pyarrow's row hints are checked). Strict mode reads such a block as pyarrow does."""
    data = b'{"a": 1} {"a": 2}\n{"a": 3}\n{"a": x}\n{"a": 4}\n[5]\n{"a": 6} {"a": 7}\n{bad\n{"a":\n8}\n{"a": 9}\n'
    path = tmp_path / "two.jsonl"
    path.write_bytes(data)
    for fmt in (JsonLines(), JsonLines(schema={"a": "int64"})):
        bad = BadRecords(10)
        assert rows_of(fmt, Split(str(path)), bad) == [{"a": i} for i in (3, 4, 9)]
        assert lines_in(bad.records, str(path)) == [1, 3, 5, 6, 7, 8, 9]
        assert bad.records[0].endswith("malformed JSON: not one JSON object per line")
    # a block with no other fault
    good = b'{"a": 1}\n{"a":\n2}\n\n  \n{"a": 3}\n'
    (tmp_path / "pretty.jsonl").write_bytes(good)
    assert rows_of(JsonLines(), Split(str(tmp_path / "pretty.jsonl")), None) == [{"a": 1}, {"a": 2}, {"a": 3}]
    bad = BadRecords(10)
    assert rows_of(JsonLines(), Split(str(tmp_path / "pretty.jsonl")), bad) == [{"a": 1}, {"a": 3}]
    assert lines_in(bad.records, str(tmp_path / "pretty.jsonl")) == [2, 3]


def test_jsonl_tiny_blocks_and_gzip(tmp_path, tiny_blocks):
    data = _jsonl_file(150, 9)
    good, bad_lines = json_oracle(data)
    (tmp_path / "a.jsonl").write_bytes(data)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(data))
    for name in ("a.jsonl", "a.jsonl.gz"):
        bad = BadRecords(1000)
        path = str(tmp_path / name)
        rows = [r for s in JsonLines().splits(path, 200) for r in rows_of(JsonLines(), s, bad)]
        assert _rows(rows) == _rows(good) and bad.count == len(bad_lines)
        assert lines_in(bad.records, path) == bad_lines[:100]


JSON_LINES = st.sampled_from(
    [b'{"k": 1}', b'{"k": 2, "v": "x"}', b"", b"  ", b"{bad", b"[3]", b'{"k": "\xff"}', b'{"k": 4', b"\r"]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(JSON_LINES, max_size=30),
    end=st.sampled_from([b"", b"\n"]),
    seeds=st.lists(st.integers(0, 10**6), max_size=5),
)
def test_jsonl_random_lines_random_cuts(tmp_path, lines, end, seeds):
    data = b"\n".join(lines) + end
    path = tmp_path / "h.jsonl"
    path.write_bytes(data)
    cuts = sorted({0, len(data), *(s % (len(data) + 1) for s in seeds)})
    good, bad_lines = json_oracle(data)
    fmt = JsonLines(schema={"k": "int64", "v": "string"})
    bad = BadRecords(1000)
    rows = read_ranges(fmt, str(path), cuts, bad)
    assert rows == [{"k": o["k"], "v": o.get("v")} for o in good]
    assert bad.count == len(bad_lines) and lines_in(bad.records, str(path)) == bad_lines


# ---------------------------------------------------------------- CSV


def _csv_file(n: int, seed: int, crlf: bool = False) -> tuple[bytes, list[dict], list[int]]:
    """A CSV file of id,name,score with bad records here and there (after the first 40 good rows, so the first
    block infers int64, string, double): (data, the good rows, the line numbers of the bad records)."""
    rng = random.Random(seed)
    nl = "\r\n" if crlf else "\n"
    out, good, bad, line = [f"id,name,score{nl}"], [], [], 2
    for i in range(n):
        kind = rng.random() if i >= 40 else 1.0
        name = rng.choice(["a", "b c", 'q"uote', "multi\nline", "é"])
        if kind < 0.06:
            out.append(f"{nl}")  # blank line: no record
            line += 1
            continue
        if kind < 0.12:
            text = f"{i},{name!r}{nl}"  # two fields
        elif kind < 0.17:
            text = f"{i},x,1.5,extra{nl}"  # four fields
        elif kind < 0.22:
            text = f"x{i},n,2.5{nl}"  # id does not convert
        elif kind < 0.27:
            text = f"{i},n,abc{nl}"  # score does not convert
        else:
            buf = io.StringIO()
            csv.writer(buf, lineterminator=nl).writerow([i, name, i / 8])
            text = buf.getvalue()
            good.append({"id": i, "name": name, "score": i / 8})
            out.append(text)
            line += text.count("\n")
            continue
        bad.append(line)
        out.append(text)
        line += text.count("\n")
    return "".join(out).encode(), good, bad


# One block of 1 MiB infers its types from every value, the bad ones too: that size only with explicit types.
@pytest.mark.parametrize(("block", "typed"), [(1 << 20, True), (256, False), (256, True), (97, False), (97, True)])
@pytest.mark.parametrize("crlf", [False, True])
def test_csv_skips_field_count_and_conversion_errors(tmp_path, monkeypatch, block, crlf, typed):
    monkeypatch.setattr(delimited_mod, "BLOCK_BYTES", block)
    data, good, bad_lines = _csv_file(300, 4, crlf)
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    fmt = Csv(column_types={"id": "int64", "score": "float64"}) if typed else Csv()
    bad = BadRecords(10_000)
    batches = list(fmt.read(Split(str(path)), bad))
    assert [r for b in batches for r in b.to_pylist()] == good
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.float64())])
    assert {b.schema for b in batches} == {schema}
    assert bad.count == len(bad_lines) > 30
    assert lines_in(bad.records, str(path)) == bad_lines[:100]


def test_csv_reasons_and_explicit_types_fail_in_the_first_block(tmp_path):
    data = b'a,b,c\n1,x,2\n2,y\n\n"3",z,oops\n4,"multi\nline",5\nfive,w,6\n7,v,7,7\n8,u,8'
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    p = str(path)
    bad = BadRecords(10)
    fmt = Csv(column_types={"a": "int64", "c": "int32"})
    rows = rows_of(fmt, Split(p), bad)
    assert rows == [{"a": 1, "b": "x", "c": 2}, {"a": 4, "b": "multi\nline", "c": 5}, {"a": 8, "b": "u", "c": 8}]
    assert bad.records == [
        f"{p}:3: expected 3 fields, found 2: 2,y",
        f"{p}:5: column 'c': 'oops' is not a valid int32",
        f"{p}:8: column 'a': 'five' is not a valid int64",
        f"{p}:9: expected 3 fields, found 4: 7,v,7,7",
    ]
    batches = list(fmt.read(Split(p), BadRecords(10)))
    assert all(b.schema == pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.int32())]) for b in batches)
    # the limit: the tipping record is the third in file order, a conversion error between two field-count rows
    with pytest.raises(InputError) as info:
        rows_of(fmt, Split(p), BadRecords(2))
    assert info.value.line == 8 and info.value.path == p and "bad record 3" in str(info.value)
    with pytest.raises(InputError) as info:
        rows_of(fmt, Split(p), BadRecords(1))
    assert info.value.line == 5
    # strict mode as before: the first wrong field count
    with pytest.raises(InputError) as info:
        rows_of(fmt, Split(p), None)
    assert info.value.line == 3 and "expected 3 fields, found 2" in str(info.value)


def test_csv_limit_in_a_later_block_names_the_tipping_line(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited_mod, "BLOCK_BYTES", 200)
    data, good, bad_lines = _csv_file(400, 8)
    path = tmp_path / "l.csv"
    path.write_bytes(data)
    for limit in (0, 1, 5, len(bad_lines) - 1):
        bad = BadRecords(limit)
        with pytest.raises(InputError) as info:
            rows_of(Csv(), Split(str(path)), bad)
        assert info.value.line == bad_lines[limit] and info.value.path == str(path), limit
        assert lines_in(bad.records, str(path)) == bad_lines[:limit][:100]
    bad = BadRecords(len(bad_lines))
    assert rows_of(Csv(), Split(str(path)), bad) == good


def test_csv_gzip_tsv_and_no_header(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited_mod, "BLOCK_BYTES", 128)
    data, good, bad_lines = _csv_file(200, 6)
    (tmp_path / "g.csv.gz").write_bytes(gzip.compress(data))
    bad = BadRecords(1000)
    assert rows_of(Auto(), Split(str(tmp_path / "g.csv.gz")), bad) == good
    assert lines_in(bad.records, str(tmp_path / "g.csv.gz")) == bad_lines[:100]
    tsv = [b"%d\tq" % i for i in range(1, 60)]
    tsv[1], tsv[39] = b"2", b"z\tw"  # lines 2 (one field) and 40 (in a later block: k is int64 by then)
    (tmp_path / "t.tsv").write_bytes(b"\n".join(tsv))
    bad = BadRecords(10)
    rows = rows_of(Csv(delimiter="\t", header=False, column_names=["k", "v"]), Split(str(tmp_path / "t.tsv")), bad)
    assert rows == [{"k": i, "v": "q"} for i in range(1, 60) if i not in (2, 40)]
    assert lines_in(bad.records, str(tmp_path / "t.tsv")) == [2, 40]
    # quoting off: quotes are data, and survive the slow path's conversion
    lines = [b"k;v"] + [b'%d;say "%d"' % (i, i) for i in range(60)]
    lines[45] = b'"45";"x'  # "45" (quotes and all) is no int64
    (tmp_path / "q.csv").write_bytes(b"\n".join(lines) + b"\n")
    bad = BadRecords(10)
    rows = rows_of(Csv(delimiter=";", quote_char=None), Split(str(tmp_path / "q.csv")), bad)
    assert rows == [{"k": i, "v": f'say "{i}"'} for i in range(60) if i != 44]
    assert bad.records == [f"{tmp_path / 'q.csv'}:46: column 'k': '\"45\"' is not a valid int64"]


def test_csv_many_bad_rows_map_records_to_lines_in_one_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited_mod, "BLOCK_BYTES", 512)
    opened = []
    real_open = delimited_mod._RecordLines._open
    monkeypatch.setattr(delimited_mod._RecordLines, "_open", lambda self: (opened.append(1), real_open(self))[1])
    data, good, bad_lines = _csv_file(2000, 12)
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    bad = BadRecords(10_000)
    assert rows_of(Csv(), Split(str(path)), bad) == good
    assert bad.count == len(bad_lines) > 300 and len(opened) == 1


def test_csv_every_row_bad_yields_nothing_and_the_schema_is_still_known(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(b"a,b\n1\n2,3,4\nx,5\n")
    fmt = Csv(column_types={"a": "int64"})
    bad = BadRecords(10)
    assert rows_of(fmt, Split(str(path)), bad) == [] and bad.count == 3
    assert lines_in(bad.records, str(path)) == [2, 3, 4]
    assert fmt.split_schema(Split(str(path))) == pa.schema([("a", pa.int64()), ("b", pa.int64())])


# ---------------------------------------------------------------- Parquet and Auto


def test_parquet_ignores_bad_and_auto_passes_it_on(tmp_path):
    table = pa.table({"x": list(range(10))})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=3)
    bad = BadRecords(0)
    splits = Parquet().splits(str(tmp_path / "p.parquet"), 1)
    assert [r for s in splits for r in rows_of(Parquet(), s, bad)] == table.to_pylist() and bad.count == 0
    (tmp_path / "t.txt").write_bytes(b"a\n\xff\nb\n")
    (tmp_path / "j.jsonl").write_bytes(b'{"a": 1}\n{oops\n')
    bad = BadRecords(5)
    rows = {s.path.rsplit("/", 1)[1]: rows_of(Auto(), s, bad) for s in Auto().splits(str(tmp_path), 1 << 20)}
    assert rows["t.txt"] == [{"line": "a"}, {"line": "b"}] and rows["j.jsonl"] == [{"a": 1}]
    assert rows["p.parquet"] == table.to_pylist()
    assert sorted(lines_in([r for r in bad.records if "t.txt" in r], str(tmp_path / "t.txt"))) == [2]
    assert bad.count == 2
