"""Nothing lost when everything dies: a `paxflow up` service is killed whole mid-job (SIGKILL of its keeper, GCS,
raylet, workers and actors at once: a power cut as far as Ray can tell), and a later `paxflow up` of the same
service recovers the master group from its WALs and the stores from their files, then resumes the job.

Checked on real processes: the maps whose pieces came back do not run again, the output equals the oracle's, the
`_SUCCESS` marker is written once, `paxflow wait JOB` from a new process exits 0, and the counters count once. A
job whose input changed while the service was down fails with a message naming the file, leaving no part file.
`paxflow down` with a job running keeps it for the next `up`; `paxflow down --forget` clears the state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import slow_job_and_corpus, text_files
from tests.oracles import as_counter, word_counts_of_files
from tests.test_service import alive, paxflow, wait_for

pytestmark = pytest.mark.timeout(300)

COUNTING_JOB = '''
import time
import pyarrow as pa
from framework import Count, Job, Option, Text
from framework.text import words

class CountingWordCount(Job):
    """A slow word count that counts its lines in a user counter."""
    input = Text()
    key = "word"
    aggregate = {"count": Count()}
    options = [Option("--map-sleep", type=float, default=0.3)]

    def map(self, batch):
        time.sleep(self.args.map_sleep)
        self.increment("lines", batch.num_rows)
        return pa.table({"word": words(batch.column("line"))})
'''

COMMANDS = '''
import json, sys
from framework import cluster
from framework.master.group import find_master_group
cluster.ensure_ray(sys.argv[1])
print(json.dumps(find_master_group().call_any("commands_of", sys.argv[2])))
'''


@pytest.fixture
def env(tmp_path) -> dict:
    cache = tmp_path / "cache"
    cache.mkdir()
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", PAXFLOW_CACHE=str(cache),
               PAXFLOW_SPILL_DIR=str(tmp_path / "spill"))
    env.pop("RAY_ADDRESS", None)
    env.pop("PAXFLOW_STATE", None)
    yield env
    paxflow("down", "--forget", env=env)


def _record(env: dict) -> dict:
    with open(os.path.join(env["PAXFLOW_CACHE"], "service.json")) as f:
        return json.load(f)


def _status(env: dict, job_id: str) -> dict:
    done = paxflow("status", job_id, "--json", env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["jobs"][0]


def _tasks(env: dict, job_id: str) -> dict:
    done = subprocess.run([sys.executable, "-c", COMMANDS, _record(env)["address"], job_id], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _maps(tasks: dict) -> dict:
    return {t: v for t, v in tasks.items() if "m" in t.split("s", 1)[1]}


def _submit(env: dict, job: str, files: list[str], out, *options: str) -> str:
    done = paxflow("run", job, *files, "-o", str(out), "--detach", "--split-size", "12000", "--partitions", "4",
                   *options, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def _power_cut(env: dict) -> None:
    """SIGKILL the keeper and every process of its Ray session, at once; nothing gets to clean up."""
    from framework.cluster import session_processes

    record = _record(env)
    pids = {int(record["keeper_pid"]), *session_processes(record["session_dir"])}
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(lambda: not alive(pids), 30, "every process of the service to die")


def test_a_service_killed_whole_mid_job_resumes_it_on_the_next_up(tmp_path, env):
    _, files = slow_job_and_corpus(tmp_path, lambda i, j: f"rho{j % 23} sigma{(i + j) % 7} Ωmega{j % 4}\n")
    job = str(tmp_path / "counting_wordcount.py")
    with open(job, "w") as f:
        f.write(COUNTING_JOB)
    changed_dir = tmp_path / "changed"
    changed_dir.mkdir()
    changing = text_files(changed_dir, 2, 3000, lambda i, j: f"tau{j % 11} upsilon{i}\n")
    up = paxflow("up", env=env)
    assert up.returncode == 0, up.stderr[-3000:]

    out, out_changed = tmp_path / "out", tmp_path / "out-changed"
    job_id = _submit(env, job, files, out, "--map-sleep", "0.4")
    changed_id = _submit(env, job, changing, out_changed, "--map-sleep", "1.0")
    wait_for(lambda: _status(env, job_id)["all_done"] >= 4, 120, "four maps of the job to finish", step=0.3)
    before = _maps(_tasks(env, job_id))  # maps that end between this look and the cut count as not done
    _power_cut(env)
    done_before = {t for t, v in before.items() if v["done_attempt"] is not None}
    assert len(done_before) >= 4
    for path in changing:  # the second job's input changes while everything is down
        with open(path, "a") as f:
            f.write("a line added while the service was down\n")

    up = paxflow("up", env=env)
    assert up.returncode == 0, up.stderr[-3000:]
    assert "resumed" in up.stdout and job_id in up.stdout, up.stdout

    waited = paxflow("wait", job_id, "--json", env=env, timeout=200)  # a new process, after the restart
    assert waited.returncode == 0, waited.stdout[-2000:] + waited.stderr[-3000:]
    summary = json.loads(waited.stdout.strip().splitlines()[-1])
    assert summary["status"] == "committed"
    from framework.io import read_output

    assert as_counter(read_output(str(out))) == word_counts_of_files(files)
    assert (out / "_SUCCESS").read_text() == f"{job_id}\n"
    assert not (out / "_temporary").exists()

    after = _maps(_tasks(env, job_id))
    rerun = sorted(t for t in done_before if after[t]["launched"] != before[t]["launched"])
    assert not rerun, f"maps done before the cut ran again: {rerun}"
    assert all(v["done_attempt"] is not None for v in after.values())
    relaunched = sorted(t for t in before if after[t]["launched"] > before[t]["launched"])
    assert relaunched, "the cut fell after the last map: nothing was resumed mid-map"
    lines = sum(1 for path in files for _ in open(path))
    assert summary["counters"] == {"lines": lines}, summary  # each line counted once, resumed or not
    print(f"resume: {len(done_before)} of {len(before)} maps were done at the cut, none ran again; "
          f"{len(relaunched)} ran after the restart; output equals the oracle")

    failed = paxflow("wait", changed_id, "--json", env=env, timeout=200)
    assert failed.returncode != 0
    text = failed.stdout + failed.stderr
    assert "changed after the job was planned" in text and ("in0.txt" in text or "in1.txt" in text), text[-2000:]
    assert not list(out_changed.glob("part-*")) and not (out_changed / "_SUCCESS").exists()

    # a clean `down` with a job running keeps it, and the next `up` resumes it
    again = tmp_path / "out-again"
    kept_id = _submit(env, job, files, again, "--map-sleep", "0.2")
    down = paxflow("down", env=env)
    assert down.returncode == 0 and kept_id in down.stdout and "kept" in down.stdout, down.stdout + down.stderr
    up = paxflow("up", env=env)
    assert up.returncode == 0 and kept_id in up.stdout, up.stdout + up.stderr[-2000:]
    waited = paxflow("wait", kept_id, env=env, timeout=200)
    assert waited.returncode == 0, waited.stdout[-2000:] + waited.stderr[-2000:]
    assert as_counter(read_output(str(again))) == word_counts_of_files(files)

    down = paxflow("down", "--forget", env=env)
    assert down.returncode == 0, down.stderr
    state = os.path.join(env["PAXFLOW_CACHE"], "state", "svc-default")
    assert not os.path.exists(state), os.listdir(state)
    assert not os.path.exists(os.path.join(env["PAXFLOW_SPILL_DIR"], "svc-default"))
    # (nothing is left to resume from: the WALs and the pieces are gone, checked above, so no `up` again here)
