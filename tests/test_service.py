"""The service life-cycle, as a user drives it: `paxflow up`, `run`, `down` and interrupts, each a separate CLI
process, on real Ray processes (no mocks).

- `up`, then two `run`s that join the service (no Ray start of their own), then `down`: no Ray process is left.
- Interrupts: SIGINT and SIGTERM cancel the job (exit 130 / 143, one line naming the job) and leave its output
  directory as it was; a one-shot run leaves no process behind.
- On a `ray start` cluster, task workers live on across jobs from new client processes: the first client starts a
  keeper that owns the master group, and no worker is started or killed during a later job.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import text_files

pytestmark = pytest.mark.timeout(240)

ENV_BASE = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def _env(cache) -> dict:
    env = dict(os.environ, **ENV_BASE, PAXFLOW_CACHE=str(cache))
    env.pop("RAY_ADDRESS", None)
    return env


def paxflow(*args: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def summary_of(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (its Ray: GCS, raylet, workers, agents)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def wait_for(condition, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def slow_job(tmp_path) -> tuple[str, list[str]]:
    from tests.test_master_failover import SLOW_WORDCOUNT
    import textwrap

    job = tmp_path / "slow_wordcount.py"
    job.write_text(textwrap.dedent(SLOW_WORDCOUNT))
    return str(job), text_files(tmp_path, 4, 3000, lambda i, j: f"w{i} x{j % 97} common line {j}\n")


def submitted(cache, job_id: str) -> bool:
    """The job's JobSubmitted is in a master replica's WAL (the master group has accepted it)."""
    state = os.path.join(str(cache), "state")
    for root, _, names in os.walk(state):
        for name in names:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    if job_id.encode() in f.read():
                        return True
            except OSError:
                continue
    return False


def ray_worker_pids() -> set[int]:
    """Task worker processes on this machine (Ray titles them ray::IDLE between tasks, ray::run_task in one)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                title = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if title.startswith(("ray::IDLE", "ray::run_task", "ray::warm_worker")):
                pids.add(int(entry))
    return pids


@pytest.fixture
def cache(tmp_path):
    path = tmp_path / "cache"
    path.mkdir()
    return path


