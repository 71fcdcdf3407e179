"""Connecting to Ray and finding (or starting) Paxflow's actors on it.

Actors live in the Ray namespace `paxflow` under stable names, so `paxflow status` and other tools find them.
Without an address a local Ray is started for this process; with one (`auto`, `ray://...`, `host:port`) the
client joins a running cluster.
"""

from __future__ import annotations

import logging
import os
import time

NAMESPACE = "paxflow"
STORE_PREFIX = "paxflow-store-"


def ensure_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> float:
    """Start or join Ray unless this process is already connected; returns the seconds it took."""
    import ray

    if ray.is_initialized():
        return 0.0
    started = time.perf_counter()
    if quiet:  # Ray's notice that a local cluster uses token authentication is not news to a job's user
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    kwargs: dict = {"namespace": NAMESPACE, "include_dashboard": False, "configure_logging": True,
                    "logging_level": logging.WARNING if quiet else logging.INFO, "log_to_driver": not quiet}
    if address:
        ray.init(address=address, **kwargs)
    else:
        # address="local": a new Ray for this process, even when `ray start` left a cluster running on this machine
        ray.init(address="local", num_cpus=num_cpus, _system_config=local_system_config(num_cpus), **kwargs)
    return time.perf_counter() - started


def local_system_config(num_cpus: int | None = None) -> dict:
    """Ray settings for a local Ray that Paxflow starts.

    Ray kills idle task workers (after 1 s) while its worker count exceeds `num_workers_soft_limit`, which
    defaults to the CPU count and counts actor processes too. Paxflow's master replicas and stores are such
    actors, so with the default every idle task worker was killed and restarted within the job (measured: a
    warm 64 MiB word count took 3.2-3.6 s with 3 replicas instead of 1.8 s, the restarts costing ~1.3 s of CPU
    each on 2 cores). Room for the actors keeps the task workers. On a cluster started with `ray start`, set
    RAY_num_workers_soft_limit the same way (README, "Running on a cluster").
    """
    cpus = num_cpus or os.cpu_count() or 1
    return {"num_workers_soft_limit": cpus + PAXFLOW_ACTORS_HEADROOM}


#: actor processes Paxflow may run beside the task workers: up to 5 master replicas and the stores
PAXFLOW_ACTORS_HEADROOM = 16


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)))


def default_store_count() -> int:
    """The stores of the master group's ring when it has one (set by `paxflow scale`, or grown as nodes joined);
    else one store per node, at least two (so a lost store never loses everything), or as many as exist if that is
    more."""
    import ray

    group = find_master_group()
    if group is not None:
        ring = group.call_any("info").get("ring") or {}
        if ring.get("version"):
            return max(1, len(ring["stores"]))
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    existing = [a for a in ray.util.list_named_actors(all_namespaces=True)
                if a.get("namespace") == NAMESPACE and a["name"].startswith(STORE_PREFIX)]
    return max(2, len(nodes), len(existing))


def get_stores(count: int | None = None, memory: int | None = None, durable: bool = True) -> dict:
    """{name: handle} of the shuffle stores paxflow-store-0 .. N-1, created where missing (spread over the nodes),
    each with a memory budget of `memory` bytes (default `default_store_memory`) past which it spills, and
    `durable` (each piece written to local disk as it arrives)."""
    import ray

    count = count or default_store_count()
    budget = memory or default_store_memory(count)
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
    stores = {}
    for i in range(count):
        name = f"{STORE_PREFIX}{i}"
        # one per node in turn (hard: Ray's soft affinity was seen to stack them on one node)
        stores[name] = start_store(name, nodes[i % len(nodes)] if len(nodes) > 1 else None, budget)
    ray.get([h.configure.remote(budget, durable) for h in stores.values()])  # existing stores get this run's settings
    return stores


def start_store(name: str, node: str | None = None, budget: int | None = None, recover: bool = False):
    """The store `name`, started on `node` (hard affinity) with `budget` bytes of memory if it does not run yet;
    `recover`: take up the pieces its dead predecessor on that node left on disk."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from framework.shuffle.actor import StoreActor

    options: dict = dict(name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached")
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    return StoreActor.options(**options).remote(name, budget, None, recover)


def default_store_memory(count: int) -> int:
    """Half the cluster's object store memory, shared among `count` stores: the rest stays for task data."""
    import ray

    total = ray.cluster_resources().get("object_store_memory", 2 << 30)
    return max(64 << 20, int(total / 2 / max(1, count)))


def get_master_group(masters: int | None = None, stores: dict | None = None, fsync: bool = True):
    """A client of the master group, created (with the given stores) if it does not exist yet."""
    from framework.master.group import DEFAULT_MASTERS, GroupClient, ensure_group

    stores = stores if stores is not None else get_stores()
    return GroupClient(ensure_group(masters or DEFAULT_MASTERS, stores, fsync))


def find_master_group():
    """A client of the running master group, or None when there is none on this cluster."""
    from framework.master.group import GroupClient, existing_replicas

    handles = existing_replicas()
    return GroupClient(handles) if handles else None
