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
    code = ("import ray, json; from framework import cluster; from framework.master import group as master_group; ray.init(address=%r, namespace='paxflow'); "
            "tasks = master_group.find_master_group().call_any('commands_of', %r); "
            "print(json.dumps(sorted({t['node'] for t in tasks.values()})))"
            % (cluster.address, summary["job_id"]))
    nodes = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert nodes.returncode == 0, nodes.stderr
    assert len(json.loads(nodes.stdout.strip().splitlines()[-1])) >= 2


def _cli(*args, env=None, timeout=180):
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_detach_status_wait_and_chaos_from_other_processes(cluster, tmp_path):
    text = tmp_path / "in.txt"
    text.write_text("".join(f"w{j % 11} v{j % 7}\n" for j in range(20_000)))
    wordcount = os.path.join(ROOT, "jobs", "wordcount.py")

    submitted = _cli("run", wordcount, str(text), "-o", str(tmp_path / "a"), "--address", cluster.address, "--detach")
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    waited = _cli("wait", job_id, "--address", cluster.address)
    assert waited.returncode == 0, waited.stderr
    status = _cli("status", job_id, "--address", cluster.address, "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout.strip().splitlines()[-1])
    assert report["jobs"][0]["status"] == "committed"
    assert sorted(r["role"] for r in report["replicas"]) == ["follower", "follower", "leader"]
    assert as_counter(read_output_dir(tmp_path / "a")) == word_counts_of_files([str(text)])

    chaos = _cli("run", wordcount, str(text), "-o", str(tmp_path / "b"), "--address", cluster.address, "--json",
                 "--split-size", "4000", "--chaos", "kill-leader@30%", "--chaos-seed", "7")
    assert chaos.returncode == 0, chaos.stderr
    summary = json.loads(chaos.stdout.strip().splitlines()[-1])
    assert [f["fault"] for f in summary["faults"]] == ["kill-leader"]
    assert summary["leader_changes"], "the kill must show up as a leader change"
    assert as_counter(read_output_dir(tmp_path / "b")) == word_counts_of_files([str(text)])

    unknown = _cli("status", "no-such-job", "--address", cluster.address)
    assert unknown.returncode == 2 and "no-such-job" in unknown.stderr

    scaled = _cli("scale", "--stores", "4", "--address", cluster.address, "--json")
    assert scaled.returncode == 0, scaled.stderr
    assert json.loads(scaled.stdout.strip().splitlines()[-1])["stores"] == [f"paxflow-store-{i}" for i in range(4)]
    status = json.loads(_cli("status", "--address", cluster.address, "--json").stdout.strip().splitlines()[-1])
    assert sorted(s["name"] for s in status["stores"]) == [f"paxflow-store-{i}" for i in range(4)]


def read_output_dir(path):
    from framework.io import read_output

    return read_output(str(path))
