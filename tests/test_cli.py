"""The command line: summaries, JSON, exit codes, and a one-line message (exit 2) for every kind of bad input."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from framework.cli import main

ROOT = os.path.join(os.path.dirname(__file__), "..")
WORDCOUNT = os.path.join(ROOT, "jobs", "wordcount.py")
JOIN = os.path.join(ROOT, "jobs", "join.py")


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def text(tmp_path):
    p = tmp_path / "in.txt"
    p.write_text("the cat and the hat\nThe end\n")
    return str(p)


def one_line_error(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


def test_run_json_summary(tmp_path, text, capsys, ray_session):
    code, out, err = cli(capsys, "run", WORDCOUNT, text, "-o", str(tmp_path / "out"), "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    for field in ("job_id", "wall_s", "startup_s", "input_bytes", "output_rows", "counters"):
        assert field in summary
    assert summary["output_rows"] == 5 and summary["input_bytes"] == os.path.getsize(text)
    assert os.path.exists(tmp_path / "out" / "_SUCCESS")


def test_run_without_output_prints_the_table(text, capsys, ray_session):
    code, out, err = cli(capsys, "run", WORDCOUNT, text)
    assert code == 0, err
    assert "the" in out and "hat" in out and "committed" in out


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_output_formats(tmp_path, text, capsys, fmt):
    code, _, err = cli(capsys, "run", WORDCOUNT, text, "-o", str(tmp_path / fmt), "--format", fmt, "--inline")
    assert code == 0, err
    parts = [f for f in os.listdir(tmp_path / fmt) if f.startswith("part-")]
    assert parts and all(f.endswith("." + fmt) for f in parts)


def test_existing_output_is_refused_then_overwritten(tmp_path, text, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = cli(capsys, "run", WORDCOUNT, text, "-o", str(out), "--inline")
    assert code == 2 and "--overwrite" in one_line_error(err)
    code, _, err = cli(capsys, "run", WORDCOUNT, text, "-o", str(out), "--inline", "--overwrite")
    assert code == 0, err
    assert (out / "_SUCCESS").exists()


def bad_inputs(tmp_path):
    bad_utf8 = tmp_path / "bad.txt"
    bad_utf8.write_bytes(b"fine line\nsecond \xff\xfe line\n")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("id,v\n1,a\n2,b,extra\n3,c\n")
    p1, p2 = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1], "v": ["x"]}), p1)
    pq.write_table(pa.table({"id": ["1"], "v": ["x"]}), p2)
    syntax = tmp_path / "syntax.py"
    syntax.write_text("from framework import Job\nclass J(Job)\n    pass\n")
    nojob = tmp_path / "nojob.py"
    nojob.write_text("x = 1\n")
    gz = tmp_path / "bad.txt.gz"
    gz.write_bytes(gzip.compress(b"ok\n\xc3\x28\n"))
    return {
        "missing path": (["run", WORDCOUNT, str(tmp_path / "nope.txt")], ["nope.txt"]),
        "empty glob": (["run", WORDCOUNT, str(tmp_path / "*.nothing")], ["*.nothing"]),
        "invalid utf-8": (["run", WORDCOUNT, str(bad_utf8)], ["bad.txt", "offset 17"]),
        "invalid utf-8 gz": (["run", WORDCOUNT, str(gz)], ["bad.txt.gz", "offset 3"]),
        "csv field count": (["run", JOIN, "--input", f"left={bad_csv}", "--input", f"right={bad_csv}", "--on", "id"],
                            ["bad.csv", "line 3"]),
        "parquet schema mismatch": (["run", JOIN, "--input", f"left={p1}", "--input", f"left={p2}",
                                     "--input", f"right={p1}", "--on", "id"], ["a.parquet", "b.parquet"]),
        "syntax error": (["run", str(syntax), "x.txt"], ["syntax.py", "line 2"]),
        "no job class": (["run", str(nojob), "x.txt"], ["nojob.py", "no job"]),
        "unknown option": (["run", WORDCOUNT, "x.txt", "--frobnicate"], ["--frobnicate"]),
        "unknown job option value": (["run", JOIN, "--input", f"left={p1}", "--input", f"right={p1}", "--on", "id",
                                      "--how", "sideways"], ["sideways"]),
        "missing named input": (["run", JOIN, "--input", f"left={p1}", "--on", "id"], ["right"]),
    }


@pytest.mark.parametrize("case", [
    "missing path", "empty glob", "invalid utf-8", "invalid utf-8 gz", "csv field count", "parquet schema mismatch",
    "syntax error", "no job class", "unknown option", "unknown job option value", "missing named input"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, case, ray_session):
    argv, needles = bad_inputs(tmp_path)[case]
    out_dir = tmp_path / "out"
    code, out, err = cli(capsys, *argv, "-o", str(out_dir))
    assert code == 2, (case, out, err)
    line = one_line_error(err)
    for needle in needles:
        assert needle in line, (case, line)
    assert not out_dir.exists(), "bad input must leave no output behind"


def test_console_script_usage_error_exits_2_without_starting_ray(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "framework.cli", "run", WORDCOUNT, str(tmp_path / "missing.txt")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "missing.txt" in one_line_error(proc.stderr)


def test_help_lists_job_options(capsys):
    code, out, _ = cli(capsys, "run", JOIN, "--help")
    assert code == 0 and "--how" in out and "--on" in out and "--overwrite" in out


def test_job_module_runs_by_itself(tmp_path, text):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, WORDCOUNT, text, "-o", str(out), "--inline", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["output_rows"] == 5
    assert (out / "_SUCCESS").exists()


def test_json_failure_is_the_last_line(tmp_path, capsys):
    code, out, err = cli(capsys, "run", WORDCOUNT, str(tmp_path / "missing"), "--json")
    assert code == 2
    last = json.loads(out.strip().splitlines()[-1])
    assert last["status"] == "usage_error" and "missing" in last["error"]


def test_a_second_interrupt_exits_at_once():
    """The first Ctrl-C raises (the client then cancels its job, which takes a moment); a second one, while that
    runs, ends the process at once with 130."""
    code = ("import os, signal, time\n"
            "from framework.cli import _catch_interrupts\n"
            "_catch_interrupts()\n"
            "try:\n"
            "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
            "except KeyboardInterrupt:\n"
            "    print('cancelling', flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    time.sleep(30)  # a slow cancel: never waited out\n"
            "print('not reached')\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert done.returncode == 130, done.stderr
    assert done.stdout.strip() == "cancelling"
    assert time.monotonic() - started < 10


def test_explain_prints_the_plan_and_runs_nothing(tmp_path, capsys):
    left, right = tmp_path / "facts.csv", tmp_path / "dims.csv"
    left.write_text("id,x\n" + "".join(f"{i % 7},{i}\n" for i in range(100)))
    right.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(7)))
    out = tmp_path / "out"
    args = ["run", JOIN, "--input", f"left={left}", "--input", f"right={right}", "--on", "id", "-o", str(out),
            "--explain"]
    code, text_out, err = cli(capsys, *args)
    assert code == 0, err
    assert "broadcast inner join" in text_out and "no shuffle: each map task writes its output part" in text_out
    code, text_out, err = cli(capsys, *args, "--broadcast-limit", "0", "--how", "left")
    assert code == 0, err
    assert "broadcast limit off" in text_out and "shuffle left join" in text_out
    assert not out.exists()  # nothing ran
    code, _, err = cli(capsys, *args, "--broadcast-limit", "lots")
    assert code == 2 and "--broadcast-limit" in one_line_error(err)
