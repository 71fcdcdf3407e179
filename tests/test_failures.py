"""Failures: retried attempts count once, a job that keeps failing names the step and split, and a failed job
leaves its output directory exactly as it was."""

from __future__ import annotations

import os
import textwrap

import pytest

from framework.client import run
from framework.errors import JobFailed, UsageError

FLAKY = '''
import os
import zlib
import pyarrow as pa
import pyarrow.compute as pc
from framework import Count, Job, Option, Text

class Flaky(Job):
    """Counts lines per first letter; the map fails on the first attempt of every split whose marker is missing."""
    input = Text()
    key = "letter"
    aggregate = {"n": Count()}
    options = [Option("--marker-dir"), Option("--always-fail", action="store_true"),
               Option("--crash", action="store_true", help="kill the worker process instead of raising")]

    def map(self, batch):
        if self.args.always_fail:
            raise ValueError("this split is cursed")
        marker = os.path.join(self.args.marker_dir, str(zlib.crc32(batch.column("line")[0].as_py().encode())))
        if not os.path.exists(marker):
            open(marker, "w").close()
            if self.args.crash:
                os._exit(1)  # the worker process dies mid-task, as on a machine fault
            raise RuntimeError("transient failure")
        self.increment("lines", batch.num_rows)
        return pa.table({"letter": pc.utf8_slice_codeunits(batch.column("line"), 0, 1)})
'''


@pytest.fixture
def flaky_job(tmp_path):
    path = tmp_path / "flaky.py"
    path.write_text(textwrap.dedent(FLAKY))
    return str(path)


@pytest.fixture
def lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("".join(f"{chr(97 + i % 5)}line {i}\n" for i in range(5000)))
    return str(path)


@pytest.mark.parametrize("crash", [False, True], ids=["raise", "worker-dies"])
def test_retried_attempts_count_once(tmp_path, flaky_job, lines, crash, ray_session):
    markers = tmp_path / "markers"
    markers.mkdir()
    result = run(flaky_job, lines, str(tmp_path / "out"), args=["--marker-dir", str(markers)] + ["--crash"] * crash,
                 split_size=8192)
    counts = dict(zip(*result.read().sort_by("letter").to_pydict().values()))
    assert counts == {c: 1000 for c in "abcde"}
    assert result.counters == {"lines": 5000}  # the failed first attempts never counted
    assert len(os.listdir(markers)) > 1


def test_exhausted_retries_fail_the_job_and_keep_old_output(tmp_path, flaky_job, lines, ray_session):
    out = tmp_path / "out"
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"old output")
    (out / "_SUCCESS").write_text("")
    before = sorted(os.listdir(out))
    with pytest.raises(JobFailed) as info:
        run(flaky_job, lines, str(out), args=["--marker-dir", str(tmp_path), "--always-fail"], overwrite=True,
            max_attempts=2)
    message = str(info.value)
    assert "this split is cursed" in message and "after 2 attempts" in message
    assert "in.txt" in message and "step 0, map over" in message  # names the step and the split
    assert "ValueError" in info.value.details and "raise ValueError" in info.value.details  # the user's traceback
    assert sorted(os.listdir(out)) == before and (out / "part-00000.parquet").read_bytes() == b"old output"


def test_failed_job_into_new_directory_leaves_nothing(tmp_path, flaky_job, lines, ray_session):
    out = tmp_path / "fresh"
    with pytest.raises(JobFailed):
        run(flaky_job, lines, str(out), args=["--marker-dir", str(tmp_path), "--always-fail"], max_attempts=1)
    assert not out.exists()


def test_inline_executor_raises_the_users_own_exception(tmp_path, flaky_job, lines):
    with pytest.raises(ValueError, match="this split is cursed"):
        run(flaky_job, lines, str(tmp_path / "out"), args=["--marker-dir", str(tmp_path), "--always-fail"],
            executor="inline")
    assert not (tmp_path / "out").exists()


def test_missing_key_column_is_a_usage_error(tmp_path, lines):
    job = tmp_path / "nokey.py"
    job.write_text(textwrap.dedent('''
        import pyarrow as pa
        from framework import Count, Job
        class NoKey(Job):
            key = "word"
            aggregate = {"n": Count()}
            def map(self, batch):
                return pa.table({"other": batch.column("line")})
    '''))
    with pytest.raises(UsageError, match="no key column 'word'"):
        run(str(job), lines, str(tmp_path / "out"), executor="inline")
