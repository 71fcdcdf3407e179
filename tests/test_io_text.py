"""Text input against Python's own line semantics: `data.decode().split("\\n")`, without the empty remainder after
a final newline, one trailing "\\r" stripped per line. Every split size on small files; random files and random
cut points with Hypothesis; compressed files; invalid UTF-8 (exact offsets, replace mode)."""

from __future__ import annotations

import bz2
import gzip
import random

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.errors import InputError, UsageError
from framework.io import Split, Text, by_name, format_from_dict
from framework.io import lines as lines_mod


def oracle(data: bytes, errors: str = "strict") -> list[str]:
    parts = data.decode("utf-8", errors).split("\n")
    if parts[-1] == "":
        parts.pop()
    return [p[:-1] if p.endswith("\r") else p for p in parts]


def read_ranges(path: str, cuts: list[int], fmt: Text | None = None) -> list[str]:
    """Rows of the file read as the splits [cuts[i], cuts[i+1]), concatenated in order."""
    fmt = fmt or Text()
    rows: list[str] = []
    for start, end in zip(cuts, cuts[1:]):
        for batch in fmt.read(Split(path, start, end)):
            assert batch.schema == pa.schema([("line", pa.string())])
            rows.extend(batch.column(0).to_pylist())
    return rows


def read_all(path: str, fmt: Text | None = None, target: int = 1 << 30) -> list[str]:
    fmt = fmt or Text()
    return [r for s in fmt.splits(path, target) for b in fmt.read(s) for r in b.column(0).to_pylist()]


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks and newline probes of a few bytes, so small files exercise block cutting and long-line reads."""
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 5)
    monkeypatch.setattr(lines_mod, "_PROBE_BYTES", 2)


ADVERSARIAL = {
    "empty": b"",
    "one_newline": b"\n",
    "only_newlines": b"\n\n\n\n",
    "no_trailing_newline": b"alpha\nbeta\ngamma",
    "trailing_newline": b"alpha\nbeta\ngamma\n",
    "crlf": b"one\r\ntwo\r\n\r\nthree\r\n",
    "crlf_no_trailing": b"one\r\ntwo\r",
    "lone_cr_inside": b"a\rb\nc\r\r\n\r",
    "empty_lines_between": b"\n\na\n\n\nb\n\n",
    "unicode": "héllo wörld\n€uro\n日本語のテキスト\n😀 emoji 😀\n\nçà\n".encode(),
    "unicode_no_newline": "ü€😀".encode() * 7,
    "single_char": b"x",
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_every_split_size_reads_every_line_once(tmp_path, name):
    data = ADVERSARIAL[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    expected = oracle(data)
    assert read_all(str(path)) == expected
    for size in range(1, len(data) + 2):
        cuts = list(range(0, len(data), size)) + [len(data)]
        assert read_ranges(str(path), cuts) == expected, f"split size {size}"
        # the planner's own splits for that target size
        assert read_all(str(path), target=size) == expected, f"target {size}"


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_tiny_blocks_give_the_same_lines(tmp_path, tiny_blocks, name):
    data = ADVERSARIAL[name]
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    for size in (1, 2, 3, 7, 11, len(data) + 1):
        cuts = list(range(0, len(data), size)) + [len(data)]
        assert read_ranges(str(path), cuts) == oracle(data), f"split size {size}"


def test_split_end_minus_one_means_to_the_end(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"a\nbb\nccc\n")
    assert read_ranges(str(path), [0, 3]) + [
        r for b in Text().read(Split(str(path), 3, -1)) for r in b.column(0).to_pylist()
    ] == ["a", "bb", "ccc"]


LINE_PIECES = st.sampled_from(["a", "bc", "é", "€", "😀", "\n", "\n", "\r", "\r\n", " ", "日本"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(LINE_PIECES, max_size=60), cut_seeds=st.lists(st.integers(0, 10**6), max_size=8))
def test_random_text_random_cuts(tmp_path, pieces, cut_seeds):
    data = "".join(pieces).encode()
    path = tmp_path / "h.txt"
    path.write_bytes(data)
    cuts = sorted({0, len(data), *(s % (len(data) + 1) for s in cut_seeds)})
    assert read_ranges(str(path), cuts) == oracle(data)


BYTE_PIECES = st.sampled_from(
    [
        b"\n",
        b"\r",
        b"a",
        b"\xff",
        b"\xc3",
        b"\xa9",
        b"\xe2\x82\xac",
        b"\xf0\x9f\x98",
        b"\x80",
        b"\xed\xa0\x80",
        b"\xc0\xaf",
    ]
)
RANDOM_BYTES = st.one_of(st.binary(max_size=80), st.lists(BYTE_PIECES, max_size=40).map(b"".join))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=RANDOM_BYTES, cut_seeds=st.lists(st.integers(0, 10**6), max_size=6))
def test_random_bytes_replace_mode_and_strict_offsets(tmp_path, data, cut_seeds):
    path = tmp_path / "b.txt"
    path.write_bytes(data)
    cuts = sorted({0, len(data), *(s % (len(data) + 1) for s in cut_seeds)})
    assert read_ranges(str(path), cuts, Text(errors="replace")) == oracle(data, "replace")
    try:
        expected = oracle(data)
    except UnicodeDecodeError as e:
        with pytest.raises(InputError) as info:
            read_ranges(str(path), cuts)
        assert info.value.offset == e.start
        assert str(path) in str(info.value)
    else:
        assert read_ranges(str(path), cuts) == expected


def test_sampled_split_sizes_on_a_bigger_file(tmp_path, monkeypatch):
    rng = random.Random(7)
    words = ["x", "héllo", "€€", "😀", "", "a b c", "\r"]
    data = "\n".join(rng.choice(words) * rng.randint(0, 40) for _ in range(4000)).encode()
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    expected = oracle(data)
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 4096)
    for size in [1 + rng.randrange(len(data)) for _ in range(12)] + [97, 1000, len(data)]:
        cuts = list(range(0, len(data), size)) + [len(data)]
        assert read_ranges(str(path), cuts) == expected, f"split size {size}"


def test_ten_megabyte_line(tmp_path, monkeypatch):
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 1 << 20)
    long_line = "é" * (5 << 20)  # 10 MB of UTF-8
    data = f"first\n{long_line}\nlast".encode()
    path = tmp_path / "long.txt"
    path.write_bytes(data)
    for size in (1 << 20, 3 << 20, len(data)):
        cuts = list(range(0, len(data), size)) + [len(data)]
        rows = read_ranges(str(path), cuts)
        assert len(rows) == 3 and rows[0] == "first" and rows[2] == "last" and rows[1] == long_line


def test_invalid_utf8_strict_names_file_and_offset(tmp_path):
    data = b"good line\nstill good\nbad \xff byte\n"
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_all(str(path))
    err, bad = info.value, data.index(b"\xff")
    assert err.offset == bad and err.path == str(path)
    message = str(err)
    assert str(path) in message and f"byte offset {bad}" in message
    assert "replace" in message and "\n" not in message
    assert isinstance(err, UsageError) and err.exit_code == 2


def test_invalid_utf8_offset_is_absolute_in_a_later_split(tmp_path):
    data = b"a" * 50 + b"\n" + b"b" * 30 + b"\xe2\x82\n" + b"c\n"
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        list(Text().read(Split(str(path), 40, len(data))))
    assert info.value.offset == 81


def test_replace_mode(tmp_path):
    data = b"ok\nbad \xff\xfe here\ntrunc \xe2\x82\nend"
    path = tmp_path / "r.txt"
    path.write_bytes(data)
    rows = read_all(str(path), Text(errors="replace"))
    assert rows == oracle(data, "replace")
    assert rows[1] == "bad \ufffd\ufffd here" and rows[2] == "trunc \ufffd"


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".zst": _zstd}


@pytest.mark.parametrize("ext", sorted(COMPRESSORS))
def test_compressed_files_are_one_split_and_read_whole(tmp_path, monkeypatch, ext):
    data = ("line one\r\nzwei ü\n\n" * 300 + "no newline at end").encode()
    path = tmp_path / f"c.txt{ext}"
    path.write_bytes(COMPRESSORS[ext](data))
    splits = Text().splits(str(path), 64)
    assert len(splits) == 1 and splits[0].start == 0 and splits[0].end == -1
    assert read_all(str(path), target=64) == oracle(data)
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 7)  # lines carried across decompressed blocks
    assert read_all(str(path), target=64) == oracle(data)


def test_concatenated_gzip_members_and_corrupt_streams(tmp_path):
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\nd"))
    assert read_all(str(path)) == ["a", "b", "c", "d"]
    noise = random.Random(3).randbytes(20000).hex().encode()
    (tmp_path / "cut.gz").write_bytes(gzip.compress(noise)[:2000])
    (tmp_path / "junk.gz").write_bytes(b"not gzip at all")
    for name in ("cut.gz", "junk.gz"):
        with pytest.raises(InputError, match="cannot read"):
            read_all(str(tmp_path / name))


def test_compressed_invalid_utf8_offset_is_in_the_decompressed_stream(tmp_path, monkeypatch):
    monkeypatch.setattr(lines_mod, "BLOCK_BYTES", 16)
    data = b"abc\n" * 20 + b"x\xc3(\n" + b"tail\n"
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(InputError) as info:
        read_all(str(path))
    assert info.value.offset == 81


def test_empty_file_yields_no_rows_and_other_column_name(tmp_path):
    (tmp_path / "e.txt").write_bytes(b"")
    assert read_all(str(tmp_path / "e.txt")) == []
    (tmp_path / "a.txt").write_bytes(b"x\n")
    fmt = Text(column="text")
    batches = [b for s in fmt.splits(str(tmp_path / "a.txt"), 100) for b in fmt.read(s)]
    assert batches[0].schema.names == ["text"] and fmt.output_schema().names == ["text"]


def test_options_round_trip_and_validation():
    fmt = Text(errors="replace", column="l")
    assert fmt.to_dict() == {"format": "text", "errors": "replace", "column": "l"}
    assert format_from_dict(fmt.to_dict()) == fmt
    assert by_name("text", errors="replace") == Text(errors="replace")
    with pytest.raises(UsageError):
        Text(errors="ignore")
    with pytest.raises(UsageError):
        by_name("nope")
    with pytest.raises(UsageError, match="bad options"):
        by_name("text", bogus=1)


def test_splits_are_even_and_cover_the_file(tmp_path):
    path = tmp_path / "s.txt"
    path.write_bytes(b"abcdefghij\n" * 100)  # 1100 bytes
    splits = Text().splits(str(path), 300)
    assert [(s.start, s.end) for s in splits] == [(0, 275), (275, 550), (550, 825), (825, 1100)]
    assert sum(s.size for s in splits) == 1100
    assert splits[1].describe() == f"{path} bytes 275-550"
    assert all(Split.from_dict(s.to_dict()) == s for s in splits)
    with pytest.raises(UsageError):
        Text().splits(str(path), 0)