def test_up_run_down_as_separate_processes_and_an_interrupt_cancels_only_its_job(tmp_path, cache):
    env = _env(cache)
    files = text_files(tmp_path, 2, 2000, lambda i, j: f"alpha beta{j % 7} gamma\n")
    down = paxflow("down", env=env)
    assert down.returncode == 0 and "no Paxflow service is up" in down.stdout
    up = paxflow("up", "--stores", "1", env=env)
    assert up.returncode == 0, up.stderr[-3000:]
    assert "service up" in up.stdout and "paxflow down" in up.stdout
    record = json.loads((cache / "service.json").read_text())
    keeper = record["keeper_pid"]
    try:
        again = paxflow("up", env=env)  # twice is harmless
        assert again.returncode == 0 and "already up" in again.stdout
        first = summary_of(paxflow("run", "jobs/wordcount.py", *files, "-o", str(tmp_path / "o1"), "--json",
                                   env=env))
        second = summary_of(paxflow("run", "jobs/wordcount.py", *files, "-o", str(tmp_path / "o2"), "--json",
                                    env=env))
        assert first["service"] and second["service"], "run must pick up the service"
        assert first["startup_s"] < 3 and second["startup_s"] < 3  # joined, not started, a Ray
        assert first["output_rows"] == second["output_rows"] == 9
        assert first["leader_changes"] == [] and second["leader_changes"] == []
        assert set(second["worker_pids"]) <= set(first["worker_pids"]) | set(record["warm_workers"])
        status = paxflow("status", env=env)
        assert status.returncode == 0 and "leader" in status.stdout, status.stderr
        # on the same service (one up/down less for the suite): an interrupted run cancels only its job
        _interrupt_a_job_on_the_service(tmp_path, cache, env)
        ray_processes = descendants(keeper)
        assert ray_processes, "the keeper owns the local Ray"
    finally:
        down = paxflow("down", env=env)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stderr
    wait_for(lambda: not alive(ray_processes | {keeper}), 20, "the service's processes to be gone")
    assert not (cache / "service.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_cancels_a_one_shot_run(tmp_path, cache, signum):
    env = _env(cache)
    job, files = slow_job(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("was here before")
    job_id = f"interrupt-{int(signum)}"
    proc = subprocess.Popen([sys.executable, "-m", "framework.cli", "run", job, *files, "-o", str(out), "--overwrite",
                             "--job-id", job_id, "--map-sleep", "2", "--split-size", "20000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: submitted(cache, job_id), 120, "the job to be submitted")
        time.sleep(0.5)  # its first maps run
        tree = descendants(proc.pid)
        assert tree, "a one-shot run starts its own Ray"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("paxflow:")]
    assert len(lines) == 1 and job_id in lines[0] and "output directory is as it was" in lines[0], err[-3000:]
    assert "SIGTERM received" not in err and "PC: @" not in err  # no fatal-signal dump
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    wait_for(lambda: not alive(tree), 10, "every process of the one-shot run to be gone")


def _interrupt_a_job_on_the_service(tmp_path, cache, env: dict) -> None:
    """SIGTERM to a `paxflow run` on the service cancels its job (nothing written), and the service stays up and
    runs the next job."""
    job, files = slow_job(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "framework.cli", "run", job, *files, "-o", str(out),
                             "--job-id", "on-service", "--map-sleep", "2", "--split-size", "20000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: submitted(cache, "on-service"), 60, "the job to be submitted")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert "on-service cancelled" in err
    assert not out.exists() or not any(out.iterdir())
    status = paxflow("status", "on-service", "--json", env=env)
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout.strip().splitlines()[-1])
    assert shown["jobs"][0]["status"] == "cancelled"
    assert shown["service"]["keeper_pid"] > 0
    files2 = text_files(tmp_path / "..", 1, 100, lambda i, j: "one two\n")
    again = summary_of(paxflow("run", "jobs/wordcount.py", *files2, "-o", str(tmp_path / "o3"), "--json", env=env))
    assert again["service"] and again["output_rows"] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_workers_live_on_across_clients_of_a_ray_start_cluster(tmp_path, cache):
    """A `ray start --head` cluster; three word counts, each from a new client process. The first client finds no
    master group and starts a keeper, which owns it; the later jobs run on the same task worker processes, and no
    worker is started or killed while one runs."""
    env = _env(cache)
    port = _free_port()
    start_env = dict(env, RAY_num_workers_soft_limit="32")
    started = subprocess.run(["ray", "start", "--head", "--port", str(port), "--num-cpus", "2",
                              "--node-ip-address", "127.0.0.1", "--include-dashboard=false",
                              "--disable-usage-stats"], capture_output=True, text=True, env=start_env, timeout=120)
    assert started.returncode == 0, started.stderr[-3000:]
    address = f"127.0.0.1:{port}"
    found = subprocess.run([sys.executable, "-c", "import ray; from framework import cluster; "
                            "cluster.ensure_ray(%r); print(ray._private.worker._global_node.get_session_dir_path())"
                            % address], capture_output=True, text=True, env=env, timeout=120)
    session = (found.stdout.strip().splitlines() or [""])[-1]
    try:
        assert session, found.stderr[-3000:]
        files = text_files(tmp_path, 4, 3000, lambda i, j: f"w{i} x{j % 97} common line {j}\n")
        runs = []
        before = after = set()
        for i in range(3):
            if i == 2:
                before = ray_worker_pids()
            runs.append(summary_of(paxflow("run", "jobs/wordcount.py", *files, "-o", str(tmp_path / f"o{i}"),
                                           "--address", address, "--split-size", "20000", "--json", env=env)))
            if i == 2:
                after = ray_worker_pids()
        assert all(r["leader_changes"] == [] for r in runs)
        assert all(r["output_rows"] == runs[0]["output_rows"] for r in runs)
        assert set(runs[2]["worker_pids"]) <= set(runs[1]["worker_pids"]) | before
        assert before == after, f"workers started or killed during a steady-state job: {before ^ after}"
        assert set(runs[2]["worker_pids"]) <= before
    finally:
        down = paxflow("down", "--address", address, env=env)
        from framework.cluster import kill_session

        kill_session(session)
    assert down.returncode == 0, down.stderr
