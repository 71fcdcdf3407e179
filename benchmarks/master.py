"""Master group benchmarks: commit latency and throughput for 3 and 5 replicas (fsync on and off), and failover
time (leader killed -> a new leader has chosen and applied a command) over repeated kills.

    python benchmarks/master.py                     # 3 and 5 replicas, fsync on/off, 20 kills
    python benchmarks/master.py --kills 50 --replicas 3

Prints one JSON line per measurement. Medians and p99 are of this run; the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def drop_group() -> None:
    import ray

    from framework.master.group import existing_replicas

    for handle in existing_replicas():
        ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + 10
    while existing_replicas() and time.monotonic() < deadline:
        time.sleep(0.1)


def commit_latency(replicas: int, fsync: bool, count: int) -> dict:
    from framework import cluster
    from framework.master.group import GroupClient, ensure_group

    drop_group()
    group = GroupClient(ensure_group(replicas, cluster.get_stores(), fsync=fsync))
    group.call_leader("probe", 20, 1)  # warm up: elected, WALs open
    serial = group.call_leader("probe", count, 1)
    started = time.perf_counter()
    group.call_leader("probe", count, 32)
    wall = time.perf_counter() - started
    return {"bench": "master_commit", "replicas": replicas, "fsync": fsync, "commands": count,
            "latency_ms_p50": round(1000 * statistics.median(serial), 2), "latency_ms_p99": round(1000 * pct(serial, 0.99), 2),
            "commands_per_s_pipelined_32": round(count / wall, 1)}


def failover(replicas: int, kills: int) -> dict:
    import ray

    from framework import cluster
    from framework.master.group import GroupClient, ensure_group

    drop_group()
    group = GroupClient(ensure_group(replicas, cluster.get_stores(), fsync=True))
    times = []
    for _ in range(kills):
        group.call_leader("probe", 1, 1)
        leader = group.leader
        others = [h for i, h in enumerate(group.handles) if i != leader]
        t0 = time.perf_counter()
        ray.kill(group.handles[leader], no_restart=False)  # it restarts from its WAL, as after a crash
        done = False
        while not done:  # the first moment another replica, as leader, has chosen and applied a new command
            for handle in others:
                try:
                    answer = ray.get(handle.probe.remote(1, 1), timeout=5)
                except ray.exceptions.RayError:
                    continue
                if isinstance(answer, list):
                    done = True
                    break
            time.sleep(0.005)
        times.append(time.perf_counter() - t0)
        time.sleep(1.0)  # let the killed replica come back before the next kill
    return {"bench": "master_failover", "replicas": replicas, "kills": kills,
            "failover_ms_p50": round(1000 * statistics.median(times), 1), "failover_ms_p99": round(1000 * pct(times, 0.99), 1),
            "failover_ms_max": round(1000 * max(times), 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, nargs="*", default=[3, 5])
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    args = parser.parse_args(argv)
    import ray

    os.environ.setdefault("PAXFLOW_STATE", tempfile.mkdtemp(prefix="paxflow-bench-state-"))
    ray.init(num_cpus=2, include_dashboard=False, namespace="paxflow", log_to_driver=False)
    for n in args.replicas:
        for fsync in (True, False):
            print(json.dumps(commit_latency(n, fsync, args.commands)), flush=True)
    for n in args.replicas:
        print(json.dumps(failover(n, args.kills)), flush=True)
    drop_group()


if __name__ == "__main__":
    main()
