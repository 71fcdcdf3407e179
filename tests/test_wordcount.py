"""Word count against collections.Counter, on generated and adversarial text, inline and on Ray."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest

from tests.conftest import plain_run as run
from tests.oracles import as_counter, word_counts_of_files

WORDCOUNT = os.path.join(os.path.dirname(__file__), "..", "jobs", "wordcount.py")


@pytest.fixture(params=["inline", "ray"])
def executor(request):
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


def write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


ADVERSARIAL = {
    "empty.txt": b"",
    "only_newlines.txt": b"\n\n\n",
    "no_trailing_newline.txt": b"alpha beta\ngamma ALPHA",
    "crlf.txt": b"Hello, World\r\nhello\r\n\r\nworld!\r\n",
    "unicode.txt": "Ça va? ÇA VA! naïve café — Ελληνικά ελληνικά; Москва москва 東京 東京 ٣٤ x²\n".encode(),
    "punct.txt": b"don't stop-believing... e-mail: a@b.c 3.14 _under_score_ tab\there\n",
    "digits.txt": b"2024 2024-11-30 abc123 123abc\n",
}


def test_adversarial_inputs_match_counter(tmp_path, executor):
    paths = [write(tmp_path, n, d) for n, d in ADVERSARIAL.items()]
    result = run(WORDCOUNT, paths, str(tmp_path / "out"), executor=executor)
    out = result.read()
    assert out.schema.field("word").type in (pa.string(), pa.large_string())
    assert out.schema.field("count").type == pa.int64()
    assert as_counter(out) == word_counts_of_files(paths)
    assert result.output_rows == out.num_rows


def test_long_line_and_small_splits(tmp_path, executor):
    """A 10 MB line and lines straddling many split boundaries are each read exactly once."""
    long_line = (b"w" * 9 + b" ") * 1_000_000  # 10 MB, one line
    lines = b"".join(f"line {i} word{i % 37} Éé{i % 5}\n".encode() for i in range(20_000))
    paths = [write(tmp_path, "long.txt", b"start\n" + long_line + b"\nend"), write(tmp_path, "many.txt", lines)]
    for split_size in (65_537, 300_007):
        out = tmp_path / f"out{split_size}"
        result = run(WORDCOUNT, paths, str(out), executor=executor, split_size=split_size, partitions=3)
        assert as_counter(result.read()) == word_counts_of_files(paths)


def test_generated_zipf_corpus(tmp_path, executor):
    from framework.datagen.zipf import generate_corpus

    files = generate_corpus(str(tmp_path / "corpus"), 3_000_000, vocabulary=50_000, exponent=1.1, files=3, seed=7)
    result = run(WORDCOUNT, str(tmp_path / "corpus"), str(tmp_path / "out"), executor=executor, split_size=1 << 20)
    assert as_counter(result.read()) == word_counts_of_files(files)
