"""A real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster): `paxflow run --address` from another
process runs the job across the nodes, with the job module shipped to workers that have no copy of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.oracles import as_counter, word_counts_of_files

pytestmark = pytest.mark.cluster
ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        for _ in range(2):
            c.add_node(num_cpus=1)
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()


def test_job_runs_across_nodes_from_another_process(cluster, tmp_path):
    # the job module lives only in a temporary folder: workers get its source with the job
    job = tmp_path / "private_wordcount.py"
    shutil.copy(os.path.join(ROOT, "jobs", "wordcount.py"), job)
    files = []
    for i in range(4):
        path = tmp_path / f"in{i}.txt"
        path.write_text("".join(f"node{j % 7} word{(i * j) % 13} Ünïcode\n" for j in range(3000)))
        files.append(str(path))
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "framework.cli", "run", str(job), *files, "-o", str(out), "--address", cluster.address,
         "--json", "--split-size", "20000", "--partitions", "3"],
        capture_output=True, text=True, timeout=180, env=env, cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    from framework.io import read_output

    assert as_counter(read_output(str(out))) == word_counts_of_files(files)
    assert summary["tasks"] > 6

    # the master's log says where each task ran: more than one node did work
    code = ("import ray, json; from framework import cluster; ray.init(address=%r, namespace='paxflow'); "
            "tasks = cluster.find_master_group().call_any('commands_of', %r); "
            "print(json.dumps(sorted({t['node'] for t in tasks.values()})))"
            % (cluster.address, summary["job_id"]))
    nodes = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert nodes.returncode == 0, nodes.stderr
    assert len(json.loads(nodes.stdout.strip().splitlines()[-1])) >= 2
