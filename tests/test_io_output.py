"""Output directories: refusal rules, per-attempt part files, atomic commit (_SUCCESS last), abort, read back."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest

from framework.errors import UsageError
from framework.io import abort_output, check_output_dir, commit_output, read_output, write_part
from framework.io import output as output_mod


def sample(n: int, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "k": pa.array([f'w{i}"é' for i in range(offset, offset + n)]),
            "n": pa.array([None if i % 3 == 0 else i for i in range(offset, offset + n)], pa.int64()),
            "f": pa.array([i / 7 for i in range(offset, offset + n)]),
        }
    )


def listing(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_check_output_dir(tmp_path):
    check_output_dir(str(tmp_path / "new"), overwrite=False)  # missing: fine
    (tmp_path / "empty").mkdir()
    check_output_dir(str(tmp_path / "empty"), overwrite=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("1")
    with pytest.raises(UsageError, match="not empty"):
        check_output_dir(str(tmp_path / "full"), overwrite=False)
    check_output_dir(str(tmp_path / "full"), overwrite=True)
    (tmp_path / "file").write_text("1")
    for overwrite in (False, True):
        with pytest.raises(UsageError, match="is a file"):
            check_output_dir(str(tmp_path / "file"), overwrite=overwrite)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_write_commit_read_round_trip(tmp_path, fmt):
    out = tmp_path / "out"
    check_output_dir(str(out), overwrite=False)
    tables = {0: sample(5), 1: sample(0), 2: sample(7, offset=5)}
    parts = {}
    for p, t in tables.items():
        write_part(t, str(out), "job1", p, attempt=0, fmt=fmt)  # a failed first attempt, left behind
        parts[p] = write_part(t, str(out), "job1", p, attempt=1, fmt=fmt)
    assert parts[2] == str(out / "_temporary" / "job1" / f"part-00002-a1.{fmt}")
    assert not list(out.rglob("*.inprogress"))
    with pytest.raises(UsageError, match="_SUCCESS"):
        read_output(str(out))
    final = commit_output(str(out), "job1", parts, fmt, overwrite=False)
    assert final == [str(out / f"part-{p:05d}.{fmt}") for p in range(3)]
    assert listing(out) == ["_SUCCESS"] + [f"part-{p:05d}.{fmt}" for p in range(3)]
    assert (out / "_SUCCESS").read_text() == "job1\n"
    marker = (out / "_SUCCESS").stat().st_mtime_ns
    # run again, as a master resumed after a crash past the commit does: nothing changes, _SUCCESS stays as written
    assert commit_output(str(out), "job1", parts, fmt, overwrite=True) == final
    assert listing(out) == ["_SUCCESS"] + [f"part-{p:05d}.{fmt}" for p in range(3)]
    assert (out / "_SUCCESS").stat().st_mtime_ns == marker
    got = read_output(str(out))
    expected = pa.concat_tables([tables[0], tables[2]])
    assert got.num_rows == 12
    assert got.select(["k", "n", "f"]).to_pylist() == expected.to_pylist()


def test_jsonl_output_is_one_json_object_per_line(tmp_path):
    out = tmp_path / "out"
    parts = {0: write_part(sample(4), str(out), "j", 0, 0, fmt="jsonl")}
    commit_output(str(out), "j", parts, "jsonl", overwrite=False)
    lines = (out / "part-00000.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == sample(4).to_pylist()


def test_success_is_written_last(tmp_path, monkeypatch):
    out = tmp_path / "out"
    parts = {p: write_part(sample(2), str(out), "j", p, 0) for p in range(3)}
    moves: list[tuple[str, bool]] = []  # (part moved, whether _SUCCESS existed then)

    class SpyFs:
        def __init__(self, fs):
            self._fs = fs

        def move(self, src, dst):
            moves.append((os.path.basename(dst), (out / "_SUCCESS").exists()))
            return self._fs.move(src, dst)

        def __getattr__(self, name):
            return getattr(self._fs, name)

    real_resolve = output_mod.resolve

    def resolve_spy(path):
        fs, inner = real_resolve(path)
        return SpyFs(fs), inner

    monkeypatch.setattr(output_mod, "resolve", resolve_spy)
    commit_output(str(out), "j", parts, "parquet", overwrite=False)
    assert moves == [(f"part-{p:05d}.parquet", False) for p in range(3)]
    assert (out / "_SUCCESS").exists()


def test_overwrite_replaces_old_parts_and_keeps_other_jobs_temporaries(tmp_path):
    out = tmp_path / "out"
    old = {p: write_part(sample(3, offset=100), str(out), "old", p, 0, fmt="csv") for p in range(5)}
    commit_output(str(out), "old", old, "csv", overwrite=False)
    (out / "_temporary" / "other-job").mkdir(parents=True)
    (out / "notes.txt").write_text("user file")
    with pytest.raises(UsageError):
        check_output_dir(str(out), overwrite=False)
    check_output_dir(str(out), overwrite=True)
    new = {p: write_part(sample(2), str(out), "new", p, 3) for p in range(2)}
    commit_output(str(out), "new", new, "parquet", overwrite=True)
    assert listing(out) == [
        "_SUCCESS",
        "_temporary",
        "_temporary/other-job",
        "notes.txt",
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert read_output(str(out)).to_pylist() == pa.concat_tables([sample(2), sample(2)]).to_pylist()


def test_commit_can_be_run_again_after_it_was_interrupted(tmp_path):
    out = tmp_path / "out"
    parts = {p: write_part(sample(2, offset=p), str(out), "j", p, 0) for p in range(3)}
    os.rename(parts[0], out / "part-00000.parquet")  # as if the first commit died after one move
    final = commit_output(str(out), "j", parts, "parquet", overwrite=True)
    assert len(final) == 3 and read_output(str(out)).num_rows == 6
    assert commit_output(str(out), "j", parts, "parquet", overwrite=True) == final  # and again: idempotent
    assert read_output(str(out)).num_rows == 6


def test_abort_leaves_old_output_exactly_as_it_was(tmp_path):
    out = tmp_path / "out"
    old = {0: write_part(sample(3), str(out), "old", 0, 0)}
    commit_output(str(out), "old", old, "parquet", overwrite=False)
    before = {p: (out / p).read_bytes() for p in listing(out)}
    write_part(sample(9), str(out), "new", 0, 0)
    write_part(sample(9), str(out), "new", 1, 0)
    abort_output(str(out), "new", created_dir=False)
    assert {p: (out / p).read_bytes() for p in listing(out)} == before
    assert read_output(str(out)).equals(sample(3))


def test_abort_removes_a_directory_the_job_created(tmp_path):
    out = tmp_path / "out"
    write_part(sample(1), str(out), "j", 0, 0)
    abort_output(str(out), "j", created_dir=True)
    assert not out.exists()
    # a directory someone else put files into meanwhile stays
    write_part(sample(1), str(out), "j", 0, 0)
    (out / "keep.txt").write_text("x")
    abort_output(str(out), "j", created_dir=True)
    assert listing(out) == ["keep.txt"]
    abort_output(str(tmp_path / "never-created"), "j", created_dir=True)  # nothing to do, no error


def test_read_output_errors_and_empty_output(tmp_path):
    with pytest.raises(UsageError, match="no such output directory"):
        read_output(str(tmp_path / "missing"))
    out = tmp_path / "out"
    commit_output(str(out), "j", {}, "parquet", overwrite=False)
    assert listing(out) == ["_SUCCESS"] and read_output(str(out)).num_rows == 0


def test_uri_output_and_view_types(tmp_path):
    out = f"file://{tmp_path}/out"
    table = pa.table({"s": pa.array(["a", "b"], pa.string_view())})
    parts = {0: write_part(table, out, "j", 0, 0, fmt="jsonl"), 1: write_part(table, out, "j", 1, 0, fmt="csv")}
    assert parts[0] == f"file://{tmp_path}/out/_temporary/j/part-00000-a0.jsonl"
    commit_output(out, "j", {0: parts[0]}, "jsonl", overwrite=False)
    assert read_output(out).to_pylist() == [{"s": "a"}, {"s": "b"}]
    with pytest.raises(UsageError, match="unknown output format"):
        write_part(table, out, "j", 0, 0, fmt="xml")


def test_jsonl_output_refuses_real_binary(tmp_path):
    with pytest.raises(UsageError, match="binary"):
        write_part(pa.table({"b": pa.array([b"\xff"])}), str(tmp_path / "o"), "j", 0, 0, fmt="jsonl")
    path = write_part(pa.table({"b": pa.array([b"text"])}), str(tmp_path / "o"), "j", 1, 0, fmt="jsonl")
    assert json.loads(open(path).read()) == {"b": "text"}


def test_a_commit_stops_before_its_first_change_once_its_check_raises(tmp_path):
    """The master's check (does this replica still hold its lease?) runs before every change to the directory."""
    out = tmp_path / "out"
    parts = {p: write_part(sample(2, offset=p), str(out), "j", p, 0) for p in range(3)}
    calls = []

    def check():
        calls.append(len(calls))
        if len(calls) > 2:
            raise RuntimeError("deposed")

    with pytest.raises(RuntimeError, match="deposed"):
        commit_output(str(out), "j", parts, "parquet", overwrite=False, check=check)
    assert sorted(f.name for f in out.iterdir()) == ["_temporary", "part-00000.parquet"]  # one move, no _SUCCESS
    final = commit_output(str(out), "j", parts, "parquet", overwrite=False)  # the next leader finishes it
    assert len(final) == 3 and read_output(str(out)).num_rows == 6
