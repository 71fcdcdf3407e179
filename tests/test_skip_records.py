"""Skipping bad records end to end: `--skip-bad-records N` (or a job's `skip_bad_records`) lets a job go past up
to N malformed records in all, counts them in `skipped_records`, lists the first 10 as file:line with the reason,
and fails past N naming the record that tipped it over; a retried task counts its skips once. Run on the shared
Ray (map tasks on real workers, the master group's state) and through the CLI.

The readers' own rules (which records are bad, line numbers at split boundaries) are tested in test_io_skip.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from framework.client import run
from framework.errors import JobFailed, UsageError
from tests.oracles import as_counter, word_counts_of_text

pytestmark = pytest.mark.timeout(120)

BAD = b"caf\xe9 au lait\n"  # Latin-1, not UTF-8


def _corpus(tmp_path, bad_lines: dict[int, list[int]], files: int = 3, lines: int = 400) -> tuple[list[str], str]:
    """`files` text files; file i has a non-UTF-8 line at each line number (1-based) in bad_lines[i]. Returns the
    paths and the good text (what the oracle counts)."""
    paths, good = [], []
    for i in range(files):
        rows = []
        for j in range(1, lines + 1):
            if j in bad_lines.get(i, []):
                rows.append(BAD)
            else:
                line = f"w{j % 13} file{i} ünï{j % 3}\n"
                rows.append(line.encode())
                good.append(line)
        path = tmp_path / f"in{i}.txt"
        path.write_bytes(b"".join(rows))
        paths.append(str(path))
    return paths, "".join(good)


def test_bad_lines_are_skipped_counted_and_listed(tmp_path, ray_session):
    files, good = _corpus(tmp_path, {0: [1, 200], 2: [400]})  # first, middle and last lines
    result = run("jobs/wordcount.py", files, str(tmp_path / "out"), split_size=2000, skip_bad_records=3)
    assert as_counter(result.read()) == word_counts_of_text(good)
    assert result.counters["skipped_records"] == 3
    assert [r.split(": ", 1)[0] for r in result.skipped_records] == [f"{files[0]}:1", f"{files[0]}:200",
                                                                     f"{files[2]}:400"]
    assert all("invalid UTF-8" in r for r in result.skipped_records)
    assert result.summary()["skipped_records"] == result.skipped_records


def test_past_the_limit_the_job_fails_naming_the_record_and_leaves_no_output(tmp_path, ray_session):
    files, _ = _corpus(tmp_path, {0: [5], 1: [7], 2: [9]})  # one per file: each task stays within 2 by itself
    out = tmp_path / "out"
    with pytest.raises(JobFailed) as failed:
        run("jobs/wordcount.py", files, str(out), split_size=2000, skip_bad_records=2)
    message = str(failed.value)
    assert "bad record 3" in message and "skips at most 2" in message, message
    assert any(f"{path}:{line}" in message for path, line in zip(files, (5, 7, 9))), message
    assert failed.value.exit_code == 2
    assert not out.exists() or not list(out.rglob("part-*"))


def test_one_task_past_the_limit_names_its_record(tmp_path, ray_session):
    files, _ = _corpus(tmp_path, {1: [3, 4, 5]}, files=2)
    with pytest.raises(JobFailed, match=r"in1\.txt, line 5, byte offset 61: invalid UTF-8.*bad record 3; the job skips at most 2"):
        run("jobs/wordcount.py", files, str(tmp_path / "out"), skip_bad_records=2)


FLAKY_SKIPPING = '''
import os
import zlib
import pyarrow as pa
from framework import Count, Job, Option, Text
from framework.text import words

class FlakyWordCount(Job):
    """Word count whose first attempt at each split fails after reading it (bad records and all)."""
    input = Text()
    key = "word"
    aggregate = {"count": Count()}
    skip_bad_records = 10
    options = [Option("--marker-dir")]

    def map(self, batch):
        marker = os.path.join(self.args.marker_dir, str(zlib.crc32(batch.column("line")[0].as_py().encode())))
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("transient failure")
        return pa.table({"word": words(batch.column("line"))})
'''


def test_a_retried_task_counts_its_skips_once_and_the_job_attribute_sets_the_limit(tmp_path, ray_session):
    job = tmp_path / "flaky.py"
    job.write_text(textwrap.dedent(FLAKY_SKIPPING))
    (tmp_path / "markers").mkdir()
    files, good = _corpus(tmp_path, {0: [2, 3], 1: [100]})
    result = run(str(job), files, str(tmp_path / "out"), split_size=3000,
                 args=["--marker-dir", str(tmp_path / "markers")])
    assert as_counter(result.read()) == word_counts_of_text(good)
    assert result.counters == {"skipped_records": 3}  # every task ran twice, its skips count once


CSV_JOB = '''
import pyarrow as pa
from framework import Csv, Job, Sum

class Totals(Job):
    input = Csv(column_types={"n": pa.int64()})
    key = "k"
    aggregate = {"total": Sum("n")}
'''

JSON_JOB = '''
from framework import Job, JsonLines, Sum

class Totals(Job):
    input = JsonLines(schema={"k": "string", "n": "int64"})
    key = "k"
    aggregate = {"total": Sum("n")}
'''


def _totals(result) -> dict:
    table = result.read()
    return dict(zip(table["k"].to_pylist(), table["total"].to_pylist()))


def test_csv_rows_with_wrong_fields_or_bad_values_and_bad_json_lines(tmp_path, ray_session):
    csv_job, json_job = tmp_path / "csv_job.py", tmp_path / "json_job.py"
    csv_job.write_text(CSV_JOB)
    json_job.write_text(JSON_JOB)
    data = tmp_path / "t.csv"
    data.write_text("k,n\na,1\nb,2,extra\na,3\nb,x\nb,4\n")
    result = run(str(csv_job), [str(data)], str(tmp_path / "csv-out"), skip_bad_records=2)
    assert _totals(result) == {"a": 4, "b": 4}
    assert result.counters["skipped_records"] == 2
    assert [r.split(": ", 1)[0] for r in result.skipped_records] == [f"{data}:3", f"{data}:5"]

    lines = tmp_path / "t.jsonl"
    lines.write_text('{"k": "a", "n": 1}\n{"k": "a", "n": \n{"k": "b", "n": 5}\nnot json\n')
    result = run(str(json_job), [str(lines)], str(tmp_path / "json-out"), skip_bad_records=5)
    assert _totals(result) == {"a": 1, "b": 5}
    assert [r.split(": ", 1)[0] for r in result.skipped_records] == [f"{lines}:2", f"{lines}:4"]
    with pytest.raises(UsageError, match=r"t\.jsonl, line 2"):  # the default: the first bad record fails
        run(str(json_job), [str(lines)], str(tmp_path / "json-out-2"), executor="inline")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_the_cli_lists_the_skipped_records_and_fails_by_default(tmp_path):
    files, _ = _corpus(tmp_path, {0: list(range(1, 13))}, files=1)
    done = _cli("run", "jobs/wordcount.py", files[0], "-o", str(tmp_path / "a"), "--inline",
                "--skip-bad-records", "20")
    assert done.returncode == 0, done.stderr
    assert "skipped 12 bad record(s), the first 10:" in done.stdout
    assert f"  {files[0]}:10: invalid UTF-8" in done.stdout and f"{files[0]}:11:" not in done.stdout
    done = _cli("run", "jobs/wordcount.py", files[0], "-o", str(tmp_path / "b"), "--inline",
                "--skip-bad-records", "20", "--json")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["counters"]["skipped_records"] == 12 and len(summary["skipped_records"]) == 10
    done = _cli("run", "jobs/wordcount.py", files[0], "-o", str(tmp_path / "c"), "--inline")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"paxflow: error: {files[0]}, byte offset 3: invalid UTF-8")
    done = _cli("run", "jobs/wordcount.py", files[0], "-o", str(tmp_path / "d"), "--inline",
                "--skip-bad-records", "-1")
    assert done.returncode == 2 and "--skip-bad-records must be a whole number" in done.stderr
