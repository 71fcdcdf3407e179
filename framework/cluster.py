"""Connecting to Ray: start a local Ray for this process or join a running cluster, and read what it has.

Without an address a local Ray is started for this process; with one (`auto`, `ray://...`, `host:port`) the
client joins a running cluster. This module knows nothing of Paxflow's actors: the shuffle stores are started by
`framework.shuffle.fleet`, the master group by `framework.master.group`.
"""

from __future__ import annotations

import logging
import os
import time

from framework.names import NAMESPACE, STORE_PREFIX  # noqa: F401  (re-exported: where callers look for them)


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


def alive_nodes() -> list[str]:
    """The ids of the cluster's live nodes, sorted."""
    import ray

    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
