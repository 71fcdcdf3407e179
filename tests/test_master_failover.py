"""The Paxos master group on a real Ray: kill the leader (mid-map, mid-reduce, three times), a follower, or two of
three replicas, and the job still commits the same output as without faults, re-running at most the attempts
that were in flight at each kill. Killed replicas are started again by their peers and reload their WALs."""

from __future__ import annotations

import time

import pytest
import ray

from framework.shuffle import fleet
from framework.client import plan_job
from framework.io import read_output
from framework.master.group import GroupClient, ensure_group, start_replica
from tests.conftest import text_files
from tests.oracles import as_counter, word_counts_of_files

SLOW_WORDCOUNT = '''
import time
import pyarrow as pa
from framework import Count, Job, Option, Text
from framework.text import words

class SlowWordCount(Job):
    """Word count whose map and reduce sleep, so a test can kill things mid-stage."""
    input = Text()
    key = "word"
    aggregate = {"count": Count()}
    options = [Option("--map-sleep", type=float, default=0.3), Option("--reduce-sleep", type=float, default=0.0)]

    def map(self, batch):
        time.sleep(self.args.map_sleep)
        return pa.table({"word": words(batch.column("line"))})

    def steps(self):
        step = super().steps()[0]
        if self.args.reduce_sleep:
            from framework.job import Step
            sleep = self.args.reduce_sleep
            def slow_identity(table):
                time.sleep(sleep)
                return table
            step.reduce = slow_identity
        return [step]
'''


@pytest.fixture(scope="module")
def group(ray_session):
    return GroupClient(ensure_group(3, fleet.get_stores(2)))


@pytest.fixture
def corpus(tmp_path):
    return text_files(tmp_path, 3, 4000, lambda i, j: f"alpha{j % 17} beta{(i + j) % 5} Ωmega{j % 3}\n")


def submit(group, job_file, corpus, out, args=()):
    job_id, spec = plan_job(job_file, corpus, str(out), args=list(args), cpus=2, split_size=12_000, partitions=4)
    assert group.call_leader("submit", job_id, spec) == {"ok": True}
    return job_id


def leader_index(group) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for i, h in enumerate(group.handles):
            try:
                if ray.get(h.info.remote(), timeout=5)["role"] == "leader":
                    return i
            except ray.exceptions.RayError:
                pass
        time.sleep(0.05)
    raise AssertionError("no leader")


