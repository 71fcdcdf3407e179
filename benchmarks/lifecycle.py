"""What a user times end to end, each beside the whole Polars script in the same run: a one-shot `paxflow run`,
`paxflow up` and the first job on a service, later jobs on the service, and jobs from new client processes on a
`ray start` cluster (beside the same job inside one long-lived process); and how often the master leader changes
in plain runs (one-shot and on a service).

    python benchmarks/lifecycle.py                          # 64 MiB corpus, 5 runs each, 20 + 20 stability runs
    python benchmarks/lifecycle.py --size 128MiB --runs 3 --only one_shot,service,polars
    python benchmarks/lifecycle.py --only stability --stability-runs 20

Every run is a subprocess timed around `subprocess.run`, as `time paxflow run ...` would time it. Prints one JSON
record per measurement on stdout and a Markdown table (medians, and each ratio to Polars' median) on stderr.
The runs use a private PAXFLOW_CACHE (shared by all of them, so the tokenizer table stays cached, as it would on a
user's machine) and stop every service and cluster they start.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import common

KINDS = ["one_shot", "service", "cluster", "polars", "stability"]

POLARS_SCRIPT = r'''
import sys
import polars as pl
paths, out = sys.argv[1:-1], sys.argv[-1]
(pl.scan_lines(paths, name="line")
   .select(pl.col("line").str.to_lowercase().str.extract_all(r"[\p{L}\p{N}]+").alias("word"))
   .explode("word").drop_nulls("word").group_by("word").len(name="count")
   .collect(engine="streaming").write_parquet(out))
'''


def _env(cache: str, **extra: str) -> dict:
    env = dict(os.environ, PAXFLOW_CACHE=cache, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", **extra)
    env.pop("RAY_ADDRESS", None)
    return env


def _paxflow(args: list[str], env: dict, timeout: float = 600) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "framework.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=common.REPO)
    return time.perf_counter() - started, done


def _job(paths: list[str], out: str, env: dict, *extra: str) -> dict:
    """One `paxflow run` of the word count: end-to-end seconds and its --json summary (or the error)."""
    seconds, done = _paxflow(["run", os.path.join(common.JOBS, "wordcount.py"), *paths, "-o", out, "--overwrite",
                              "--json", *extra], env)
    record: dict = {"e2e_s": round(seconds, 3), "rc": done.returncode}
    try:
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        record.update(wall_s=summary.get("wall_s"), startup_s=summary.get("startup_s"),
                      leader_changes=len(summary.get("leader_changes") or []),
                      abandoned=summary.get("abandoned_attempts"), service=summary.get("service"),
                      worker_pids=summary.get("worker_pids"))
    except (IndexError, ValueError):
        pass
    if done.returncode != 0:
        record["error"] = done.stderr[-1500:]
    return record


def _ray_processes() -> set[int]:
    """Processes of any Ray on this machine (their titles are rewritten to ray::..., or name raylet/gcs_server)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = open(f"/proc/{entry}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::") or "raylet" in title or "gcs_server" in title or "framework.keeper" in title:
            pids.add(int(entry))
    return pids


def _median(records: list[dict], key: str = "e2e_s") -> float | None:
    values = [r[key] for r in records if r.get("rc", 0) == 0 and r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


def bench_polars(paths: list[str], out: str, runs: int) -> dict:
    script = os.path.join(tempfile.mkdtemp(), "polars_wordcount.py")
    with open(script, "w") as f:
        f.write(POLARS_SCRIPT)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, script, *paths, out], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return {"bench": "lifecycle_polars", "error": done.stderr[-1500:]}
        times.append(round(time.perf_counter() - started, 3))
    return {"bench": "lifecycle_polars", "runs": times, "median_s": round(statistics.median(times), 3)}


def bench_one_shot(paths: list[str], out: str, runs: int, cache: str) -> dict:
    env = _env(cache)
    _paxflow(["down"], env)
    records = []
    for _ in range(runs):
        before = _ray_processes()
        record = _job(paths, out, env)
        time.sleep(3)
        record["processes_left"] = len(_ray_processes() - before)
        records.append(record)
    return {"bench": "lifecycle_one_shot", "runs": records, "median_s": _median(records),
            "processes_left": max((r["processes_left"] for r in records), default=0)}


