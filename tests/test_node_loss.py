"""Losing a whole node of a real multi-node Ray cluster (ray.cluster_utils.Cluster): the node that hosts the master
leader is removed mid-job, and the job still commits the fault-free output. A follower on another node takes
over; the lost replica is started again on a surviving node, where it finds no WAL and catches up from its peers
before it votes again.

The shuffle stores are pinned to the head node in the first test: losing a store is the shuffle's failure case,
tested next (the node holding a store removed mid-shuffle). The last test adds a node mid-job: the leader starts a
store on it, and the maps launched afterwards place partitions there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import slow_job_and_corpus
from tests.remote import Remote
from tests.oracles import as_counter, word_counts_of_files

pytestmark = pytest.mark.cluster



def _env() -> dict:
    """The environment for a subprocess, read at call time (Ray's auth settings are set when a Ray starts)."""
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

SETUP = '''
import json, sys, time
import ray
from framework import cluster
from framework.master import group as master_group
from framework.shuffle import fleet
from framework.cluster import STORE_PREFIX
from framework.master.group import GroupClient, ensure_group

cluster.ensure_ray(sys.argv[1])
head = sys.argv[2]
stores = {f"{STORE_PREFIX}{i}": fleet.start_store(f"{STORE_PREFIX}{i}", head) for i in range(2)}
group = GroupClient(ensure_group(3, stores))
group.call_leader("scale", sorted(stores), False)  # both on the head, and none started on the other nodes

def leader():
    for h in group.handles:
        try:
            info = ray.get(h.info.remote(), timeout=5)
        except ray.exceptions.RayError:
            continue
        if info["role"] == "leader":
            return h, info
    return None, None

# one replica per node: if the head's replica leads, kill it once and a worker node's replica takes over
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    handle, info = leader()
    if info is None:
        time.sleep(0.1)
        continue
    if info["node"] != head:
        print(json.dumps({"leader": info["id"], "node": info["node"], "ballot": info["ballot"]}))
        break
    ray.kill(handle)
    time.sleep(1.0)
else:
    sys.exit(f"no leader on a worker node (head {head}): {[ray.get(h.info.remote(), timeout=5) for h in group.handles if h]}")
'''


@pytest.fixture(scope="module", autouse=True)
def remote(cluster):
    """One client process of the cluster for the module's commands (tests.remote: a process per command cost
    ~2.5 s each here, most of these tests' time)."""
    global _REMOTE
    _REMOTE = Remote(cluster.address, _env())
    yield _REMOTE
    _REMOTE.close()


_REMOTE: Remote | None = None


def _cli(*args, timeout=180):
    """`paxflow ARGS`, run by the module's client process."""
    return _REMOTE.cli(*args, timeout=timeout)


def _script(code: str, *args: str, timeout=120):
    """A Python snippet (`sys.argv[1:]` = args), run by the module's client process."""
    return _REMOTE.script(code, *args, timeout=timeout)


DUMP = '''
import json, sys
import ray
from framework import cluster
from framework.master import group as master_group
from framework.shuffle import fleet
cluster.ensure_ray(sys.argv[1])
for i, h in enumerate(master_group.find_master_group().handles):
    try:
        info = ray.get(h.info.remote(), timeout=5) if h else None
        print(i, json.dumps({k: info[k] for k in ("role", "ballot", "applied", "commit", "recovering", "node", "recreated", "restarted_peers")} if info else None))
        print("   ", json.dumps(ray.get(h.status.remote(sys.argv[2]), timeout=5))[:1500])
    except Exception as e:
        print(i, type(e).__name__, e)
'''


def _wait(address: str, job_id: str, timeout: float = 200):
    """`paxflow wait JOB`; on failure, what every replica thinks (for the report)."""
    try:
        waited = _cli("wait", job_id, "--address", address, "--json", timeout=timeout)
        if waited.returncode == 0:
            return waited
        report = waited.stdout + waited.stderr
    except subprocess.TimeoutExpired:
        report = f"paxflow wait did not return within {timeout} s"
    dump = subprocess.run([sys.executable, "-c", DUMP, address, job_id], capture_output=True, text=True,
                          timeout=60, env=_env())  # a process of its own: the module's one may be stuck
    raise AssertionError(f"{report}\n--- replicas:\n{dump.stdout}{dump.stderr[-3000:]}")


def _status(address: str, job_id: str) -> dict:
    proc = _cli("status", job_id, "--address", address, "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _submit_and_wait(address: str, job: str, files: list[str], out, *options: str, until=None) -> str:
    """`paxflow run --detach`; returns the job id once `until(job status)` holds (default: its maps are done)."""
    until = until or (lambda status: status["phase"] == "reduce")
    submitted = _cli("run", job, *files, "-o", str(out), "--address", address, "--detach", *options)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 120
    while not until(_status(address, job_id)["jobs"][0]):
        assert time.monotonic() < deadline, "the job did not get that far"
        time.sleep(0.2)
    return job_id


def _two_tasks_done(status: dict) -> bool:
    return status["all_done"] >= 2


@pytest.mark.timeout(420)
def test_removing_the_leaders_node_mid_job(cluster, tmp_path):
    job, files = slow_job_and_corpus(tmp_path, lambda i, j: f"gamma{j % 19} delta{(i + j) % 6} Ünïcode{j % 4}\n")

    head = cluster.head_node.node_id
    setup = _script(SETUP, cluster.address, head, timeout=180)
    assert setup.returncode == 0, setup.stderr
    leader = json.loads(setup.stdout.strip().splitlines()[-1])
    node = next(n for n in cluster.worker_nodes if n.node_id == leader["node"])

    out = tmp_path / "out"
    job_id = _submit_and_wait(cluster.address, job, files, out, "--split-size", "12000", "--partitions", "3",
                              "--map-sleep", "0.4", until=_two_tasks_done)

    print("removing", node.node_id, "at", time.strftime("%X"))
    # leadership may have moved since the set-up (a restarted replica can win an election): look again
    current = next(r for r in _status(cluster.address, job_id)["replicas"] if r["role"] == "leader")
    if current["node"] != head:
        leader = {**leader, "leader": current["id"], "node": current["node"], "ballot": current["ballot"]}
        node = next(n for n in cluster.worker_nodes if n.node_id == current["node"])
    cluster.remove_node(node)  # the leader's node, with its replica, its WAL and the task workers on it

    waited = _wait(cluster.address, job_id)
    assert json.loads(waited.stdout.strip().splitlines()[-1])["status"] == "committed"
    from framework.io import read_output

    assert as_counter(read_output(str(out))) == word_counts_of_files(files)

    # the group is whole again: the lost replica runs on a surviving node and, once caught up, votes
    deadline = time.monotonic() + 120
    while True:
        replicas = _status(cluster.address, job_id)["replicas"]
        lost = next(r for r in replicas if r.get("id") == leader["leader"])
        roles = sorted(r["role"] for r in replicas)
        if roles == ["follower", "follower", "leader"] and not lost.get("recovering") and lost["node"] != node.node_id:
            break
        assert time.monotonic() < deadline, f"the group did not heal: {replicas}"
        time.sleep(0.5)
    assert all(r["ballot"][0] > leader["ballot"][0] for r in replicas), "a new leader was elected"


PIN_STORE = '''
import sys
import ray
from framework import cluster
from framework.master import group as master_group
from framework.shuffle import fleet
from framework.cluster import STORE_PREFIX

cluster.ensure_ray(sys.argv[1])
name = sys.argv[3] if len(sys.argv) > 3 else f"{STORE_PREFIX}3"
store = fleet.start_store(name, sys.argv[2])  # a store no earlier job made: it starts there
print(ray.get(store.stats.remote())["node"])
'''


@pytest.mark.timeout(420)
def test_removing_a_node_that_holds_a_store_mid_shuffle(cluster, tmp_path):
    """One copy of each partition: the partitions of the store on the lost node are sent again by re-running the
    maps that made them; the job's output is the fault-free one."""
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    job, files = slow_job_and_corpus(tmp_path, lambda i, j: f"eta{j % 23} theta{(i * j) % 9} Ωμ{j % 5}\n")
    pinned = _script(PIN_STORE, cluster.address, node.node_id, timeout=120)
    assert pinned.returncode == 0, pinned.stderr
    assert pinned.stdout.strip().splitlines()[-1] == node.node_id

    out = tmp_path / "out"
    job_id = _submit_and_wait(cluster.address, job, files, out, "--split-size", "12000", "--stores", "4",
                              "--partitions", "6", "--map-sleep", "0.1", "--reduce-sleep", "0.5")

    cluster.remove_node(node)  # the store on it, and its share of every map's output, are gone

    _wait(cluster.address, job_id)
    from framework.io import read_output

    assert as_counter(read_output(str(out))) == word_counts_of_files(files)
    stores = {s["name"]: s for s in _status(cluster.address, job_id)["stores"]}
    assert "error" in stores.get("paxflow-store-3", {"error": "gone"}), "the lost store is not reported as alive"


KILL_STORE = '''
import json, sys
import ray
from framework import cluster
from framework.master import group as master_group
from framework.shuffle import fleet
cluster.ensure_ray(sys.argv[1])
if sys.argv[2] == "kill":
    ray.kill(ray.get_actor(sys.argv[3], namespace=cluster.NAMESPACE), no_restart=True)
else:
    print(json.dumps(master_group.find_master_group().call_any("commands_of", sys.argv[3])))
'''


@pytest.mark.timeout(420)
def test_a_store_process_killed_on_a_worker_node_comes_back_there_with_its_data(cluster, tmp_path):
    """A durable store's process dies, its node lives: the leader starts it again on that node, it reads back
    what it held, and the job ends with the fault-free output without re-running any finished map."""
    node = next(iter(cluster.worker_nodes)).node_id
    name = "paxflow-store-4"
    pinned = _script(PIN_STORE, cluster.address, node, name, timeout=120)
    assert pinned.returncode == 0, pinned.stderr
    job, files = slow_job_and_corpus(tmp_path, lambda i, j: f"nu{j % 31} xi{(i * 3 + j) % 13} Ψψ{j % 4}\n")
    out = tmp_path / "out"
    job_id = _submit_and_wait(cluster.address, job, files, out, "--split-size", "12000", "--stores", "5",
                              "--partitions", "16", "--map-sleep", "0.05", "--reduce-sleep", "0.3")
    killed = _script(KILL_STORE, cluster.address, "kill", name, timeout=60)
    assert killed.returncode == 0, killed.stderr

    _wait(cluster.address, job_id)
    from framework.io import read_output

    assert as_counter(read_output(str(out))) == word_counts_of_files(files)
    tasks = _script(KILL_STORE, cluster.address, "commands", job_id, timeout=60)
    assert tasks.returncode == 0, tasks.stderr
    maps = {t: v for t, v in json.loads(tasks.stdout.strip().splitlines()[-1]).items() if "m" in t.split("s", 1)[1]}
    assert all(v["launched"] == 1 and not v["resent"] for v in maps.values()), maps  # no map ran again
    store = next(s for s in _status(cluster.address, job_id)["stores"] if s["name"] == name)
    assert store["node"] == node and store["recovered"] > 0, store


@pytest.mark.timeout(420)
def test_a_node_that_joins_mid_job_gets_a_store_the_later_maps_use(cluster, tmp_path):
    job, files = slow_job_and_corpus(tmp_path, lambda i, j: f"iota{j % 29} kappa{(i + 2 * j) % 11} Жж{j % 3}\n")
    auto = _cli("scale", "--auto", "--address", cluster.address, "--json")
    assert auto.returncode == 0, auto.stderr

    def ring() -> dict:
        proc = _cli("status", "--address", cluster.address, "--json", timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    # automatic mode first gives every node of the cluster as it is a store (the earlier tests pinned them)
    deadline = time.monotonic() + 60
    while True:
        status = ring()
        nodes = {s["node"] for s in status["stores"] if "error" not in s and s["name"] in status["ring"]["stores"]}
        if nodes >= {n.node_id for n in [cluster.head_node, *cluster.worker_nodes]}:
            break
        assert time.monotonic() < deadline, f"not every node got a store: {status['ring']} {status['stores']}"
        time.sleep(0.5)
    before = status["ring"]

    out = tmp_path / "out"
    job_id = _submit_and_wait(cluster.address, job, files, out, "--split-size", "6000", "--partitions", "16",
                              "--map-sleep", "0.8", until=_two_tasks_done)

    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    deadline = time.monotonic() + 60
    while True:
        status = _status(cluster.address, job_id)
        added = [s for s in status["stores"] if s.get("node") == node.node_id]
        if added and added[0]["name"] in status["ring"]["stores"]:
            break
        assert time.monotonic() < deadline, f"no store on the new node: {status['ring']} {status['stores']}"
        time.sleep(0.2)
    assert status["ring"]["version"] > before["version"] and status["jobs"][0]["phase"] == "map", \
        "the store must join while maps still run"

    _wait(cluster.address, job_id)
    from framework.io import read_output

    assert as_counter(read_output(str(out))) == word_counts_of_files(files)
    tasks = _script(KILL_STORE, cluster.address, "commands", job_id, timeout=60)
    assert tasks.returncode == 0, tasks.stderr
    later = [t for t, v in json.loads(tasks.stdout.strip().splitlines()[-1]).items()
             if "m" in t.split("s", 1)[1] and v["ring"]]
    assert later, "maps launched after the join"
    def new_store() -> dict:
        return next(s for s in _status(cluster.address, job_id)["stores"] if s["name"] == added[0]["name"])

    assert new_store()["peak_bytes_in_memory"] > 0, "the maps launched after the join wrote to the new store"
    deadline = time.monotonic() + 30  # the leader frees a job's data right after the commit it reports
    while new_store()["bytes_in_memory"] != 0:
        assert time.monotonic() < deadline, "and its data was freed at commit"
        time.sleep(0.2)
