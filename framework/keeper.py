"""The service's keeper: the long-lived Ray driver that owns the master group, the shuffle stores and, through
them, the task workers (`python -m framework.keeper`, started in the background by `paxflow up`).

Why a process of its own: Ray ties every worker to the Ray job of the driver that created it, and the leader's
tasks run under the job of whoever created the master replicas. Once that driver exits, its job is finished, and
Ray kills each of that job's task workers as soon as it goes idle: measured here on a `ray start` cluster, a new
client's tasks then ran on new worker processes every 1-2 s (~1.3 s of CPU each), 8.4-10.3 s per 64 MiB word count
against 2.1-3.5 s while the creating process lived. The keeper is that creating process, kept alive: its job never
ends while the service is up, so task workers live on across tasks, jobs and clients.

Without `--address` the keeper also owns a local Ray head (`ray.init(address="local")`, loopback only, dashboard
off, room for Paxflow's actors beside the task workers), which ends with it. It writes the service record
(`framework.service`) once the group has a leader and its task workers are warm, and removes it when it stops:
on SIGTERM (`paxflow down`), when the group is shut down from elsewhere, or when the cluster goes away.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from typing import Sequence

from framework.names import DEFAULT_SERVICE

log = logging.getLogger("paxflow.keeper")

#: how often the keeper checks that its cluster and group are still there
CHECK_S = 2.0
#: how long that check may take before the cluster counts as gone
CHECK_TIMEOUT_S = 15.0


class _Stop(BaseException):  # not caught by the handlers of ordinary failures
    pass


def _stop(signum, frame) -> None:
    raise _Stop()


def _cluster_up(address: str | None) -> bool:
    import ray

    from framework.service import reachable

    return address is None or reachable(ray.get_runtime_context().gcs_address)


def _group_answers(master_group) -> bool:
    """Whether the master group still runs. A look-up that hangs (the cluster went away) counts as no: the keeper
    then exits rather than hold a record of a service that is gone."""
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        found = pool.submit(master_group.find_master_group).result(timeout=CHECK_TIMEOUT_S)
    except concurrent.futures.TimeoutError:
        log.info("the cluster does not answer: stopping")
        return False
    except Exception as e:  # noqa: BLE001
        log.info("the cluster failed (%s): stopping", e)
        return False
    finally:
        pool.shutdown(wait=False)
    if found is None:
        log.info("the master group is gone (shut down elsewhere): stopping")
    return found is not None


def _start_group(ns: argparse.Namespace) -> tuple[object, list[str]]:
    """Start the service's master group and stores; (its client, whether it resumed an earlier incarnation).

    With a state folder from an earlier incarnation (every Ray process of it died, or `paxflow down` kept its
    running jobs), the stores start first and read back the pieces they hold on disk; then the replicas reload
    their WALs, and the one elected checks every running job's pieces against the stores before it resumes the
    job (`StoreKeeper.check_pieces`): maps whose pieces all came back do not run again."""
    import ray

    from framework.cluster import alive_nodes
    from framework.master import group as master_group
    from framework.names import service_group, store_scope
    from framework.shuffle import fleet

    scope = store_scope(service_group(ns.service))
    saved = master_group.saved_service(ns.service)
    if saved is None:
        count = ns.stores or master_group.default_store_count(None)
        names = [fleet.store_name(i) for i in range(count)]
        group = master_group.get_master_group(ns.masters, names, service=ns.service)
        ray.get(fleet.start_stores(count, ns.store_memory, scope=scope)[1])
        return group, []
    names = sorted(set(saved["stores"]) | set(fleet.store_folders(scope)))
    log.info("resuming service %r from %s: %d master replicas, stores %s", ns.service, saved["wals"],
             saved["masters"], names)
    budget = ns.store_memory or fleet.default_store_memory(len(names))
    nodes = alive_nodes()
    stores = [fleet.start_store(name, nodes[i % len(nodes)] if len(nodes) > 1 else None, budget, recover=True,
                                scope=scope) for i, name in enumerate(names)]
    ray.get([s.ping.remote() for s in stores])  # each has read its files back
    group = master_group.get_master_group(saved["masters"], saved["stores"], service=ns.service)
    return group, names


def _start_missing_stores(ring: Sequence[str], ns: argparse.Namespace) -> None:
    """Stores of the resumed ring that had no files to recover (they held nothing): started empty."""
    import ray

    from framework.names import service_group, store_scope
    from framework.shuffle import fleet

    missing = sorted(set(ring) - set(fleet.store_names()))
    if missing:
        budget = ns.store_memory or fleet.default_store_memory(len(ring))
        scope = store_scope(service_group(ns.service))
        ray.get([fleet.start_store(name, None, budget, recover=True, scope=scope).ping.remote() for name in missing])


def _stop_keeping_running_jobs(service_name: str) -> None:
    """Stop the group and the stores. Jobs still running are kept for a later `paxflow up` to resume: their WAL
    and their stores' files stay (listed in the state folder's `stopped.json` for `paxflow down` to report);
    with none running the stores' files go (the WAL stays: the jobs' history)."""
    from framework import service
    from framework.master import group as master_group
    from framework.shuffle import fleet

    if service.forget_requested(service_name):  # `paxflow down --forget`
        service.stop_actors()
        service.forget(service_name)
        return
    group = master_group.find_master_group()
    running = []
    if group is not None:
        try:
            running = [j["job_id"] for j in group.call_any("status", timeout=10) if not j.get("finished")]
        except Exception:  # noqa: BLE001 - no answer: keep everything, resuming costs less than losing
            log.exception("could not list the running jobs: keeping the stores' files")
            running = ["?"]
    master_group.record_stop(service_name, running)
    if not running:
        service.stop_actors()
        return
    log.info("keeping running jobs %s for a later `paxflow up`", running)
    master_group.shutdown_group()
    fleet.kill_stores(keep_files=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m framework.keeper")
    parser.add_argument("--address")
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--stores", type=int)
    parser.add_argument("--store-memory", type=int)
    parser.add_argument("--cpus", type=int)
    parser.add_argument("--record", required=True, help="where to write the service record")
    parser.add_argument("--service", default=DEFAULT_SERVICE, help="the service's name: its state folder")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s keeper %(message)s")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    from framework import service

    started_ray = ns.address is None
    created = False
    try:
        import ray

        from framework import cluster
        from framework.master import group as master_group

        service.lock_service(ns.service)  # held while this process lives
        cluster.ensure_ray(ns.address, num_cpus=ns.cpus, loopback=started_ray)
        address = ray.get_runtime_context().gcs_address
        log.info("connected to Ray at %s", address)
        warm = cluster.warm_workers()  # task workers start while the group elects
        group = master_group.find_master_group()
        created = group is None
        resumed: list[str] = []
        if created:
            group, resumed = _start_group(ns)
        info = group.call_leader("info")  # once a leader answers
        if resumed:
            _start_missing_stores(info["ring"]["stores"], ns)
            resumed = [j["job_id"] for j in group.call_leader("status") if not j.get("finished")]
        workers = sorted(set(ray.get(warm)))
        record = {"address": address, "keeper_pid": os.getpid(), "started_ray": started_ray,
                  "session_dir": ray._private.worker._global_node.get_session_dir_path(), "service": ns.service,
                  "masters": len(info["replica_ids"]), "stores": info["ring"]["stores"], "created_group": created,
                  "cpus": cluster.cluster_cpus(), "started": time.time(), "warm_workers": workers,
                  "resumed_jobs": resumed}
        service.write_record(ns.record, record)
        log.info("service up: %s", record)
        while True:
            time.sleep(CHECK_S)
            if not _group_answers(master_group):
                break
    except _Stop:
        log.info("stopping")
    except Exception:  # noqa: BLE001 - the log says why; `paxflow up` shows its tail
        log.exception("the keeper failed")
        service.remove_record(ns.record, os.getpid())
        if created and not started_ray:  # a group and stores no process owns must not linger on the cluster
            try:
                service.stop_actors()
            except Exception:  # noqa: BLE001 - the cluster itself may be what failed
                log.exception("could not stop the master group and stores it started")
        return 1
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the clean-up below runs to its end
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if _cluster_up(ns.address):
            _stop_keeping_running_jobs(ns.service)
    finally:
        service.remove_record(ns.record, os.getpid())
        if started_ray:
            import ray

            ray.shutdown()  # the local head ends with its keeper
    log.info("stopped")
    logging.shutdown()
    os._exit(0)  # a driver whose cluster went away can hang in Ray's exit handlers; nothing is left to do


if __name__ == "__main__":
    sys.exit(main())