def bench_service(paths: list[str], out: str, runs: int, cache: str) -> list[dict]:
    env = _env(cache)
    _paxflow(["down"], env)
    before = _ray_processes()
    seconds, up = _paxflow(["up"], env)
    try:
        up_record = {"bench": "lifecycle_service_up", "e2e_s": round(seconds, 3), "rc": up.returncode,
                     "stdout": up.stdout.strip()[-400:]}
        if up.returncode != 0:
            up_record["error"] = up.stderr[-1500:]
            return [up_record]
        first = _job(paths, out, env)
        later = [_job(paths, out, env) for _ in range(runs)]
        pids = [set(r.get("worker_pids") or []) for r in later]
        reused = all(p <= pids[0] | set(first.get("worker_pids") or []) for p in pids[1:])
        return [up_record,
                {"bench": "lifecycle_service_first_job", **first},
                {"bench": "lifecycle_service_job", "runs": later, "median_s": _median(later),
                 "median_job_s": _median(later, "wall_s"), "workers_reused": reused}]
    finally:
        _paxflow(["down"], env)
        time.sleep(2)
        left = _ray_processes() - before
        if left:
            common.log(f"lifecycle: {len(left)} Ray processes left after paxflow down: {sorted(left)}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


IN_PROCESS = r'''
import json, sys, time
from framework import cluster, run
cluster.ensure_ray(sys.argv[1])
walls = []
for _ in range(int(sys.argv[2])):
    result = run(sys.argv[3], sys.argv[4:-1], sys.argv[-1], overwrite=True)
    walls.append(result.wall_s)
print(json.dumps(walls))
'''


def bench_cluster(paths: list[str], out: str, runs: int, cache: str) -> dict:
    """`ray start --head`; jobs from new client processes (the first starts a keeper that owns the group), then the
    same job three times in one process that joined the cluster (steady state inside a long-lived driver)."""
    env = _env(cache)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    started = subprocess.run(["ray", "start", "--head", "--port", str(port), "--num-cpus", str(os.cpu_count() or 2),
                              "--node-ip-address", "127.0.0.1", "--include-dashboard=false", "--disable-usage-stats"],
                             capture_output=True, text=True, env=dict(env, RAY_num_workers_soft_limit="32"),
                             timeout=180)
    if started.returncode != 0:
        return {"bench": "lifecycle_cluster", "error": started.stderr[-1500:]}
    found = subprocess.run([sys.executable, "-c", "import ray; from framework import cluster; cluster.ensure_ray(%r);"
                            " print(ray._private.worker._global_node.get_session_dir_path())" % address],
                           capture_output=True, text=True, env=env, timeout=180)
    session = (found.stdout.strip().splitlines() or [""])[-1]
    try:
        clients = [_job(paths, out, env, "--address", address) for _ in range(runs + 1)]
        done = subprocess.run([sys.executable, "-c", IN_PROCESS, address, "3",
                               os.path.join(common.JOBS, "wordcount.py"), *paths, out],
                              capture_output=True, text=True, env=env, timeout=600, cwd=common.REPO)
        in_process = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else []
        later = clients[1:]
        job_new_client = _median(later, "wall_s")
        job_in_process = round(statistics.median(in_process), 3) if in_process else None
        return {"bench": "lifecycle_cluster", "first_client": clients[0], "runs": later,
                "median_s": _median(later), "median_job_s_new_client": job_new_client,
                "median_job_s_in_process": job_in_process, "in_process_runs": in_process,
                "ratio_new_client_to_in_process": common.ratio(job_new_client, job_in_process),
                **({"in_process_error": done.stderr[-1500:]} if done.returncode != 0 else {})}
    finally:
        _paxflow(["down", "--address", address], env)
        from framework.cluster import kill_session

        kill_session(session)


def bench_stability(paths: list[str], out: str, runs: int, cache: str) -> dict:
    """Plain runs (no chaos) with the CPUs saturated by map tasks: how many saw a leader change."""
    env = _env(cache)
    _paxflow(["down"], env)
    one_shot = [_job(paths, out, env) for _ in range(runs)]
    _paxflow(["up"], env)
    try:
        service = [_job(paths, out, env) for _ in range(runs)]
    finally:
        _paxflow(["down"], env)
    count = lambda rs: sum(1 for r in rs if r.get("leader_changes"))  # noqa: E731
    failed = lambda rs: sum(1 for r in rs if r.get("rc") != 0)  # noqa: E731
    return {"bench": "lifecycle_stability", "runs_each": runs,
            "one_shot_runs_with_leader_change": count(one_shot), "service_runs_with_leader_change": count(service),
            "one_shot_failed": failed(one_shot), "service_failed": failed(service),
            "abandoned_attempts": sum(r.get("abandoned") or 0 for r in one_shot + service),
            "one_shot_median_s": _median(one_shot), "service_median_s": _median(service)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=common.size_arg, default=common.parse_size("64MiB"),
                        help="word count corpus size (default 64MiB)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each timed kind (default 5)")
    parser.add_argument("--stability-runs", type=int, default=20, help="one-shot and service runs (default 20 each)")
    parser.add_argument("--only", type=lambda s: common.engine_list(s, KINDS), default=KINDS,
                        help=f"which parts, comma separated (default all: {','.join(KINDS)})")
    args = parser.parse_args(argv)
    common.begin()
    paths = common.files_under(common.corpus(args.size))
    cache = tempfile.mkdtemp(prefix="paxflow-lifecycle-")
    out = os.path.join(tempfile.mkdtemp(prefix="paxflow-lifecycle-out-"), "out")
    base = {"size_bytes": common.total_bytes(paths), "machine": common.machine()}
    records: list[dict] = []
    steps = [("polars", lambda: [bench_polars(paths, out + "-polars.parquet", args.runs)]),
             ("one_shot", lambda: [bench_one_shot(paths, out, args.runs, cache)]),
             ("service", lambda: bench_service(paths, out, args.runs, cache)),
             ("cluster", lambda: [bench_cluster(paths, out, args.runs, cache)]),
             ("stability", lambda: [bench_stability(paths, out, args.stability_runs, cache)])]
    for kind, step in steps:
        if kind not in args.only:
            continue
        common.log(f"lifecycle: {kind} ...")
        try:
            produced = step()
        except Exception as e:  # noqa: BLE001 - one part failing must not lose the others
            produced = [{"bench": f"lifecycle_{kind}", "error": common.failure_reason(e)}]
        for record in produced:
            record.update(base)
            common.emit(record)
            records.append(record)
    _table(records)
    return 0


def _table(records: list[dict]) -> None:
    by = {r["bench"]: r for r in records}
    polars = (by.get("lifecycle_polars") or {}).get("median_s")
    rows = [("Polars, whole script", polars),
            ("paxflow run, one-shot", (by.get("lifecycle_one_shot") or {}).get("median_s")),
            ("paxflow up", (by.get("lifecycle_service_up") or {}).get("e2e_s")),
            ("first job on a service", (by.get("lifecycle_service_first_job") or {}).get("e2e_s")),
            ("job on a service", (by.get("lifecycle_service_job") or {}).get("median_s")),
            ("cluster job, new client", (by.get("lifecycle_cluster") or {}).get("median_s"))]
    common.log("\n| what | median s (end to end) | x Polars |\n| --- | --- | --- |")
    for name, value in rows:
        if value is not None:
            common.log(f"| {name} | {value:.2f} | {common.ratio(value, polars) or '-'} |")
    cluster = by.get("lifecycle_cluster") or {}
    if cluster.get("median_job_s_in_process"):
        common.log(f"\ncluster job time, new client / in the creating process: {cluster['median_job_s_new_client']}"
                   f" / {cluster['median_job_s_in_process']} s = {cluster['ratio_new_client_to_in_process']}x")
    stability = by.get("lifecycle_stability")
    if stability:
        common.log(f"leader changes: {stability['one_shot_runs_with_leader_change']} of {stability['runs_each']} "
                   f"one-shot runs, {stability['service_runs_with_leader_change']} of {stability['runs_each']} "
                   f"service runs")


if __name__ == "__main__":
    sys.exit(main())
