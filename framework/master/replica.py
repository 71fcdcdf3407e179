"""A job master replica as a Ray actor: the Multi-Paxos core, its WAL, the state machine, and (on the leader) the
scheduling loops.

N replicas (default 3) form the master group. Every job-state change is proposed by the leader, chosen by a
majority, written to each replica's WAL and applied to every replica's `MasterState` in the same order; the
leader acts on a change only once it is applied. When the leader dies, another replica wins phase 1, records
`LeaderElected` (which gives up the old leader's in-flight attempts, whose results can no longer arrive), and
resumes every running job: finished tasks are never run again.

Death is detected, not timed out: every replica keeps a call parked on each peer (`hold`), and Ray fails it within
milliseconds of the peer's death. Replicas are therefore actors Ray does not restart (a restarting actor's callers
hear of it only ~1.1 s later, measured here); instead the replica that sees a peer die starts it again under its
name, where it reloads its WAL (`heal`). The election timeout (0.8-1.6 s) is left for what a dead process does not
show: a hung or partitioned leader. That lets heartbeats be sparse (every 250 ms), which matters on a small
machine: three replicas heartbeating every 100 ms took ~20% of a core from the job's tasks.

The leader also keeps the shuffle stores: a call parked on each store a running job uses tells it of a store's
death; a durable store whose node lives is started again there with its data (tasks wait for it by name), any
other loss is recorded as `StoreLost`. In automatic mode it starts a store on each node that joins
(`RingChanged`), and it stops stores a ring change took out once no running job reads from them (`StoresRetired`).

Transport is batched actor calls (`deliver`); a 50 ms tick timer drives elections, heartbeats, leases and resends.
The WAL lives under the state directory keyed by group id and node id, so a replica restarted on another node
finds no files and rejoins as a non-voting member until it has caught up (Paxos Made Live, 5.1).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from collections import defaultdict
from typing import Any, Mapping, Sequence

import ray
from ray.exceptions import ActorDiedError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from framework.cluster import NAMESPACE, STORE_PREFIX, start_store
from framework.exec.ray_tasks import RayBackend
from framework.master.driver import drive
from framework.master.state import (
    RUNNING,
    TERMINAL,
    Command,
    JobCancelled,
    JobFailed,
    JobState,
    JobSubmitted,
    LeaderElected,
    MasterState,
    RingChanged,
    StoreLost,
    StoresRetired,
    command_from_dict,
    restore,
    snapshot,
)
from framework.paxos import Applied, Config, FileStorage, Replica
from framework.paxos.codec import message_from_json, message_to_json
from framework.shuffle.membership import stores_to_add
from framework.shuffle.ring import HashRing

log = logging.getLogger(__name__)

REPLICA_PREFIX = "paxflow-master-"
TICK_SECONDS = 0.05
#: take a snapshot and truncate the log every this many applied slots
SNAPSHOT_EVERY = 2000
#: how long a parked `hold` call waits before it is renewed
HOLD_SECONDS = 2.0
#: the least time between two restarts of the same peer (a replica that crashes at start must not spin)
HEAL_BACKOFF_S = 2.0
#: how long a dead store's restart (and the reading of its files) may take before its data counts as lost
STORE_RESTART_TIMEOUT_S = 30.0
#: how often the leader looks for joined nodes (to give them a store) and for retiring stores it may stop
MEMBERSHIP_S = 1.0


def group_config(replica_ids: Sequence[int]) -> Config:
    """Timing in 50 ms ticks: heartbeat every 5 ticks, lease 12 ticks, election timeout 16-32 ticks (0.8-1.6 s).

    A dead leader is noticed through its failed `hold` calls within milliseconds, so these only bound how long a
    hung or cut-off leader holds the group up. Shorter leases deposed healthy leaders on this loaded 2-core
    machine (8 elections in 5 s at 150 ms).
    """
    return Config(tuple(replica_ids), election_ticks_min=16, election_ticks_max=32, heartbeat_ticks=5,
                  lease_ticks=12, window=16, max_batch=64, resend_ticks=3)


def spawn_replica(i: int, replica_ids: Sequence[int], group: str, stores: Mapping[str, Any], state_dir: str,
                  fsync: bool = True, node: str | None = None, recreated: bool = False,
                  nodes: Mapping[int, str] | None = None):
    """Start replica `i` of `group` under its stable name, or return the one running under it.

    `node`: where to start it (a live node: the affinity is hard, since Ray's soft affinity was seen to put two
    replicas of a fresh 3-node cluster on one node, and one node's loss would then take a majority's WAL with it).
    `recreated`: it ran before, so finding no WAL
    means its disk was lost (it then rejoins non-voting); a replica started again on its old node reloads its WAL.
    `nodes`: where each replica of the group runs, as far as is known (so a dead peer is restarted where its
    WAL is, from the first moment).
    """
    options: dict[str, Any] = dict(name=f"{REPLICA_PREFIX}{i}", namespace=NAMESPACE, get_if_exists=True,
                                   lifetime="detached")
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    return MasterReplica.options(**options).remote(i, list(replica_ids), group, dict(stores), state_dir, fsync,
                                                   recreated, {int(k): v for k, v in (nodes or {}).items()})


class NotLeaderError(Exception):
    """This replica is not (or no longer) the leader; `hint` names the one it believes is."""

    def __init__(self, hint: int | None):
        super().__init__(f"not the leader (leader hint: {hint})")
        self.hint = hint


@ray.remote(num_cpus=0, max_concurrency=1000, max_restarts=0)
class MasterReplica:
    """One replica of the master group. All methods run on one asyncio loop: the core is driven from one thread."""

    def __init__(self, replica_id: int, replica_ids: Sequence[int], group: str, stores: Mapping[str, Any],
                 state_dir: str, fsync: bool = True, recreated: bool = False,
                 nodes: Mapping[int, str] | None = None) -> None:
        ctx = ray.get_runtime_context()
        self.id = replica_id
        self.ids = list(replica_ids)
        self.group = group
        self.node = ctx.get_node_id()
        self.state_dir, self.fsync, self.stores = state_dir, fsync, dict(stores)
        self.dir = os.path.join(state_dir, group, self.node[:16], f"replica-{replica_id}")
        self.storage = FileStorage(self.dir, fsync=fsync)
        durable = self.storage.load()
        self.recreated = recreated
        self.core = Replica(group_config(self.ids), replica_id, rng=random.Random(uuid.uuid4().int), durable=durable,
                            lost_disk=recreated)
        self.state = MasterState()
        self.backend = RayBackend()
        self.store_watch: set[str] = set()  # actor ids of the stores whose death the leader waits to hear of
        self.client_id = f"replica-{replica_id}-{uuid.uuid4().hex[:8]}"  # this incarnation's proposals
        self.seq = 0
        self.pending: dict[tuple[str, int], asyncio.Future] = {}
        self.peers: dict[int, Any] = {}
        self.leading = False
        self.drivers: dict[str, asyncio.Task] = {}
        self.started: asyncio.Task | None = None
        self.snapshot_at = 0
        self.times: dict[str, list] = {}
        self.watched: set[int] = set()  # peers with a `hold` call parked on them
        # where each replica last ran (a restart goes there, to find its WAL)
        self.peer_nodes: dict[int, str] = {int(k): v for k, v in (nodes or {}).items()}
        self.peer_nodes[self.id] = self.node
        self.healing = True  # restart peers that die (off once the group is being shut down)
        self.healed: dict[int, float] = {}  # peer -> when this replica last restarted it
        self.restarts: list[dict] = []  # the peers this replica restarted
        self.store_nodes: dict[str, str] = {}  # store actor id -> its node (stores do not move)
        self.membership: asyncio.Task | None = None  # the leader's store membership loop
        self.recovering: set[str] = set()  # stores being started again from their files (not to be replaced)
        self.store_restarts: list[dict] = []  # the dead stores this replica started again with their data

    # ---- the event loop ----------------------------------------------------------------------------------------

    def _ensure_started(self) -> None:
        if self.started is None:
            self._drain()  # replay what the WAL holds into the state machine before anything else
            self.started = asyncio.ensure_future(self._ticker())

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.core.tick()
                self._drain()
                self._watch_peers()
            except Exception:  # a broken tick must not stop the replica
                log.exception("replica %s tick failed", self.id)

    def _drain(self) -> None:
        """Act on every Ready in the order the core requires: persist, send, apply, advance."""
        while self.core.has_ready():
            ready = self.core.ready()
            if ready.has_writes():
                try:
                    self.storage.persist(ready)
                except OSError:
                    # A replica that cannot write its WAL (full or failed disk) must not go on voting or sending:
                    # crash, as etcd panics, so Ray restarts it and it recovers from what is on disk.
                    log.exception("replica %s cannot persist to %s; restarting", self.id, self.dir)
                    os._exit(1)
            outbox: dict[int, list] = defaultdict(list)
            for msg in ready.messages:
                outbox[msg.dst].append(message_to_json(msg))
            for dst, batch in outbox.items():
                asyncio.ensure_future(self._send(dst, batch))
            if ready.restore is not None and ready.restore.value is not None:
                self.state = restore(ready.restore.value)
            for entry in ready.committed:
                for cmd in entry.command:
                    self._apply(command_from_dict(cmd))
            for result in ready.results:
                fut = self.pending.pop((result.client_id, result.seq), None)
                if fut is not None and not fut.done():
                    if isinstance(result, Applied):
                        fut.set_result(result.slot)
                    else:
                        fut.set_exception(NotLeaderError(result.leader_hint))
            self.core.advance(ready)
        self._compact_if_due()
        self._check_leadership()

    def _apply(self, cmd: Command) -> None:
        self.state.apply(cmd)
        if isinstance(cmd, RingChanged) and self.leading:  # watch the stores the running jobs now use too
            for job in self.state.jobs.values():
                if job.status == RUNNING:
                    self._watch_stores(job)
        if isinstance(cmd, JobSubmitted):
            self.times.setdefault(cmd.job_id, [time.time(), None])
        job = self.state.jobs.get(cmd.job_id)
        if job is not None and job.status in TERMINAL and self.times.get(cmd.job_id, [0, 0])[1] is None:
            self.times.setdefault(cmd.job_id, [time.time(), None])[1] = time.time()

    def _compact_if_due(self) -> None:
        applied = self.core.last_applied()
        if applied - self.snapshot_at >= SNAPSHOT_EVERY and not self.core.has_ready():
            self.core.compact(applied, snapshot(self.state))
            self.snapshot_at = applied

    async def _send(self, dst: int, batch: list) -> None:
        peer = self.peers.get(dst)
        try:
            if peer is None:
                peer = self.peers[dst] = ray.get_actor(f"{REPLICA_PREFIX}{dst}", namespace=NAMESPACE)
            await peer.deliver.remote(batch)
        except (RayError, ValueError):
            self.peers.pop(dst, None)  # dead or not there yet: Paxos resends; look it up again next time

    # ---- leadership ---------------------------------------------------------------------------------------------

    def _watch_peers(self) -> None:
        """Keep one call parked on every peer: when a peer's actor dies the call fails within milliseconds. A
        follower whose leader died campaigns at once instead of waiting out its election timeout, and the dead
        peer is started again."""
        for peer in self.ids:
            if peer != self.id and peer not in self.watched:
                self.watched.add(peer)
                asyncio.ensure_future(self._watch(peer))

    async def _watch(self, peer: int) -> None:
        try:
            while True:
                handle = self.peers.get(peer) or ray.get_actor(f"{REPLICA_PREFIX}{peer}", namespace=NAMESPACE)
                self.peers[peer] = handle
                self.peer_nodes[peer] = await handle.hold.remote(HOLD_SECONDS)
        except (ActorDiedError, ValueError):  # dead, or (ValueError) no actor under its name any more
            self.peers.pop(peer, None)
            if self.core.leader_hint() == peer:
                log.warning("replica %s: leader %s is gone; campaigning", self.id, peer)
                self.core.leader_lost(peer)
                self._drain()
            self._heal(peer)
        except RayError:  # unreachable for now (a node that stopped answering): Paxos' timeouts cover it
            self.peers.pop(peer, None)
            await asyncio.sleep(HOLD_SECONDS / 4)
        finally:
            self.watched.discard(peer)

    def _heal(self, peer: int) -> None:
        """Start a dead peer again under its name, on its old node if that is still there (so it finds its WAL).
        Several replicas may try at once: the name makes it one actor."""
        now = time.monotonic()
        if not self.healing or now - self.healed.get(peer, -1e9) < HEAL_BACKOFF_S:
            return
        self.healed[peer] = now
        node = self.peer_nodes.get(peer)
        alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        if node not in alive:  # its node is gone (and its WAL with it): a node that holds no replica yet, if any
            taken = {n for p, n in self.peer_nodes.items() if p != peer}
            free = [n for n in alive if n not in taken]
            node = free[0] if free else None
        try:
            spawn_replica(peer, self.ids, self.group, self.stores, self.state_dir, self.fsync, node,
                          recreated=True, nodes=self.peer_nodes)
        except Exception:  # a failed restart is retried on the next failed hold
            log.exception("replica %s could not restart replica %s", self.id, peer)
            return
        self.restarts.append({"replica": peer, "time": time.time(), "node": node})
        log.warning("replica %s restarted replica %s", self.id, peer)

    def _check_leadership(self) -> None:
        leader = self.core.is_leader()
        if leader and not self.leading:
            self.leading = True
            asyncio.ensure_future(self._take_over())
        elif not leader and self.leading:
            self.leading = False
            for task in self.drivers.values():
                task.cancel()  # the next leader resumes these jobs; this one must stop acting
            self.drivers.clear()

    async def _take_over(self) -> None:
        """Record the new leadership (which gives up the old leader's in-flight attempts) and resume every job."""
        try:
            await self._propose([LeaderElected("", self.id, list(self.core.ballot()), time.time())])
            log.warning("replica %s leads at ballot %s", self.id, self.core.ballot())
            for job in list(self.state.jobs.values()):
                self._start_driver(job.job_id)
        except NotLeaderError:
            return
        if self.membership is None or self.membership.done():
            self.membership = asyncio.ensure_future(self._membership())

    # ---- shuffle store membership (leader only) -------------------------------------------------------------

    def _ring_stores(self) -> list[str]:
        ring = self.state.ring
        return list(ring["stores"]) if ring["version"] else sorted(self.stores)

    async def _membership(self) -> None:
        """While leading: give each node that joined a store (in automatic mode) and stop retiring stores that no
        running job reads from any more."""
        while self.leading:
            await asyncio.sleep(MEMBERSHIP_S)
            try:
                await self._retire_stores()
                if self.state.ring.get("auto", True):
                    await self._grow_stores()
            except NotLeaderError:
                return
            except Exception:  # a failed round is tried again on the next
                log.exception("replica %s: store membership round failed", self.id)

    def _live_stores(self) -> tuple[list[str], dict[str, Any]]:
        """(alive nodes, {name: handle} of every running store): blocking cluster look-ups, run off the event
        loop (a node that is dying can make them slow, and the loop also drives Paxos)."""
        alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if a.get("namespace") == NAMESPACE and a["name"].startswith(STORE_PREFIX)]
        handles = {}
        for name in names:
            try:
                handles[name] = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:  # gone since it was listed
                pass
        return alive, handles

    async def _store_stats(self, handle: Any) -> dict | None:
        """A live store's stats (its node is cached: stores do not move); None when it does not answer."""
        try:
            return await asyncio.wait_for(handle.stats.remote(), timeout=STORE_RESTART_TIMEOUT_S)
        except (RayError, asyncio.TimeoutError):
            return None

    async def _grow_stores(self) -> None:
        version = self.state.ring["version"]
        alive, running = await asyncio.to_thread(self._live_stores)
        ring = self._ring_stores()
        nodes: dict[str, str | None] = {}
        budget = None
        for name in ring:
            handle = running.get(name)
            key = handle._actor_id.hex() if handle is not None else None
            if key is not None and key not in self.store_nodes:
                stats = await self._store_stats(handle)
                if stats is not None:
                    self.store_nodes[key] = stats["node"]
                    budget = stats["budget"]
            nodes[name] = self.store_nodes.get(key) if key else None
        # a dead store a running job still uses is the store watch's to start again (with its data), not this loop's
        skip = self.recovering | {name for name in ring if nodes[name] is None and self._store_in_use(name)}
        added = [(name, node) for name, node in stores_to_add(ring, nodes, alive, STORE_PREFIX, list(running))
                 if name not in skip]
        if not added:
            return
        if budget is None:
            for name in ring:  # the new stores get the budget the others run with
                stats = await self._store_stats(running[name]) if name in running else None
                if stats is not None:
                    budget = stats["budget"]
                    break
        if self.state.ring["version"] != version or not self.state.ring.get("auto", True):
            return  # `paxflow scale` changed the ring meanwhile: it wins
        handles = await asyncio.to_thread(lambda: [start_store(name, node, budget) for name, node in added])
        await asyncio.wait_for(asyncio.gather(*(h.ping.remote() for h in handles)), STORE_RESTART_TIMEOUT_S)
        if self.state.ring["version"] != version:
            return
        stores = sorted(set(ring) | {name for name, _ in added})
        log.warning("replica %s: node(s) joined; shuffle stores now %s", self.id, stores)
        await self._propose([RingChanged("", version + 1, stores, auto=True)])

    async def _retire_stores(self) -> None:
        # not while a job that used it still cleans up (its driver frees the job's data and files on it)
        cleaning = {name for job_id in self.drivers for name in self.state.jobs[job_id].all_stores()}
        names = [name for name in self.state.retirable() if name not in cleaning]
        if not names:
            return

        def kill() -> None:
            for name in names:
                try:
                    ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
                except ValueError:  # already gone
                    pass

        await asyncio.to_thread(kill)
        log.warning("replica %s: retired shuffle stores %s", self.id, names)
        await self._propose([StoresRetired("", names)])

    def _start_driver(self, job_id: str) -> None:
        job = self.state.jobs[job_id]
        if self.leading and job.status == RUNNING and job_id not in self.drivers:
            self.drivers[job_id] = asyncio.ensure_future(self._run(job_id))

    def _watch_stores(self, job: JobState) -> None:
        """Keep a call parked on each live store of the job's ring (the incarnation the job uses): a store's death
        fails it at once, and the leader records `StoreLost`. A store already gone is reported at once."""
        handles = self.backend.stores_of(job)
        for name in sorted(job.all_stores()):
            if name in job.dead_stores:
                continue
            handle = handles.get(name)
            key = handle._actor_id.hex() if handle is not None else f"missing:{name}"
            if key not in self.store_watch:
                self.store_watch.add(key)
                asyncio.ensure_future(self._watch_store(name, handle, key))

    def _store_in_use(self, name: str) -> bool:
        return any(j.status == RUNNING and name in j.all_stores() and name not in j.dead_stores
                   for j in self.state.jobs.values())

    async def _watch_store(self, name: str, handle: Any, key: str) -> None:
        dead = handle is None
        while not dead and self.leading and self._store_in_use(name):
            try:
                await handle.hold.remote(HOLD_SECONDS)
            except ActorDiedError:
                dead = True
            except RayError:  # unreachable for now (its node stopped answering): ask again until Ray knows
                await asyncio.sleep(HOLD_SECONDS / 4)
        if not dead:  # no longer needed here (the jobs ended, or this replica stopped leading): may be watched again
            self.store_watch.discard(key)
        elif self.leading and self._store_in_use(name):
            log.warning("replica %s: shuffle store %s is gone", self.id, name)
            if handle is not None and await self._restart_store(name, handle):
                return
            try:
                await self._propose([StoreLost("", name)])
            except NotLeaderError:
                pass

    async def _restart_store(self, name: str, dead: Any) -> bool:
        """Start a dead durable store again on its node, where it recovers its pieces from disk; True once it runs
        again. A job whose committed pieces on it did not all come back (a map at R >= 2 went on without a replica
        that was down) records it as lost to that job alone. False when its node is gone, it was not durable, or
        it did not start: the caller records StoreLost for every job."""
        self.recovering.add(name)  # the membership loop must not start a fresh store under this name meanwhile
        store = None
        try:
            before = await self.backend.store_stats(dead)
            alive = await asyncio.to_thread(lambda: {n["NodeID"] for n in ray.nodes() if n.get("Alive")})
            if not self.healing or not before or not before.get("durable") or before["node"] not in alive:
                return False
            started = time.monotonic()
            store = await asyncio.to_thread(start_store, name, before["node"], before.get("budget"), True)
            held = await asyncio.wait_for(store.inventory.remote(), timeout=STORE_RESTART_TIMEOUT_S)
        except (RayError, ValueError, asyncio.TimeoutError) as e:
            log.warning("replica %s: could not start store %s again: %s", self.id, name, e)
            if store is not None:  # half started: it must not linger under the name with data nobody checked
                ray.kill(store, no_restart=True)
            return False
        finally:
            self.recovering.discard(name)
        jobs = [j for j in self.state.jobs.values()
                if j.status == RUNNING and name in j.all_stores() and name not in j.dead_stores]
        short = []  # jobs some of whose committed pieces did not come back: the store is lost to them alone
        for job in jobs:
            have = {tuple(entry[1:]) for entry in held if entry[0] == job.job_id}
            if job.pieces_on(name) - have:
                short.append(job.job_id)
        running = {j.job_id for j in jobs} - set(short)
        stale = {entry[0] for entry in held if entry[0] not in running}
        await asyncio.gather(*(store.drop_job.remote(j) for j in stale), return_exceptions=True)
        self.backend.replace_store(name, store)
        self.store_restarts.append({"store": name, "node": before["node"], "time": time.time(),
                                    "seconds": round(time.monotonic() - started, 3), "pieces": len(held),
                                    "lost_to": short})
        log.warning("replica %s: store %s started again on its node with %d piece(s)%s", self.id, name, len(held),
                    f"; lost to jobs {short}" if short else "")
        for job in jobs:
            self._watch_stores(job)
        if short:
            try:
                await self._propose([StoreLost(job_id, name) for job_id in short])
            except NotLeaderError:
                pass
        return True

    async def _run(self, job_id: str) -> None:
        job = self.state.jobs[job_id]
        try:
            self._watch_stores(job)
            await drive(job, self.backend, self._propose)
        except (NotLeaderError, asyncio.CancelledError):
            return
        except Exception as e:  # the loop itself broke (the output filesystem failed, a bug): fail the job
            log.exception("job %s failed in the master", job_id)
            try:
                if job.status not in TERMINAL:
                    await self._propose([JobFailed(job_id, f"the master failed: {type(e).__name__}: {e}")])
                await drive(job, self.backend, self._propose)  # a terminal job only cleans up
            except NotLeaderError:
                return
        finally:
            if self.drivers.get(job_id) is asyncio.current_task():
                del self.drivers[job_id]

    async def _propose(self, commands: Sequence[Command]) -> None:
        """Replicate commands; returns once they are chosen and applied here. Raises NotLeaderError."""
        if not self.core.is_leader():
            raise NotLeaderError(self.core.leader_hint())
        self.seq += 1
        key = (self.client_id, self.seq)
        fut = asyncio.get_running_loop().create_future()
        self.pending[key] = fut
        self.core.propose(self.client_id, self.seq, [c.to_dict() for c in commands])
        self._drain()
        await fut

    # ---- the actor's interface --------------------------------------------------------------------------------

    async def hold(self, seconds: float) -> str:
        """Return this replica's node after `seconds`: peers park a call here to learn at once when it dies."""
        await asyncio.sleep(seconds)
        return self.node

    async def set_healing(self, on: bool) -> None:
        """Whether this replica starts dead peers again (off while the group is shut down)."""
        self.healing = on

    async def deliver(self, batch: list) -> None:
        """Messages from a peer."""
        self._ensure_started()
        for data in batch:
            self.core.step(message_from_json(data))
        self._drain()

    async def submit(self, job_id: str, spec: dict) -> dict:
        """Start a job (idempotent by job id). Answers {"ok": True} or {"leader": hint} when not the leader."""
        self._ensure_started()
        if job_id not in self.state.jobs:
            if not self.core.is_leader():
                return {"leader": self.core.leader_hint()}
            # a spec without a ring of its own uses the group's stores as they are now
            spec = {**spec, "ring": spec.get("ring") or HashRing(self._ring_stores()).to_dict()}
            try:
                await self._propose([JobSubmitted(job_id, spec)])
            except NotLeaderError as e:
                return {"leader": e.hint}
        self._start_driver(job_id)
        return {"ok": True}

    async def scale(self, stores: list | None, auto: bool = False) -> dict:
        """Make `stores` the shuffle stores (None: keep the current ones): new jobs use them, running jobs place new
        attempts on them (a `RingChanged` in the log). Stores taken out retire once no running job reads from them.
        `auto`: give each node that joins a store of its own. Answers {"version": n, "stores": [...], "auto": bool,
        "retiring": [...]} or {"leader": hint} when not the leader."""
        self._ensure_started()
        if not self.core.is_leader():
            return {"leader": self.core.leader_hint()}
        stores = sorted(stores if stores is not None else self._ring_stores())
        version = self.state.ring["version"] + 1
        try:
            await self._propose([RingChanged("", version, stores, auto=auto)])
        except NotLeaderError as e:
            return {"leader": e.hint}
        return {"version": version, "stores": stores, "auto": auto, "retiring": list(self.state.retiring)}

    async def cancel(self, job_id: str, reason: str = "cancelled by the user") -> dict:
        self._ensure_started()
        job = self.state.jobs.get(job_id)
        if job is None:
            return {"error": f"no job {job_id}"}
        if job.status in TERMINAL:
            return self._describe(job_id)
        if not self.core.is_leader():
            return {"leader": self.core.leader_hint()}
        try:
            await self._propose([JobCancelled(job_id, reason)])
        except NotLeaderError as e:
            return {"leader": e.hint}
        driver = self.drivers.get(job_id)
        if driver is not None:
            await asyncio.wait([driver], timeout=60)
        return self._describe(job_id)

    async def status(self, job_id: str | None = None) -> Any:
        """A job's progress (this replica's view, applied up to its commit index), or every job's."""
        self._ensure_started()
        if job_id is not None:
            return self._describe(job_id) if job_id in self.state.jobs else {}
        return [self._describe(j) for j in self.state.jobs]

    async def wait(self, job_id: str, timeout: float) -> dict:
        """The job's status once it has ended, or after `timeout` seconds."""
        self._ensure_started()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.state.jobs.get(job_id)
            if job is not None and job.status in TERMINAL and job_id not in self.drivers:
                break
            await asyncio.sleep(0.02)
        return self._describe(job_id) if job_id in self.state.jobs else {}

    async def info(self) -> dict:
        """This replica: id, role, ballot, last applied slot, node; and the leader history."""
        self._ensure_started()
        return {**self.core.status(), "node": self.node, "leaders": self.state.leaders, "wal": self.dir,
                "group": self.group, "replica_ids": self.ids, "jobs_running": sorted(self.drivers),
                "recreated": self.recreated, "restarted_peers": self.restarts, "store_restarts": self.store_restarts,
                "ring": {**self.state.ring, "stores": self._ring_stores()}, "retiring": list(self.state.retiring)}

    async def probe(self, count: int = 1, concurrency: int = 1) -> Any:
        """Replicate `count` no-op commands, `concurrency` at a time; the seconds each took to be chosen and applied.

        For benchmarks and health checks (a no-op is a JobCancelled of a job that does not exist). Answers
        {"leader": hint} when not the leader."""
        self._ensure_started()
        if not self.core.is_leader():
            return {"leader": self.core.leader_hint()}
        latencies: list[float] = []

        async def one(i: int) -> None:
            started = time.perf_counter()
            await self._propose([JobCancelled(f"probe-{self.client_id}-{i}", "probe")])
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
                    "seconds": (r.result or {}).get("seconds"), "resent": sorted(r.patches),
                    "ring": r.ring_at.get(r.done_attempt, 0) if r.done else None}
                for t, r in job.tasks.items()}

    def _describe(self, job_id: str) -> dict:
        job = self.state.jobs[job_id]
        started, ended = self.times.get(job_id, [None, None])
        return {**job.progress(), "outputs": job.outputs, "details": job.details, "usage_error": job.usage_error,
                "finished": job.status in TERMINAL and job_id not in self.drivers,
                "wall_s": (ended - started) if started and ended else None, "submitted": started, "replica": self.id,
                "leader": self.core.leader_hint(), "leaders": self.state.leaders}
