"""The replica's store room (leader only): watching the shuffle stores the running jobs use, starting a dead one
again with its data, giving joined nodes a store, and retiring stores a ring change took out.

- A call parked on each store a running job uses (`hold`) tells the leader of its death at once. A durable store
  whose node lives is started again there with `recover=True`: it reads its pieces back, the leader checks that
  every committed piece it expects is there, and the tasks that talked to it wait for it by name. Any other loss
  is recorded as `StoreLost`, and the state re-runs what made the lost share.
- In automatic mode a store is started on each node that joins, and the bigger ring recorded (`RingChanged`);
  `paxflow scale` wins over a concurrent automatic grow.
- A store a ring change took out retires (`StoresRetired`) once no running job reads from it and no job that used
  it still cleans up.

Every GCS look-up and actor start runs in a thread: the event loop also drives Paxos.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Collection

import ray
from ray.exceptions import ActorDiedError, RayError

from framework.cluster import alive_nodes
from framework.master.consensus import ConsensusNode, NotLeaderError
from framework.master.peers import HOLD_SECONDS
from framework.master.state import RUNNING, JobState, RingChanged, StoreLost, StoreRestarted, StoresRetired
from framework.names import NAMESPACE, STORE_PREFIX
from framework.shuffle.fleet import start_store, store_names
from framework.shuffle.membership import stores_to_add

log = logging.getLogger(__name__)

#: how long a dead store's restart (and the reading of its files) may take before its data counts as lost
STORE_RESTART_TIMEOUT_S = 30.0
#: how often the leader looks for joined nodes (to give them a store) and for retiring stores it may stop
MEMBERSHIP_S = 1.0


class StoreKeeper:
    """The leader's care of the shuffle stores. `backend` (a RayBackend) caches the stores' handles per job;
    `cleaning()` names the jobs whose drivers still run (their stores may not retire yet); `initial` are the stores
    the group was created with (the ring until the first RingChanged)."""

    def __init__(self, me: int, node: ConsensusNode, backend: Any, cleaning: Callable[[], Collection[str]],
                 initial: Collection[str], scope: str = "") -> None:
        self.me, self.node, self.backend, self.cleaning = me, node, backend, cleaning
        self.scope = scope  # the folder of this group's stores (framework.names.store_scope)
        self.initial = sorted(initial)
        self.watching: set[str] = set()  # actor ids of the stores whose death the leader waits to hear of
        self.store_nodes: dict[str, str] = {}  # store actor id -> its node (stores do not move)
        self.membership: asyncio.Task | None = None
        self.recovering: set[str] = set()  # stores being started again from their files (not to be replaced)
        self.restarts: list[dict] = []  # the dead stores this replica started again with their data
        self.healing = True

    @property
    def state(self):
        return self.node.state

    def ring_stores(self) -> list[str]:
        ring = self.state.ring
        return list(ring["stores"]) if ring["version"] else list(self.initial)

    def start(self) -> None:
        """On taking the lead: run the membership loop."""
        if self.membership is None or self.membership.done():
            self.membership = asyncio.ensure_future(self._membership())

    # ---- membership ------------------------------------------------------------------------------------------

    async def _membership(self) -> None:
        """While leading: give each node that joined a store (in automatic mode) and stop retiring stores that no
        running job reads from any more."""
        while self.node.leading:
            await asyncio.sleep(MEMBERSHIP_S)
            try:
                await self._retire_stores()
                if self.state.ring.get("auto", True):
                    await self._grow_stores()
            except NotLeaderError:
                return
            except Exception:  # a failed round is tried again on the next
                log.exception("replica %s: store membership round failed", self.me)

    @staticmethod
    def _live_stores() -> tuple[list[str], dict[str, Any]]:
        """(alive nodes, {name: handle} of every running store): blocking cluster look-ups, run off the loop."""
        handles = {}
        for name in store_names():
            try:
                handles[name] = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:  # gone since it was listed
                pass
        return alive_nodes(), handles

    async def _store_stats(self, handle: Any) -> dict | None:
        """A live store's stats; None when it does not answer."""
        try:
            return await asyncio.wait_for(handle.stats.remote(), timeout=STORE_RESTART_TIMEOUT_S)
        except (RayError, asyncio.TimeoutError):
            return None

    async def _grow_stores(self) -> None:
        version = self.state.ring["version"]
        alive, running = await asyncio.to_thread(self._live_stores)
        ring = self.ring_stores()
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
        skip = self.recovering | {name for name in ring if nodes[name] is None and self.in_use(name)}
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
        handles = await asyncio.to_thread(lambda: [start_store(name, node, budget, scope=self.scope)
                                                          for name, node in added])
        await asyncio.wait_for(asyncio.gather(*(h.ping.remote() for h in handles)), STORE_RESTART_TIMEOUT_S)
        if self.state.ring["version"] != version:
            return
        stores = sorted(set(ring) | {name for name, _ in added})
        log.warning("replica %s: node(s) joined; shuffle stores now %s", self.me, stores)
        await self.node.propose([RingChanged("", version + 1, stores, auto=True)])

    async def _retire_stores(self) -> None:
        # not while a job that used it still cleans up (its driver frees the job's data and files on it)
        cleaning = {name for job_id in self.cleaning() for name in self.state.jobs[job_id].all_stores()}
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
        log.warning("replica %s: retired shuffle stores %s", self.me, names)
        await self.node.propose([StoresRetired("", names)])

    # ---- the pieces check on taking the lead --------------------------------------------------------------------

    async def check_pieces(self) -> None:
        """On taking the lead, before any job resumes: ask each store a running job uses what it holds, and record
        `StoreLost` for that job where a committed piece is missing (the maps that made it run again; the others
        do not). A store can have lost pieces while no leader watched it: above all when every Ray process died and
        the service started again, its stores reading back only what reached their disks. Pieces of jobs no
        longer running are dropped."""
        jobs = [j for j in self.state.jobs.values() if j.status == RUNNING]
        handles: dict[str, Any] = {}
        for job in jobs:
            handles.update(await self.backend.stores_of(job))

        async def inventory(name: str, handle: Any) -> tuple[str, Any, list | None]:
            try:
                return name, handle, await asyncio.wait_for(handle.inventory.remote(), STORE_RESTART_TIMEOUT_S)
            except (RayError, asyncio.TimeoutError):
                return name, handle, None  # dead or hung: its watch reports it

        held = await asyncio.gather(*(inventory(n, h) for n, h in sorted(handles.items())))
        lost, running = [], {j.job_id for j in jobs}
        for name, handle, entries in held:
            if entries is None:
                continue
            for job in jobs:
                if name in job.all_stores() and name not in job.dead_stores:
                    have = {tuple(entry[1:]) for entry in entries if entry[0] == job.job_id}
                    missing = job.pieces_on(name) - have
                    if missing:
                        log.warning("replica %s: store %s lacks %d committed piece(s) of job %s: they are made "
                                    "again", self.me, name, len(missing), job.job_id)
                        lost.append(StoreLost(job.job_id, name))
            stale = {entry[0] for entry in entries} - running
            await asyncio.gather(*(handle.drop_job.remote(j) for j in stale), return_exceptions=True)
        if lost:
            await self.node.propose(lost)

    # ---- the store watch --------------------------------------------------------------------------------------

    def in_use(self, name: str) -> bool:
        return any(j.status == RUNNING and name in j.all_stores() and name not in j.dead_stores
                   for j in self.state.jobs.values())

    async def watch(self, job: JobState) -> None:
        """Keep a call parked on each live store of the job's ring (the incarnation the job uses): a store's death
        fails it at once, and the leader records `StoreLost`. A store already gone is reported at once."""
        handles = await self.backend.stores_of(job)
        for name in sorted(job.all_stores()):
            if name in job.dead_stores:
                continue
            handle = handles.get(name)
            key = handle._actor_id.hex() if handle is not None else f"missing:{name}"
            if key not in self.watching:
                self.watching.add(key)
                asyncio.ensure_future(self._watch_store(name, handle, key))

    def watch_running(self) -> None:
        """Watch the stores every running job uses (after a ring change)."""
        for job in self.state.jobs.values():
            if job.status == RUNNING:
                asyncio.ensure_future(self.watch(job))

    async def _watch_store(self, name: str, handle: Any, key: str) -> None:
        dead = handle is None
        while not dead and self.node.leading and self.in_use(name):
            try:
                await handle.hold.remote(HOLD_SECONDS)
            except ActorDiedError:
                dead = True
            except RayError:  # unreachable for now (its node stopped answering): ask again until Ray knows
                await asyncio.sleep(HOLD_SECONDS / 4)
        if not dead:  # no longer needed here (the jobs ended, or this replica stopped leading): may be watched again
            self.watching.discard(key)
        elif self.node.leading and self.in_use(name):
            log.warning("replica %s: shuffle store %s is gone", self.me, name)
            if handle is not None and await self._restart_store(name, handle):
                return
            try:
                await self.node.propose([StoreLost("", name)])
            except NotLeaderError:
                pass

    async def _restart_store(self, name: str, dead: Any) -> bool:
        """Start a dead durable store again on its node, where it recovers its pieces from disk; True once it runs
        again. `StoreRestarted` then gives up the attempts that may have written to the process that died, and
        only after it is applied are the recovered pieces compared with the committed ones (so no attempt
        becomes done later with pieces that did not come back). A job whose committed pieces on it did not all
        come back (a write that never reached the disk, or a map at R >= 2 that went on without a replica that
        was down) records it as lost to that job alone. False when its node is gone, it was not durable, or it
        did not start: the caller records StoreLost for every job."""
        self.recovering.add(name)  # the membership loop must not start a fresh store under this name meanwhile
        store = None
        try:
            before = await self.backend.store_stats(dead)
            alive = set(await asyncio.to_thread(alive_nodes))
            if not self.healing or not before or not before.get("durable") or before["node"] not in alive:
                return False
            started = time.monotonic()
            store = await asyncio.to_thread(start_store, name, before["node"], before.get("budget"), True, True,
                                            before.get("scope", self.scope))
            await asyncio.wait_for(store.inventory.remote(), timeout=STORE_RESTART_TIMEOUT_S)  # it has recovered
            self.backend.replace_store(name, store)
            await self.node.propose([StoreRestarted("", name)])
            held = await asyncio.wait_for(store.inventory.remote(), timeout=STORE_RESTART_TIMEOUT_S)
        except NotLeaderError:
            return True  # it runs again: the next leader's pieces check compares what it holds
        except (RayError, ValueError, asyncio.TimeoutError) as e:
            log.warning("replica %s: could not start store %s again: %s", self.me, name, e)
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
        self.restarts.append({"store": name, "node": before["node"], "time": time.time(),
                              "seconds": round(time.monotonic() - started, 3), "pieces": len(held),
                              "lost_to": short})
        log.warning("replica %s: store %s started again on its node with %d piece(s)%s", self.me, name, len(held),
                    f"; lost to jobs {short}" if short else "")
        for job in jobs:
            await self.watch(job)
        if short:
            try:
                await self.node.propose([StoreLost(job_id, name) for job_id in short])
            except NotLeaderError:
                pass
        return True
