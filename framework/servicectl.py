"""`paxflow up` and `paxflow down`: start and stop a Paxflow service (see `framework.service`).

    paxflow up                      # a local Ray head, 3 master replicas, the stores, warm task workers
    paxflow up --address auto       # the same on a running `ray start` cluster
    paxflow run jobs/wordcount.py   # uses the service: no Ray start, no process start
    paxflow down                    # stops all of it; no process is left
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from framework.argparsing import UsageParser, run_command
from framework.datagen.common import size_arg
from framework.errors import UsageError
from framework.names import DEFAULT_SERVICE


def _parser(command: str) -> argparse.ArgumentParser:
    parser = UsageParser(prog=f"paxflow {command}", add_help=True)
    if command == "up":
        parser.add_argument("--address", help="run the service on this Ray cluster (e.g. auto); default: start a "
                                              "local Ray head in the background, on loopback")
        parser.add_argument("--masters", type=int, default=3, choices=[1, 3, 5], help="master replicas (default 3)")
        parser.add_argument("--stores", type=int, help="shuffle stores (default: one per node)")
        parser.add_argument("--store-memory", type=size_arg, metavar="SIZE",
                            help="memory per store before it keeps pieces on disk only (default: half the object "
                                 "store, shared among the stores)")
        parser.add_argument("--cpus", type=int, help="CPUs of the local Ray (default: all); not with --address")
        parser.add_argument("--name", default=DEFAULT_SERVICE,
                            help="the service's name (default %(default)s): its master group's WALs and its stores' "
                                 "files live under it, so a service started again under the same name, after a "
                                 "`paxflow down` or after every Ray process died, resumes the jobs that were running")
    else:
        parser.add_argument("--address", help="stop the Paxflow actors on this Ray cluster (any machine's service "
                                              "there); default: the service this machine runs")
        parser.add_argument("--name", help="the service whose state --forget clears when none runs "
                                           f"(default: the running one's, else {DEFAULT_SERVICE})")
        parser.add_argument("--forget", action="store_true",
                            help="also drop the service's state: its running jobs' pieces and its WALs (nothing "
                                 "can be resumed after this)")
    return parser


def main(command: str, argv: Sequence[str]) -> int:
    def body() -> int:
        ns = _parser(command).parse_args(list(argv))
        return _up(ns) if command == "up" else _down(ns)

    return run_command(body)


def _up(ns: argparse.Namespace) -> int:
    from framework import service

    if ns.stores is not None and ns.stores < 1:
        raise UsageError(f"--stores must be at least 1, got {ns.stores}")
    if ns.cpus is not None and (ns.cpus < 1 or ns.address):
        raise UsageError("--cpus must be at least 1, and applies to a local Ray only (not with --address)")
    running = service.running_service()
    if running is not None:
        if ns.address and ns.address != "auto" and ns.address != running["address"]:
            raise UsageError(f"a Paxflow service is already up at {running['address']}; `paxflow down` first")
        print(f"paxflow: a service is already up at {running['address']} (keeper pid {running['keeper_pid']}); "
              f"`paxflow down` stops it")
        return 0
    started = time.perf_counter()
    status = _Status(sys.stderr.isatty())
    try:
        record, _ = service.up(ns.address, ns.masters, ns.stores, ns.store_memory, ns.cpus, on_step=status.step,
                               name=ns.name)
    finally:
        status.close()
    where = "a local Ray head on loopback" if record["started_ray"] else "the Ray cluster"
    print(f"paxflow: service up in {time.perf_counter() - started:.1f} s on {where} at {record['address']}: "
          f"{record['masters']} master replicas, {len(record['stores'])} shuffle store(s), "
          f"{len(record['warm_workers'])} warm task workers ({record['cpus']} CPUs)")
    resumed = record.get("resumed_jobs") or []
    if resumed:
        print(f"  resumed {len(resumed)} running job(s) of service {record['service']!r} from its WALs: "
              f"{', '.join(resumed)} (paxflow wait JOB follows one)")
    print("  paxflow run JOB [INPUT ...]   runs on it (no Ray start; workers stay warm between jobs)")
    print("  paxflow status                shows it; paxflow down stops it (and everything it started)")
    return 0


def _down(ns: argparse.Namespace) -> int:
    from framework import service

    from framework.master.group import stopped_with

    if ns.address:
        if ns.forget:
            raise UsageError("--forget applies to the service this machine runs (not with --address)")
        return _down_cluster(ns.address)
    record = service.down(forget=ns.forget)
    name = ns.name or (record or {}).get("service") or DEFAULT_SERVICE
    if record is None:
        if ns.forget:
            cleared = service.forget(name)
            print(f"paxflow: no Paxflow service is up on this machine; "
                  f"{'cleared the state of' if cleared else 'nothing was kept of'} service {name!r}")
        else:
            print("paxflow: no Paxflow service is up on this machine")
        return 0
    if ns.forget:
        service.forget(name)  # what a keeper that was killed could not clear
    what = "and its local Ray" if record.get("started_ray") else f"(the cluster at {record['address']} stays up)"
    kept = [] if ns.forget else stopped_with(name)
    if kept:
        print(f"paxflow: service at {record['address']} stopped: master group, shuffle stores {what}; "
              f"{len(kept)} running job(s) kept for the next `paxflow up{'' if name == DEFAULT_SERVICE else ' --name ' + name}` "
              f"to resume: {', '.join(kept)} (`paxflow down --forget` drops them)")
    else:
        print(f"paxflow: service at {record['address']} stopped: master group, shuffle stores and their data {what}")
    return 0


def _down_cluster(address: str) -> int:
    """Stop the group and stores on a cluster from any machine; the keeper that owns them sees the group go and
    exits by itself."""
    from framework import cluster, service
    from framework.master.group import find_master_group

    record = service.running_service()
    if record is not None and address in (record["address"], "auto"):
        service.down()
        print(f"paxflow: service at {record['address']} stopped")
        return 0
    try:
        cluster.ensure_ray(address)
    except (ConnectionError, RuntimeError) as e:
        raise UsageError(f"cannot reach a Ray cluster at {address!r}: {e}") from None
    if find_master_group() is None:
        print(f"paxflow: no Paxflow service is up on the cluster at {address}")
        return 0
    stopped = service.stop_actors()
    print(f"paxflow: stopped the master group and {len(stopped['stores'])} shuffle stores on {address}")
    return 0


class _Status:
    """A one-line status on a terminal while the service starts."""

    def __init__(self, enabled: bool) -> None:
        self._status = None
        if enabled:
            from rich.console import Console

            self._status = Console(stderr=True).status("starting the Paxflow service...")
            self._status.start()

    def step(self, text: str) -> None:
        if self._status is not None:
            self._status.update(f"{text}, then the master group and warm task workers...")

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
