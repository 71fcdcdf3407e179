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

__all__ = ["NAMESPACE", "STORE_PREFIX", "alive_nodes", "cluster_cpus", "ensure_ray", "local_system_config",
           "warm_workers"]


def ensure_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True,
               loopback: bool = True) -> float:
    """Start or join Ray unless this process is already connected; returns the seconds it took. A local Ray
    (no `address`) binds to 127.0.0.1 unless `loopback` is False, so nothing off this machine can reach it."""
    import ray

    if ray.is_initialized():
        return 0.0
    if address and not os.environ.get("RAY_AUTH_MODE"):
        _send_token_if_any()
    started = time.perf_counter()
    if quiet:  # Ray's notice that a local cluster uses token authentication is not news to a job's user
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    kwargs: dict = {"namespace": NAMESPACE, "include_dashboard": False, "configure_logging": True,
                    "logging_level": logging.WARNING if quiet else logging.INFO, "log_to_driver": not quiet}
    import signal
    import threading

    # Ray's core worker installs its own SIGTERM handler (a fatal-signal dump, no word about the job): a handler
    # the program set before, as `paxflow run` does to cancel its job, is put back after the start.
    ours = {}
    if threading.current_thread() is threading.main_thread():
        ours = {sig: h for sig in (signal.SIGTERM,) if callable(h := signal.getsignal(sig))}
    if address:
        ray.init(address=address, **kwargs)
    else:
        # address="local": a new Ray for this process, even when `ray start` left a cluster running on this machine
        if loopback:
            kwargs["_node_ip_address"] = "127.0.0.1"
        ray.init(address="local", num_cpus=num_cpus, _system_config=local_system_config(num_cpus), **kwargs)
        global _started_local
        _started_local = True
    for sig, handler in ours.items():
        signal.signal(sig, handler)
    return time.perf_counter() - started


_started_local = False


def _send_token_if_any() -> None:
    """Send this machine's Ray token (`~/.ray/auth_token`) to the cluster we join. Ray does so by itself for
    `auto` only, but `ray start` and `ray.init` turn token authentication on whenever that file exists, so a
    client given `--address HOST:PORT` would fail to connect; a cluster without authentication ignores the token
    (tried here)."""
    from ray._private.authentication import authentication_token_setup
    from ray._raylet import AuthenticationTokenLoader

    if AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        authentication_token_setup._enable_token_auth()  # sets RAY_AUTH_MODE and reloads Ray's cached config


def started_local_ray() -> bool:
    """Whether this process started a local Ray of its own (a one-shot run: it ends with the process)."""
    return _started_local


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


def warm_workers(count: int | None = None) -> list:
    """Start `count` (default: one per CPU of the cluster) task worker processes now, each importing what a map or reduce
    task needs, so the first job does not wait for them; refs of their process ids. A worker process costs ~1.3 s
    of CPU to start here: started while the master group elects, that cost is off the job's path."""
    from framework.exec.ray_tasks import warm_worker

    return [warm_worker.remote() for _ in range(count or cluster_cpus())]


def session_processes(session_dir: str) -> list[int]:
    """Every process on this machine (but this one) that holds a file of the Ray session `session_dir` open:
    its GCS, raylet, agents and workers. (Ray rewrites its processes' titles, so their command lines do not name
    the session; their open log files do.)"""
    prefix = os.path.realpath(session_dir).rstrip("/") + "/"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}").startswith(prefix):
                    found.append(int(entry))
                    break
            except OSError:
                continue
    return found


def kill_session(session_dir: str | None) -> int:
    """SIGKILL every process of a local Ray session; how many there were."""
    import signal

    if not session_dir or not os.path.isdir("/proc"):
        return 0
    pids = session_processes(session_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def stop_local_ray_now() -> None:
    """End the local Ray this process started, at once: nothing of it is needed any more (a one-shot run that has
    printed its result). `ray.shutdown()` takes ~1.5 s here; its GCS and raylet would die with this process anyway,
    but the dashboard and runtime-env agents the raylet started would linger."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    if _started_local and node is not None:
        kill_session(node.get_session_dir_path())
