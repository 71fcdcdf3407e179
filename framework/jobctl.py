"""`paxflow status`, `paxflow wait`, `paxflow cancel` and `paxflow scale`: jobs and stores on a running cluster,
from any process.

They find the master group by name on the cluster (`--address`, default `auto`: the cluster `ray start` began on
this machine) and ask it; any live replica answers status, the leader answers cancel.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Sequence

from framework.errors import UsageError
from framework.argparsing import UsageParser, run_command


def _parser(command: str) -> argparse.ArgumentParser:
    parser = UsageParser(prog=f"paxflow {command}", add_help=True)
    if command == "scale":
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--stores", type=int, metavar="N",
                         help="shuffle stores to have (paxflow-store-0 .. N-1; created where missing, and those "
                              "past N-1 retire once no running job reads from them); nodes that join get none")
        how.add_argument("--auto", action="store_true",
                         help="keep the stores, and start one on each node that joins (the default)")
    else:
        parser.add_argument("job", nargs="?" if command == "status" else None, help="job id")
    parser.add_argument("--address", help="the Ray cluster (default: the service `paxflow up` started on this "
                                          "machine, else RAY_ADDRESS, else auto)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _connect(address: str | None, create: bool = False):
    """The cluster's master group; `create`: start a service (a keeper that owns a new group) when there is none."""
    from framework import cluster, service
    from framework.master import group as master_group

    address, record = service.resolve_address(address)
    address = address or "auto"
    try:
        cluster.ensure_ray(address)
    except (ConnectionError, RuntimeError) as e:
        raise UsageError(f"cannot reach a Ray cluster at {address!r}: {e}") from None
    group = master_group.find_master_group()
    if group is None and create:
        import ray

        service.up(ray.get_runtime_context().gcs_address, record=service.record_path_for(address))
        group = master_group.find_master_group()
    if group is None:
        raise UsageError("no Paxflow master group on this cluster (`paxflow up` starts one)")
    return group


def main(command: str, argv: Sequence[str]) -> int:
    return run_command(lambda: _main(command, argv))


def _main(command: str, argv: Sequence[str]) -> int:
    ns = _parser(command).parse_args(list(argv))
    group = _connect(ns.address, create=command == "scale")  # stores may be set before the first job
    if command == "status":
        return _status(group, ns)
    if command == "scale":
        return _scale(group, ns)
    if command == "wait":
        status = group.wait(ns.job)
        if not status:
            raise UsageError(f"no job {ns.job}")
        _print_jobs([status], ns.json)
        return 0 if status["status"] == "committed" else 1
    answer = group.call_leader("cancel", ns.job)
    if "error" in answer:
        raise UsageError(answer["error"])
    _print_jobs([answer], ns.json)
    return 0


