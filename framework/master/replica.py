"""A job master replica as a Ray actor: the client's interface, wired to the rooms that do the work.

N replicas (default 3) form the master group. Every job-state change is proposed by the leader, chosen by a
majority, written to each replica's WAL and applied to every replica's `MasterState` in the same order; the
leader acts on a change only once it is applied. When the leader dies, another replica wins phase 1, records
`LeaderElected` (which gives up the old leader's in-flight attempts, whose results can no longer arrive), and
resumes every running job: finished tasks are never run again.

The rooms, each in its own module:
- `consensus`: the Paxos core, its WAL, the tick timer and the state machine (`ConsensusNode`);
- `peers`: the transport to the other replicas, watching them and starting a dead one again (`PeerWatch`);
- `storekeeper`: the leader's care of the shuffle stores: watch, restart, membership (`StoreKeeper`);
- `jobs`: the leader's job drivers (`JobDrivers`), each running `driver.drive`.
This module only wires them together and answers the client (`submit`, `cancel`, `status`, ...).

All methods run on one asyncio loop: the core is driven from one thread, and nothing may block that loop.
The WAL lives under the state directory keyed by group id and node id, so a replica restarted on another node
finds no files and rejoins as a non-voting member until it has caught up (Paxos Made Live, 5.1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Mapping, Sequence

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from framework.exec.ray_tasks import RayBackend
from framework.master.consensus import ConsensusNode, NotLeaderError
from framework.master.jobs import JobDrivers
from framework.master.peers import PeerDirectory, PeerWatch, RayTransport, replica_name
from framework.master.state import (
    TERMINAL,
    Command,
    JobCancelled,
    LeaderElected,
    RingChanged,
)
from framework.master.storekeeper import StoreKeeper
from framework.names import NAMESPACE, is_service_group, store_scope

__all__ = ["MasterReplica", "NotLeaderError", "spawn_replica"]

log = logging.getLogger(__name__)


def spawn_replica(i: int, replica_ids: Sequence[int], group: str, stores: Sequence[str], state_dir: str,
                  fsync: bool = True, node: str | None = None, recreated: bool = False,
                  nodes: Mapping[int, str] | None = None):
    """Start replica `i` of `group` under its stable name, or return the one running under it.

    `node`: where to start it (a live node: the affinity is hard, since Ray's soft affinity was seen to put two
    replicas of a fresh 3-node cluster on one node, and one node's loss would then take a majority's WAL with it).
    `recreated`: it ran before, so finding no WAL means its disk was lost (it then rejoins non-voting); a replica
    started again on its old node reloads its WAL. `nodes`: where each replica of the group runs, as far as is
    known (so a dead peer is restarted where its WAL is, from the first moment). `stores`: the names of the
    shuffle stores the group starts with.
    """
    options: dict[str, Any] = dict(name=replica_name(i), namespace=NAMESPACE, get_if_exists=True,
                                   lifetime="detached")
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    return MasterReplica.options(**options).remote(i, list(replica_ids), group, sorted(stores), state_dir, fsync,
                                                   recreated, {int(k): v for k, v in (nodes or {}).items()})


def wal_dir(state_dir: str, group: str, node: str, replica_id: int) -> str:
    """Where a replica keeps its WAL. A service's group keys it by the service alone (`svc-NAME/replica-i`): the
    folder outlives every Ray session, so the group started again after all of Ray died reloads its log. Any other
    group keys it by node too (`ID/NODE/replica-i`): a replica started on another node finds no WAL there."""
    if is_service_group(group):
        return os.path.join(state_dir, group, f"replica-{replica_id}")
    return os.path.join(state_dir, group, node[:16], f"replica-{replica_id}")


@ray.remote(num_cpus=0, max_concurrency=1000, max_restarts=0)
class MasterReplica:
    """One replica of the master group: the client's interface over the rooms."""

    def __init__(self, replica_id: int, replica_ids: Sequence[int], group: str, stores: Sequence[str],
                 state_dir: str, fsync: bool = True, recreated: bool = False,
                 nodes: Mapping[int, str] | None = None) -> None:
        self.id = replica_id
        self.ids = list(replica_ids)
        self.group = group
        self.node = ray.get_runtime_context().get_node_id()
        self.state_dir, self.fsync, self.initial_stores = state_dir, fsync, sorted(stores)
        self.dir = wal_dir(state_dir, group, self.node, replica_id)
        self.recreated = recreated
        self.backend = RayBackend()
        directory = PeerDirectory()
        self.consensus = ConsensusNode(replica_id, self.ids, self.dir, RayTransport(directory), fsync=fsync,
                                       lost_disk=recreated, on_apply=self._applied, on_leading=self._leading)
        self.peers = PeerWatch(replica_id, self.ids, directory, self.consensus.leader_lost, self._restart_peer,
                               self.node, nodes, on_up=self.consensus.peer_up)
        self.drivers = JobDrivers(self.consensus, self.backend, self._before_drive)
        self.stores = StoreKeeper(replica_id, self.consensus, self.backend, self.drivers.running,
                                  self.initial_stores, store_scope(group))
        self.consensus.on_tick.append(self.peers.watch)

    # ---- wiring ----------------------------------------------------------------------------------------------

    @property
    def state(self):
        return self.consensus.state

    def _ensure_started(self) -> None:
        self.consensus.start()

    def _applied(self, cmd: Command) -> None:
        if isinstance(cmd, RingChanged) and self.consensus.leading:  # watch the stores the running jobs now use too
            self.stores.watch_running()
        self.drivers.applied(cmd)

    def _leading(self, leading: bool) -> None:
        if leading:
            asyncio.ensure_future(self._take_over())
        else:
            self.drivers.stop_all()

    async def _take_over(self) -> None:
        """Record the new leadership (which gives up the old leader's in-flight attempts) and resume every job."""
        try:
            await self.consensus.propose([LeaderElected("", self.id, list(self.consensus.core.ballot()),
                                                        time.time())])
            log.warning("replica %s leads at ballot %s", self.id, self.consensus.core.ballot())
            try:
                await self.stores.check_pieces()
            except NotLeaderError:
                raise
            except Exception:  # noqa: BLE001 - the store watch still catches a lost store, later
                log.exception("replica %s: the pieces check failed", self.id)
            self.drivers.start_all()
        except NotLeaderError:
            return
        self.stores.start()

    async def _before_drive(self, job) -> None:
        await self.stores.watch(job)

    def _restart_peer(self, peer: int, node: str | None, nodes: dict) -> None:
        spawn_replica(peer, self.ids, self.group, self.initial_stores, self.state_dir, self.fsync, node,
                      recreated=True, nodes=nodes)

    def _ring_stores(self) -> list[str]:
        return self.stores.ring_stores()

    # ---- the actor's interface --------------------------------------------------------------------------------

    async def hold(self, seconds: float) -> str:
        """Return this replica's node after `seconds`: peers park a call here to learn at once when it dies."""
        self._ensure_started()  # a peer's first call: start ticking (and electing) without waiting for a client
        await asyncio.sleep(seconds)
        return self.node

    async def set_healing(self, on: bool) -> None:
        """Whether this replica starts dead peers again (off while the group is shut down)."""
        self.peers.healing = on
        self.stores.healing = on

    async def deliver(self, batch: list) -> None:
        """Messages from a peer."""
        self._ensure_started()
        self.consensus.deliver(batch)

    async def submit(self, job_id: str, spec: dict) -> dict:
        """Start a job (idempotent by job id). Answers {"ok": True} or {"leader": hint} when not the leader."""
        self._ensure_started()
        return await self.drivers.submit(job_id, spec, self._ring_stores())

    async def scale(self, stores: list | None, auto: bool = False) -> dict:
        """Make `stores` the shuffle stores (None: keep the current ones): new jobs use them, running jobs place new
        attempts on them (a `RingChanged` in the log). Stores taken out retire once no running job reads from them.
        `auto`: give each node that joins a store of its own. Answers {"version": n, "stores": [...], "auto": bool,
        "retiring": [...]} or {"leader": hint} when not the leader."""
        self._ensure_started()
        if not self.consensus.is_leader():
            return {"leader": self.consensus.leader_hint()}
        stores = sorted(stores if stores is not None else self._ring_stores())
        version = self.state.ring["version"] + 1
        try:
            await self.consensus.propose([RingChanged("", version, stores, auto=auto)])
        except NotLeaderError as e:
            return {"leader": e.hint}
        return {"version": version, "stores": stores, "auto": auto, "retiring": list(self.state.retiring)}

    async def cancel(self, job_id: str, reason: str = "cancelled by the user") -> dict:
        """Cancel a job; its status once its driver ended (a job whose commit began ends committed instead)."""
        self._ensure_started()
        answer = await self.drivers.cancel(job_id, reason)
        return answer if answer is not None else self._describe(job_id)

    async def status(self, job_id: str | None = None) -> Any:
        """A job's progress (this replica's view, applied up to its commit index), or every job's."""
        self._ensure_started()
        if job_id is not None:
            return self._describe(job_id) if job_id in self.state.jobs else self._unknown()
        return [self._describe(j) for j in self.state.jobs]

    def _unknown(self) -> dict:
        """The answer for a job this replica has not heard of: {} from the leader (there is no such job), else
        a hint to ask the leader (this replica may not have applied its submission yet)."""
        return {} if self.consensus.is_leader() else {"leader": self.consensus.leader_hint()}

    async def wait(self, job_id: str, timeout: float) -> dict:
        """The job's status once it has ended, or after `timeout` seconds."""
        self._ensure_started()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.state.jobs.get(job_id)
            if job is not None and job.status in TERMINAL and job_id not in self.drivers.tasks:
                break
            await asyncio.sleep(0.02)
        return self._describe(job_id) if job_id in self.state.jobs else self._unknown()

    async def info(self) -> dict:
        """This replica: id, role, ballot, last applied slot, node; and the leader history."""
        self._ensure_started()
        return {**self.consensus.status(), "node": self.node, "leaders": self.state.leaders, "wal": self.dir,
                "group": self.group, "replica_ids": self.ids, "jobs_running": self.drivers.running(),
                "recreated": self.recreated, "restarted_peers": self.peers.restarts,
                "store_restarts": self.stores.restarts, "pid": os.getpid(),
                "ring": {**self.state.ring, "stores": self._ring_stores()}, "retiring": list(self.state.retiring)}

    async def probe(self, count: int = 1, concurrency: int = 1) -> Any:
        """Replicate `count` no-op commands, `concurrency` at a time; the seconds each took to be chosen and applied.

        For benchmarks and health checks (a no-op is a JobCancelled of a job that does not exist). Answers
        {"leader": hint} when not the leader."""
        self._ensure_started()
        if not self.consensus.is_leader():
            return {"leader": self.consensus.leader_hint()}
        latencies: list[float] = []

        async def one(i: int) -> None:
            started = time.perf_counter()
            await self.consensus.propose([JobCancelled(f"probe-{self.consensus.client_id}-{i}", "probe")])
            latencies.append(time.perf_counter() - started)

        try:
            for start in range(0, count, concurrency):
                await asyncio.gather(*(one(i) for i in range(start, min(count, start + concurrency))))
        except NotLeaderError as e:
            return {"leader": e.hint}
        return latencies

    async def commands_of(self, job_id: str) -> dict:
        """What the state records of a job's tasks (for tests and tools): attempts launched and the committed one."""
        job = self.state.jobs[job_id]
        return {t: {"launched": r.launched, "done_attempt": r.done_attempt, "node": (r.result or {}).get("node"),
                    "pid": (r.result or {}).get("pid"),
                    "seconds": (r.result or {}).get("seconds"), "resent": sorted(r.patches),
                    "ring": r.ring_at.get(r.done_attempt, 0) if r.done else None}
                for t, r in job.tasks.items()}

    def _describe(self, job_id: str) -> dict:
        job = self.state.jobs[job_id]
        started, ended = self.drivers.times.get(job_id, [None, None])
        finished = job.status in TERMINAL and job_id not in self.drivers.tasks
        # which task workers ran the committed attempts: once, at the end (a service's workers live on)
        pids = sorted({r.result["pid"] for r in job.tasks.values() if r.result and r.result.get("pid")}) \
            if finished else []
        return {**job.progress(), "outputs": job.outputs, "details": job.details, "usage_error": job.usage_error,
                "finished": finished, "worker_pids": pids,
                "wall_s": (ended - started) if started and ended else None, "submitted": started, "replica": self.id,
                "leader": self.consensus.leader_hint(), "leaders": self.state.leaders}
