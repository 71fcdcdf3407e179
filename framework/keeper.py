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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m framework.keeper")
    parser.add_argument("--address")
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--stores", type=int)
    parser.add_argument("--store-memory", type=int)
    parser.add_argument("--cpus", type=int)
    parser.add_argument("--record", required=True, help="where to write the service record")
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
        from framework.shuffle import fleet

        cluster.ensure_ray(ns.address, num_cpus=ns.cpus, loopback=started_ray)
        address = ray.get_runtime_context().gcs_address
        log.info("connected to Ray at %s", address)
        warm = cluster.warm_workers()  # task workers start while the group elects
        group = master_group.find_master_group()
        created = group is None
        if created:
            count = ns.stores or master_group.default_store_count(None)
            group = master_group.get_master_group(ns.masters, [fleet.store_name(i) for i in range(count)])
            ray.get(fleet.start_stores(count, ns.store_memory)[1])
        info = group.call_leader("info")  # once a leader answers
        workers = sorted(set(ray.get(warm)))
        record = {"address": address, "keeper_pid": os.getpid(), "started_ray": started_ray,
                  "session_dir": ray._private.worker._global_node.get_session_dir_path(),
                  "masters": len(info["replica_ids"]), "stores": info["ring"]["stores"], "created_group": created,
                  "cpus": cluster.cluster_cpus(), "started": time.time(), "warm_workers": workers}
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
            service.stop_actors()
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