def _status(group, ns: argparse.Namespace) -> int:
    import ray

    jobs = group.call_job("status", ns.job) if ns.job else group.call_any("status")
    if ns.job and not jobs:
        raise UsageError(f"no job {ns.job}")
    jobs = [jobs] if isinstance(jobs, dict) else jobs
    replicas = []
    ring: dict = {}
    for i, handle in enumerate(group.handles):
        try:
            if handle is None:
                raise ray.exceptions.ActorDiedError()
            info = ray.get(handle.info.remote(), timeout=5)
            replicas.append({k: info[k] for k in ("id", "role", "ballot", "applied", "commit", "node", "recovering",
                                                   "loop_lag_max_s", "pid")})
            if not ring or info["role"] == "leader":
                ring = {**info["ring"], "retiring": info["retiring"]}
        except ray.exceptions.RayError as e:
            replicas.append({"id": i, "role": "unreachable", "error": type(e).__name__})
    stores = store_stats()
    from framework import service

    record = service.running_service()
    if ns.json:
        print(json.dumps({"jobs": [_brief(j) for j in jobs], "replicas": replicas, "stores": stores, "ring": ring,
                          "service": record}, default=list))
        return 0
    if record is not None:
        print(f"service: keeper pid {record['keeper_pid']}, Ray at {record['address']}"
              f"{' (started by paxflow up)' if record['started_ray'] else ''}, up since "
              f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(record['started']))}; paxflow down stops it")
    _print_jobs(jobs, False)
    print()
    for r in replicas:
        if r.get("role") == "unreachable":
            print(f"replica {r['id']}: unreachable ({r['error']}; its peers start it again)")
        else:
            print(f"replica {r['id']}: {r['role']:<9} ballot {tuple(r['ballot'])} applied {r['applied']} "
                  f"node {r['node'][:12]} pid {r['pid']}, event loop at most {r['loop_lag_max_s'] * 1000:.0f} ms late"
                  f"{' (recovering)' if r['recovering'] else ''}")
    if ring:
        _print_ring(ring)
    for st in stores:
        if "error" in st:
            print(f"store {st['name']}: unreachable ({st['error']})")
        else:
            print(f"store {st['name']}: {_mib(st['bytes_in_memory'])} in memory, {_mib(st['bytes_spilled'])} spilled "
                  f"(budget {_mib(st['budget']) if st['budget'] else 'none'}), node {st['node'][:12]}"
                  + (f"; cannot spill: {st['spill_error']}" if st.get("spill_error") else ""))
    return 0


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _scale(group, ns: argparse.Namespace) -> int:
    """Set the stores (a RingChanged in the master's log): new jobs and the running jobs' next attempts place
    partitions on them; data already written stays where it is, and a store taken out retires once no running job
    reads from it. `--auto` keeps the stores and lets the leader start one on each node that joins."""
    from framework.shuffle import fleet

    if ns.auto:
        answer = group.call_leader("scale", None, True)
    else:
        if ns.stores < 1:
            raise UsageError(f"--stores must be at least 1, got {ns.stores}")
        answer = group.call_leader("scale", sorted(fleet.get_stores(ns.stores)), False)
    if ns.json:
        print(json.dumps(answer))
    else:
        _print_ring(answer)
    return 0


def _print_ring(ring: dict) -> None:
    print(f"ring version {ring['version']}: {', '.join(ring['stores'])}"
          f"{' (a store for each node that joins)' if ring['auto'] else ''}"
          + (f"; retiring {', '.join(ring['retiring'])}" if ring["retiring"] else ""))


def store_stats() -> list[dict]:
    """Each shuffle store's bytes in memory and spilled (what `paxflow status` shows), by name."""
    import ray

    from framework.names import NAMESPACE
    from framework.shuffle.fleet import store_names

    names = store_names()
    asked = {}
    for name in names:  # ask them all at once, then collect
        try:
            asked[name] = ray.get_actor(name, namespace=NAMESPACE).stats.remote()
        except ValueError as e:
            asked[name] = e
    stats = []
    for name, ref in asked.items():
        try:
            if isinstance(ref, Exception):
                raise ref
            stats.append(ray.get(ref, timeout=5))
        except (ray.exceptions.RayError, ValueError) as e:
            stats.append({"name": name, "error": type(e).__name__})
    return stats


def _brief(job: dict) -> dict:
    keys = ("job_id", "status", "stage", "stages", "stage_name", "phase", "tasks_done", "tasks_total", "all_done",
            "all_total", "output_rows", "counters", "skipped", "error", "outputs")
    return {k: job.get(k) for k in keys}


def _print_jobs(jobs: list[dict], as_json: bool) -> None:
    if as_json:
        for job in jobs:
            print(json.dumps(_brief(job)))
        return
    for job in jobs:
        print(f"{job['job_id']}: {job['status']}, stage {job['stage'] + 1}/{job['stages']} ({job['stage_name']}, "
              f"{job['phase']}) tasks {job['tasks_done']}/{job['tasks_total']}, all {job['all_done']}/{job['all_total']}"
              + (f", error: {job['error']}" if job.get("error") else ""))
        print_skipped(job.get("counters") or {}, job.get("skipped") or [], "  ")


def print_skipped(counters: dict, records: list[str], indent: str = "") -> None:
    """The bad records a job skipped: how many, and the first ones ("file:line: reason")."""
    if not records:
        return
    total = counters.get("skipped_records", len(records))
    print(f"{indent}skipped {total:,} bad record(s)" + (f", the first {len(records)}:" if total > len(records) else ":"))
    for record in records:
        print(f"{indent}  {record}")