def wait_until(group, job_id, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = group.call_job("status", job_id)
        if status and predicate(status):
            return status
        time.sleep(0.02)
    raise AssertionError(f"condition not reached: {status}")


def kill_leader(group) -> int:
    """ray.kill the leader, as a crash would; its peers start it again. Returns its index."""
    i = leader_index(group)
    ray.kill(group.handles[i])
    return i


def wait_restarted(group, i, timeout=60) -> dict:
    """Replica i's info once it runs again after a kill (a new incarnation, started by a peer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        handle = group.handles[i]
        try:
            info = ray.get(handle.info.remote(), timeout=5) if handle is not None else None
        except ray.exceptions.RayError:
            info = None
        if info and info["recreated"]:
            return info
        time.sleep(0.1)
    raise AssertionError(f"replica {i} was not started again")


def reruns(group, job_id) -> int:
    tasks = group.call_any("commands_of", job_id)
    return sum(t["launched"] - 1 for t in tasks.values())


SLOTS = 4  # attempts a leader keeps in flight on the 2-CPU test Ray (RayBackend.slots)


def finish_and_check(group, job_id, out, corpus, kills=0, done_before=None):
    """The job commits the fault-free output; no task finished before a kill ran again; the attempts re-run are
    exactly those in flight at leader changes (at most SLOTS each)."""
    try:
        status = group.wait(job_id, timeout=150)
    except Exception:
        for h in group.handles:  # what each replica thought, for the failure report
            try:
                print("replica", ray.get(h.info.remote(), timeout=5))
            except ray.exceptions.RayError as e:
                print("replica unreachable", e)
        raise
    assert status["status"] == "committed", status
    assert as_counter(read_output(str(out))) == word_counts_of_files(corpus)
    tasks = group.call_any("commands_of", job_id)
    for task, attempt in (done_before or {}).items():
        assert tasks[task]["done_attempt"] == attempt and tasks[task]["launched"] == attempt + 1, task
    assert reruns(group, job_id) == status["abandoned"]
    elections = [l for l in status["leaders"] if l["time"] >= (status.get("submitted") or 0)]
    assert status["abandoned"] <= SLOTS * max(kills, len(elections))
    return status


def done_tasks(group, job_id) -> dict:
    return {t: v["done_attempt"] for t, v in group.call_any("commands_of", job_id).items() if v["done_attempt"] is not None}


def test_kill_leader_mid_map(group, job_file, corpus, tmp_path):
    job_id = submit(group, job_file, corpus, tmp_path / "out")
    wait_until(group, job_id, lambda s: s["phase"] == "map" and s["tasks_done"] >= 2)
    before = len(group.call_any("info")["leaders"])
    done = done_tasks(group, job_id)
    killed = kill_leader(group)
    status = finish_and_check(group, job_id, tmp_path / "out", corpus, kills=1, done_before=done)
    assert len(status["leaders"]) > before, "a new leader took over"
    info = wait_restarted(group, killed)
    assert not info["recovering"], "started on its node again, it reloaded its WAL (no lost-disk recovery)"


def test_kill_leader_mid_reduce(group, job_file, corpus, tmp_path):
    job_id = submit(group, job_file, corpus, tmp_path / "out", ["--map-sleep", "0", "--reduce-sleep", "0.5"])
    wait_until(group, job_id, lambda s: s["phase"] == "reduce" and s["running"] >= 1)
    done = done_tasks(group, job_id)
    kill_leader(group)
    finish_and_check(group, job_id, tmp_path / "out", corpus, kills=1, done_before=done)


def test_kill_a_follower(group, job_file, corpus, tmp_path):
    job_id = submit(group, job_file, corpus, tmp_path / "out")
    wait_until(group, job_id, lambda s: s["tasks_done"] >= 1)
    follower = (leader_index(group) + 1) % len(group.handles)
    ray.kill(group.handles[follower])
    finish_and_check(group, job_id, tmp_path / "out", corpus)  # no leader change: nothing runs twice
    wait_restarted(group, follower)


def test_kill_the_leader_three_times(group, job_file, corpus, tmp_path):
    job_id = submit(group, job_file, corpus, tmp_path / "out", ["--map-sleep", "0.4"])
    for n in (1, 3, 5):
        wait_until(group, job_id, lambda s, d=n: s["all_done"] >= d or s["status"] != "running")
        done = done_tasks(group, job_id)
        kill_leader(group)
    finish_and_check(group, job_id, tmp_path / "out", corpus, kills=3, done_before=done)


def test_two_of_three_dead_pauses_then_resumes_from_the_wal(group, job_file, corpus, tmp_path):
    job_id = submit(group, job_file, corpus, tmp_path / "out")
    wait_until(group, job_id, lambda s: s["tasks_done"] >= 1)
    info = group.call_any("info")
    survivor = leader_index(group)
    dead = [i for i in range(len(group.handles)) if i != survivor]
    handles = group.handles
    ray.get(handles[survivor].set_healing.remote(False))  # so the two stay dead until this test starts them
    try:
        for i in dead:
            ray.kill(handles[i])  # no majority is left
        time.sleep(1.5)
        stalled = ray.get(handles[survivor].status.remote(job_id))
        assert stalled["status"] == "running", "without a majority the job must pause, not fail or commit"
        assert not (tmp_path / "out" / "_SUCCESS").exists()
        # bring one replica back under its old name: it reloads its WAL from disk and restores the majority
        back = start_replica(dead[0], info["replica_ids"], info["group"], fleet.get_stores(2), recreated=True)
        assert not ray.get(back.info.remote())["recovering"], "it found its WAL"
        finish_and_check(group, job_id, tmp_path / "out", corpus)
    finally:
        ray.get(handles[survivor].set_healing.remote(True))
        # and the last one, so later tests have all three
        start_replica(dead[1], info["replica_ids"], info["group"], fleet.get_stores(2), recreated=True)
        wait_restarted(group, dead[1])
