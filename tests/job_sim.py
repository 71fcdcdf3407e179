"""Deterministic simulation of the whole job coordinator: the replicated master group, its job drivers, the task
workers, the shuffle stores and the output directory, all under one seeded RNG and one virtual clock.

What runs for real: 3 (sometimes 5) `ConsensusNode`s with their real timing (the Multi-Paxos core, the state
machine it drives and the WAL, here a `MemoryStorage`, on a quarter of the seeds one that round-trips JSON like the
files do), snapshots every 40 or 150 slots on most seeds (so restarts and catch-ups restore `MasterState`
snapshots), `JobDrivers` on whichever replica leads, the real `drive` loop and the real `MasterState` / `JobState`
with plans from `framework.plan.build_plan` (2 or 3 jobs a seed, 1 to 3 steps; a two-input job's first step is
often a join, planned as a broadcast join fused with the next step, as one whose maps write the output, or shuffled).
What is modelled: the glue of
`framework/master/replica.py` (take-over, submit, cancel, scale), the network between the replicas, the store
keeper (a store's death becomes `StoreLost`; a durable store that came back, `StoreRestarted` and then, where it
lacks committed pieces of a job, `StoreLost` for that job), the Ray
backend (attempts that finish after a random virtual time, fail in user code, die with their worker, hang until
cancelled / their leader dies / their worker is declared dead, write their pieces to the stores of their
placement and their part files to `_temporary`), and `framework.io`'s commit and abort of the output directory
(the commit in a "thread" that outlives its driver, checking the real `ReplicaLead` lease before each change).
Everything runs on `VirtualLoop`, an asyncio loop whose clock jumps to the next timer when nothing is ready: no
real sleeping, no threads, and the same seed gives the same run.

Faults (each seed draws its own profile): leader and follower kills (restarted from their storage, now and then
with a lost disk), a failure detector that tells the peers at once (or not), partitions (one replica cut off, or
one link, one-way or both), message drops and long delays, shuffle stores lost with their data, stores that come
back without some pieces, ring changes (`RingChanged`), user-code failures (transient ones, and jobs with a task
that always fails, so they must fail), worker deaths, hangs, cancellations, slow output filesystems.

Checked after every step (every command the first replica applies, every launch, every file written), and at
the end:
- replicas apply the same commands in the same order, and end with the same state;
- a committed job has exactly one committed attempt per reduce partition, its output directory holds exactly the
  part files of those attempts (with the rows a fault-free run writes), `_SUCCESS` naming it, and the outputs it
  recorded are those parts; its counters equal the fault-free run's (each task's counters derive from its id);
- `_SUCCESS` is written once, and a job that must fail (a task that always fails) never commits;
- a done task runs again only for partitions whose committed pieces are on no live store the job still uses (a
  reducer only to make again a step's output that the next step reads), never for one it wrote nothing to, and
  a `StoreLost` names a store that really died or really lost pieces of that job;
- a failed or cancelled job leaves no part file, and no attempt writes one after its cleanup ended
  (JobCleaned: an attempt an earlier leader launched may write until Ray kills it; a last sweep removes that);
- a job fails only for a good reason (a task out of attempts, bad input, the only copy of a step's output lost);
  never because the master broke, and no replica logs an error;
- liveness: once faults stop, every job ends (and its driver finishes) within `settle_seconds` of virtual time.

The six coordinator bugs this checker found when it was written are fixed in framework/master (a cancel during
the commit, two leaders committing at once, a lost step output not noticed, an ended job's cleanup not resumed,
a store that came back short under an attempt in flight, a done map re-run for a partition it never wrote):
each is a violation here now. Planted bugs (BUGS, `--bug NAME`, patched in for one run) show that the checker catches what it claims to.

    python tests/job_sim.py --seeds 2000                       # the repro command of the first failing seed
    python tests/job_sim.py --seeds 1000 --bug commit-early     # a planted bug the checker must catch
    python tests/job_sim.py --seeds 1 --start 42 --trace        # every event of one seed
    python tests/job_sim.py --seeds 500 --all                   # every failing seed, not only the first
    python tests/job_sim.py --seeds 100000 --jobs 2             # in 2 processes
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextvars
import gc
import heapq
import json
import logging
import multiprocessing
import os
import random
import sys
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

if __package__ in (None, ""):  # run as a script: make `framework` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.exec.errors import TaskError
from framework.master import consensus as consensus_module
from framework.master import jobs as jobs_module
from framework.master import state as state_module
from framework.master.consensus import ConsensusNode, NotLeaderError
from framework.master.jobs import JobDrivers
from framework.master.state import (COMMITTED, FAILED, INFRA_ATTEMPTS, RUNNING, TERMINAL, Command,
                                    JobCancelled, JobState, LeaderElected, MasterState, RingChanged,
                                    StoreLost, StoreRestarted, TaskFailed, snapshot)
from framework.paxos import MemoryStorage
from framework.plan import (InputSplits, StepShape, build_plan, is_reduce, output_dataset, partition_of,
                            reduce_task_id, shuffle_dataset, stage_of)
from framework.shuffle.ring import HashRing, placements

BUGS = ("count-every-attempt", "commit-early", "rerun-done-map", "read-short", "unfenced-commit",
        "cancel-while-committing")

class Violation(AssertionError):
    """The checker saw a safety or liveness violation."""


# ---- the virtual-time event loop ---------------------------------------------------------------------------------


class VirtualLoop(asyncio.BaseEventLoop):
    """An asyncio loop on a virtual clock: `time()` only moves when nothing is ready, straight to the next timer.

    Its own timer heap of (when, sequence, handle) tuples (compared in C, and in the order they were set), and a
    lean `_run_once`: no selector, no I/O, no threads."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._timer_seq = 0

    def time(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        timer = asyncio.TimerHandle(when, callback, args, self, context)
        self._timer_seq += 1
        heapq.heappush(self._timers, (when, self._timer_seq, timer))
        timer._scheduled = True
        return timer

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        pass

    def _run_once(self) -> None:
        ready, timers = self._ready, self._timers
        if not ready and not self._stopping:
            while timers and timers[0][2]._cancelled:
                heapq.heappop(timers)
            if not timers:
                raise Violation("deadlock: the event loop has nothing ready and no timer")
            if timers[0][0] > self._now:
                self._now = timers[0][0]
        now = self._now
        while timers and timers[0][0] <= now:
            handle = heapq.heappop(timers)[2]
            if not handle._cancelled:
                handle._scheduled = False
                ready.append(handle)
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()

    def _process_events(self, event_list: list) -> None:
        pass

    def _write_to_self(self) -> None:
        pass

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> Any:
        raise RuntimeError("the simulator runs no threads (asyncio.to_thread in the code under test?)")


class SimFuture(asyncio.Future):
    """An attempt's future that hashes by a per-run sequence number, not by its address: the driver iterates the
    set `asyncio.wait` returns, and that order must be the same in every run of a seed."""

    def __init__(self, *, loop: asyncio.AbstractEventLoop, seq: int) -> None:
        super().__init__(loop=loop)
        self.seq = seq

    def __hash__(self) -> int:
        return self.seq


#: the simulated process a task belongs to (a replica), so that killing the replica cancels its tasks
OWNER: contextvars.ContextVar = contextvars.ContextVar("owner", default=None)


# ---- parameters --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """One seed's fault profile: rates per virtual second, or probabilities per message / attempt / job."""

    leader_kill: float
    follower_kill: float
    restart_after: float
    detect: float
    lost_disk: float
    partition: float
    heal_after: float
    drop: float
    long_delay: float
    store_loss: float
    store_short: float
    ring_change: float
    user_fail: float
    infra_fail: float
    hang: float
    cancel: float
    doomed: float

    @staticmethod
    def draw(rng: random.Random) -> "Faults":
        return Faults(leader_kill=rng.choice((0.0, 0.3, 1.0)), follower_kill=rng.choice((0.0, 0.3, 1.0)),
                      restart_after=rng.choice((0.2, 1.0)), detect=rng.choice((0.0, 0.8, 1.0)),
                      lost_disk=rng.choice((0.0, 0.2)), partition=rng.choice((0.0, 0.3, 1.0)),
                      heal_after=rng.choice((0.3, 1.5)), drop=rng.choice((0.0, 0.02, 0.1)),
                      long_delay=rng.choice((0.0, 0.05)), store_loss=rng.choice((0.0, 0.3, 1.0)),
                      store_short=rng.choice((0.0, 0.5, 1.5)), ring_change=rng.choice((0.0, 0.3)),
                      user_fail=rng.choice((0.0, 0.03)), infra_fail=rng.choice((0.0, 0.05)),
                      hang=rng.choice((0.0, 0.03)), cancel=rng.choice((0.0, 0.15)),
                      doomed=rng.choice((0.0, 0.2)))


@dataclass(frozen=True)
class Params:
    """The size of one simulation (virtual seconds)."""

    fault_seconds: float = 3.0
    settle_seconds: float = 60.0
    fault_step: float = 0.05
    call_timeout: float = 2.0  # the client's CALL_TIMEOUT
    store_wait: float = 1.0  # how long a task waits for a dead store's successor before it fails


# ---- the deterministic "user code" -------------------------------------------------------------------------------


def _h(*parts: Any) -> int:
    """A stable hash (Python's str hash changes with every process)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def map_rows(job_id: str, task_id: str, partition: int, source_rows: int | None) -> int:
    """Rows a map task writes to `partition` (0 to 3, as deterministic as user code): none from an empty input."""
    if source_rows == 0:
        return 0
    return (_h(job_id, task_id, partition) + (source_rows or 0)) % 4


def task_counters(job_id: str, task_id: str) -> dict[str, int]:
    return {"records": _h(job_id, task_id, "counters") % 50 + 1, "tasks": 1}


def source_stage(task: Any) -> int:
    """The stage whose output a "step:N" map reads (plans before fusion: N)."""
    return task.source_stage if task.source_stage is not None else int(task.input.split(":", 1)[1])


class _Split:
    """What build_plan needs of an input split."""

    def __init__(self, path: str, size: int) -> None:
        self.path, self.size = path, size

    def to_dict(self) -> dict:
        return {"path": self.path, "start": 0, "length": self.size}


@dataclass
class JobInfo:
    """A job the clients submit, and what a fault-free run of it gives."""

    job_id: str
    spec: dict
    plan: Any
    rows: dict  # final-step partition -> rows
    counters: dict
    doomed: str | None  # a task that always fails (the job must fail)
    fatal: bool  # ... with bad input (no retry)
    submit_at: float
    cancel_at: float | None
    replicas: int
    accepted: bool = False
    client_done: bool = False
    ring: list | None = None  # the stores of the ring the client chose, once it submitted (R >= 2)


def make_job(rng: random.Random, job_id: str, faults: Faults, fault_seconds: float) -> JobInfo:
    names = ["input"] if rng.random() < 0.8 else ["left", "right"]
    inputs = {name: InputSplits(name, [_Split(f"/in/{job_id}/{name}-{i}", rng.randint(1, 100))
                                       for i in range(rng.randint(1, 3))]) for name in names}
    shapes = []
    join = len(names) == 2 and rng.random() < 0.8  # a join as the first step: broadcast (fused, or map-only) or not
    for s in range(rng.choice((1, 1, 2, 3))):
        keyed = rng.random() < 0.85
        if s == 0 and join:
            shapes.append(StepShape("join", names, True, rng.randint(1, 3),
                                    join={"how": "inner", "left": "left", "right": "right"}, broadcastable=True))
            continue
        shapes.append(StepShape(f"step{s}", names if s == 0 else [f"step:{s - 1}"], keyed,
                                rng.randint(1, 3) if keyed else None))
    plan = build_plan(shapes, inputs, cpus=2, broadcast_limit=rng.choice((0, 1000, 1000)))
    values: dict[tuple[int, int], int] = {}
    counters = {"records": 0, "tasks": 0}
    for stage in plan.stages:
        for m in stage.maps:
            source = None
            if m.source_partition is not None:
                source = values[(source_stage(m), m.source_partition)]
            if stage.num_partitions == 0:  # no shuffle: each map writes its own part
                values[(stage.stage, m.index)] = map_rows(job_id, m.task_id, 0, source)
                continue
            for p in range(stage.num_partitions):
                values[(stage.stage, p)] = values.get((stage.stage, p), 0) + map_rows(job_id, m.task_id, p, source)
        for t in [m.task_id for m in stage.maps] + stage.reduce_ids():
            for name, n in task_counters(job_id, t).items():
                counters[name] += n
    final = plan.stages[-1]
    tasks = [m.task_id for s in plan.stages for m in s.maps] + [t for s in plan.stages for t in s.reduce_ids()]
    doomed = rng.choice(tasks) if rng.random() < faults.doomed else None
    spec = {"plan": plan.to_dict(), "job": {"name": job_id}, "max_attempts": 3,
            "output": {"path": f"/out/{job_id}", "format": "jsonl", "overwrite": False, "created": True}}
    return JobInfo(job_id, spec, plan, {p: values.get((final.stage, p), 0) for p in range(len(final.output_ids()))},
                   counters,
                   doomed, rng.random() < 0.5, submit_at=rng.uniform(0.0, 0.6 * fault_seconds),
                   cancel_at=rng.uniform(0.0, 1.5 * fault_seconds) if rng.random() < faults.cancel else None,
                   replicas=2 if rng.random() < 0.3 else 1)


# ---- the world: stores and output directories ---------------------------------------------------------------------


class Store:
    """A shuffle store: pieces by (job, dataset, partition) and (task, attempt); a piece's value is its rows."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = True
        self.pieces: dict[tuple[str, str, int], dict[tuple[str, int], int]] = {}
        self.lost_jobs: set[str] = set()  # jobs it lost pieces of when it came back (a durable restart)

    def put(self, job: str, dataset: str, partition: int, task: str, attempt: int, rows: int) -> None:
        self.pieces.setdefault((job, dataset, partition), {})[(task, attempt)] = rows

    def get(self, job: str, dataset: str, partition: int, committed: dict) -> list[tuple[str, int, int]]:
        slot = self.pieces.get((job, dataset, partition), {})
        return [(t, a, rows) for (t, a), rows in sorted(slot.items()) if committed.get(t) == a]

    def holds(self, job: str, dataset: str, partition: int, task: str, attempt: int) -> bool:
        return (task, attempt) in self.pieces.get((job, dataset, partition), {})

    def inventory(self, job: str) -> set[tuple[str, int, str, int]]:
        return {(ds, p, t, a) for (j, ds, p), owners in self.pieces.items() if j == job for (t, a) in owners}

    def drop_job(self, job: str) -> None:
        for key in [k for k in self.pieces if k[0] == job]:
            del self.pieces[key]


class OutDir:
    """A job's output directory: final part files, `_temporary/<job>` part files, `_SUCCESS`."""

    def __init__(self) -> None:
        self.final: dict[str, tuple] = {}  # part-NNNNN.jsonl -> (rows, attempt, what it read)
        self.temp: dict[str, tuple] = {}  # part-NNNNN-aA.jsonl -> the same
        self.success: str | None = None
        self.success_writes = 0
        self.commits: list[list] = []  # the parts of each commit that got past the "committed before?" check
        self.cleaned = False  # an abort ran


class World:
    def __init__(self, names: list[str]) -> None:
        self.stores = {name: Store(name) for name in names}
        self.dirs: dict[str, OutDir] = {}
        self.active = 0  # attempts running
        self.busy = 0  # commits and cleanups running

    def dir(self, job_id: str) -> OutDir:
        return self.dirs.setdefault(job_id, OutDir())

    def drop_job(self, job_id: str) -> None:
        for store in self.stores.values():
            store.drop_job(job_id)


# ---- the planted bugs --------------------------------------------------------------------------------------------


def _memo_placements() -> Any:
    """`placements` remembered for the run (a third of the state's own time is spent there otherwise): the same
    answer for the same ring object (kept alive by the memo, so its id is not reused), dead stores and partitions."""
    memo: dict[tuple, tuple[Any, list[list[str]]]] = {}

    def memo_placements(ring: Any, dead: Any, partitions: Any, num_partitions: int) -> list[list[str]]:
        key = (id(ring), tuple(dead), tuple(partitions), num_partitions)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = (ring, placements(ring, dead, partitions, num_partitions))
        return [list(row) for row in hit[1]]

    return memo_placements


@contextmanager
def _patched(bug: str | None, snapshot_every: int, placements_fn: Any) -> Iterator[None]:
    """Snapshots every few dozen slots, the memo of placements, and the planted bug (if any), for one run."""
    saved: list[tuple[Any, str, Any]] = []

    def patch(obj: Any, name: str, value: Any) -> None:
        saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    patch(consensus_module, "SNAPSHOT_EVERY", snapshot_every)
    patch(state_module, "placements", placements_fn)
    if bug == "count-every-attempt":  # a redo's counters are added to the task's (they must count once)
        original_done = MasterState._apply_TaskDone

        def apply_done(self: MasterState, job: JobState, cmd: Any) -> None:
            rec = job.tasks[cmd.task_id]
            if rec.done and cmd.attempt in rec.running and rec.result is not None:
                counters = dict(rec.result.get("counters", {}))
                for name, n in (cmd.result or {}).get("counters", {}).items():
                    counters[name] = counters.get(name, 0) + n
                rec.result = {**rec.result, "counters": counters}
            original_done(self, job, cmd)

        patch(MasterState, "_apply_TaskDone", apply_done)
    elif bug == "commit-early":  # the last step counts as done once each of its reducers is done or running
        original_complete = JobState.stage_complete

        def stage_complete(self: JobState, stage: int) -> bool:
            if stage != len(self.plan.stages) - 1:
                return original_complete(self, stage)
            maps, reduces = self.stage_task_ids(stage)
            return (all(self.tasks[t].finished for t in maps)
                    and all(self.tasks[t].finished or self.tasks[t].running for t in reduces))

        patch(JobState, "stage_complete", stage_complete)
    elif bug == "rerun-done-map":  # a new leader sends the done maps of the current step again
        original_apply = MasterState.apply

        def apply(self: MasterState, cmd: Command) -> None:
            original_apply(self, cmd)
            if not isinstance(cmd, LeaderElected):
                return
            for job in self.jobs.values():
                if job.status != RUNNING or job.stage >= len(job.plan.stages) or job.stage_complete(job.stage):
                    continue
                maps, _ = job.stage_task_ids(job.stage)
                for t in maps:
                    rec = job.tasks[t]
                    if rec.finished:
                        rec.redo = sorted(int(p) for p, n in (rec.result or {}).get("partitions", {}).items() if n)

        patch(MasterState, "apply", apply)
    elif bug == "read-short":  # readers are not told which tasks wrote a partition, so a short listing passes
        original_grouped = state_module._grouped

        def grouped(entries: Any) -> list[dict]:
            return [{**g, "wrote": []} for g in original_grouped(entries)]

        patch(state_module, "_grouped", grouped)
    elif bug == "unfenced-commit":  # a deposed leader's commit goes on, and the next one does not wait for it
        original_init = jobs_module.ReplicaLead.__init__

        def init(self: Any, node: Any, inherited: bool = False) -> None:
            original_init(self, node, inherited)
            self.fence_s = 0.0

        patch(jobs_module.ReplicaLead, "__init__", init)
        patch(jobs_module.ReplicaLead, "check", lambda self: None)
    elif bug == "cancel-while-committing":  # a cancel is taken after the commit began
        def cancelled(self: MasterState, job: JobState, cmd: Any) -> None:
            job.status, job.error = "cancelled", cmd.reason

        patch(MasterState, "_apply_JobCancelled", cancelled)
    elif bug is not None:
        raise ValueError(f"unknown bug {bug!r}; choose from {BUGS}")
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


# ---- the replica glue (framework/master/replica.py without Ray) ----------------------------------------------------


class SimTransport:
    """Hands a batch to the simulated network at once; the awaitable it returns is already done (so the node's
    `ensure_future` makes no task per batch: a third of the run time otherwise)."""

    def __init__(self, sim: "Simulation", replica: "SimReplica") -> None:
        self.sim, self.replica = sim, replica

    def send(self, dst: int, batch: list) -> asyncio.Future:
        self.sim.net.send(self.replica, dst, batch)
        return self.sim.sent


class SimReplica:
    """One incarnation of a master replica: its ConsensusNode, JobDrivers and backend, wired as replica.py does."""

    def __init__(self, sim: "Simulation", rid: int, storage: MemoryStorage, incarnation: int,
                 lost_disk: bool) -> None:
        self.sim, self.id, self.incarnation = sim, rid, incarnation
        self.alive = True
        self.tasks: list[asyncio.Task] = []
        self.ctx = contextvars.Context()
        self.ctx.run(OWNER.set, self)
        self.node = ConsensusNode(rid, sim.ids, f"memory:{rid}", SimTransport(sim, self), fsync=False,
                                  lost_disk=lost_disk, on_apply=self._applied, on_leading=self._leading,
                                  storage=storage, rng=random.Random(sim.rng.getrandbits(64)))
        self.node.client_id = f"replica-{rid}-{incarnation}"
        self.backend = SimBackend(sim, self)
        self.drivers = JobDrivers(self.node, self.backend, self._before_drive)

    def _applied(self, cmd: Command) -> None:
        self.sim.oracle.applied(self, cmd)
        if isinstance(cmd, RingChanged) and self.node.leading:  # StoreKeeper.watch_running: a store gone is reported
            asyncio.ensure_future(self.watch_stores(False))
        self.drivers.applied(cmd)

    def _leading(self, leading: bool) -> None:
        self.sim.say(f"replica {self.id} {'leads' if leading else 'stops leading'} at ballot "
                     f"{tuple(self.node.core.ballot())}")
        if leading:
            asyncio.ensure_future(self._take_over())
        else:
            self.drivers.stop_all()

    async def _take_over(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            await self.node.propose([LeaderElected("", self.id, list(self.node.core.ballot()), loop.time())])
            await self.check_stores(inventory=True)  # StoreKeeper.check_pieces and the watches
            self.sim.stats["cleanup resumed"] += sum(1 for job in self.node.state.jobs.values()
                                                     if job.status in TERMINAL and not job.cleaned)
            self.drivers.start_all()
        except NotLeaderError:
            return

    async def _before_drive(self, job: JobState) -> None:
        asyncio.ensure_future(self.watch_stores(False))  # StoreKeeper.watch: a store already gone is reported

    async def watch_stores(self, inventory: bool, restarted: str | None = None) -> None:
        try:
            await self.check_stores(inventory, restarted)
        except NotLeaderError:
            pass

    async def check_stores(self, inventory: bool, restarted: str | None = None) -> None:
        """The store keeper: a dead store any running job still uses is lost to all; a live one that lacks committed
        pieces of a job (it came back from its disk without them) is lost to that job. A store that `restarted`
        (StoreKeeper._restart_store) is first recorded so (StoreRestarted), and then compared."""
        world = self.sim.world
        if restarted is not None:
            self.sim.say(f"replica {self.id} records that {restarted} restarted")
            await self.node.propose([StoreRestarted("", restarted)])
        dead: list[str] = []
        short: list[StoreLost] = []
        for job_id in sorted(self.node.state.jobs):
            job = self.node.state.jobs[job_id]
            if job.status != RUNNING:
                continue
            for name in sorted(job.all_stores()):
                if name in job.dead_stores:
                    continue
                store = world.stores.get(name)
                if store is None or not store.alive:
                    if name not in dead:
                        dead.append(name)
                elif inventory and job.pieces_on(name) - store.inventory(job_id):
                    short.append(StoreLost(job_id, name))
        commands = [StoreLost("", name) for name in sorted(dead)] + short
        if commands:
            self.sim.say(f"replica {self.id} records {[(c.job_id, c.store) for c in commands]} lost")
            await self.node.propose(commands)

    def ring_stores(self) -> list[str]:
        ring = self.node.state.ring
        return list(ring["stores"]) if ring["version"] else list(self.sim.initial_stores)

    async def submit(self, job_id: str, spec: dict) -> dict:
        return await self.drivers.submit(job_id, spec, self.ring_stores())

    async def cancel(self, job_id: str) -> dict:
        answer = await self.drivers.cancel(job_id, "cancelled by the user")
        return answer if answer is not None else {"status": self.node.state.jobs[job_id].status}

    async def scale(self, stores: list[str]) -> dict:
        if not self.node.is_leader():
            return {"leader": self.node.leader_hint()}
        version = self.node.state.ring["version"] + 1
        try:
            await self.node.propose([RingChanged("", version, sorted(stores), auto=False)])
        except NotLeaderError as e:
            return {"leader": e.hint}
        return {"version": version}


# ---- the backend: attempts on simulated workers ------------------------------------------------------------------


def _retrieve(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()  # an attempt whose driver is gone is no unhandled error


class SimBackend:
    """The driver's Backend: attempts run as tasks on the world (not in the replica), as Ray tasks do."""

    def __init__(self, sim: "Simulation", replica: SimReplica) -> None:
        self.sim, self.replica = sim, replica
        self.attempts: dict[asyncio.Future, Attempt] = {}
        self.output = SimOutput(sim, replica)

    def launch(self, job: JobState, task_id: str, attempt: int) -> "asyncio.Future[dict]":
        sim = self.sim
        fut = SimFuture(loop=sim.loop, seq=sim.next_seq())
        fut.add_done_callback(_retrieve)
        if not self.replica.alive:
            fut.cancel()
            return fut
        sim.oracle.check_launch(job, task_id, attempt)
        att = Attempt(sim, self, job, task_id, attempt, fut)
        self.attempts[fut] = att
        att.task = sim.loop.create_task(att.run(), context=sim.world_ctx)
        return fut

    def cancel(self, futures: Any) -> None:
        for fut in futures:
            att = self.attempts.get(fut)
            if att is not None:
                att.stop(self.sim.rng.uniform(0.0, 0.03), "cancelled")

    def slots(self) -> int:
        return self.sim.slots

    async def release(self, job_id: str) -> None:
        if self.replica.alive:
            self.sim.world.drop_job(job_id)

    def orphan_all(self) -> None:
        """The replica died: Ray kills the workers its attempts run on, soon (they may still write meanwhile)."""
        for fut, att in list(self.attempts.items()):
            att.stop(self.sim.rng.uniform(0.0, 0.1), "its owner died")
            if not fut.done():
                fut.cancel()


class Attempt:
    """One task attempt on a worker: reads its input, works, writes its output, answers (or fails, or hangs)."""

    def __init__(self, sim: "Simulation", backend: SimBackend, job: JobState, task_id: str, attempt: int,
                 fut: asyncio.Future) -> None:
        self.sim, self.backend, self.fut = sim, backend, fut
        self.job_id, self.task_id, self.attempt = job.job_id, task_id, attempt
        self.task: asyncio.Task | None = None
        self.stopping: str | None = None
        # what task_args gives the attempt at launch
        self.stage = stage_of(task_id)
        plan = job.plan.stages[self.stage]
        rec = job.tasks[task_id]
        self.num = plan.num_partitions
        self.rings = [job.ring(i) for i in range(len(job.rings) + 1)]
        self.ring_at = rec.ring_at.get(attempt, 0)
        self.dead_at = list(rec.dead_at.get(attempt, []))
        self.dead_now = set(job.dead_stores)
        self.handles = set(job.all_stores()) - self.dead_now  # RayBackend passes the live stores' handles
        self.reduce = is_reduce(task_id)
        self.source: tuple | None = None
        if self.reduce:
            self.partition = partition_of(task_id)
            self.sources = job.map_sources(self.stage, self.partition)
            self.final = plan.final
            self.out = job.spec["output"]["path"]
        else:
            self.only = list(rec.redo) if rec.done else None
            task = job.plan.map_task(task_id)
            if self.num == 0:  # a stage that does not shuffle: the map writes its part
                self.partition, self.final, self.out = task.index, plan.final, job.spec["output"]["path"]
            if task.source_partition is not None:
                src = source_stage(task)
                self.source = (src, task.source_partition, job.plan.stages[src].num_partitions,
                               job.reduce_sources(src, task.source_partition))
        # what happens to it, drawn now
        rng, faults = sim.rng, sim.faults
        info = sim.jobs[self.job_id]
        self.kind = "ok"
        if task_id == info.doomed:
            self.kind = "doomed"
        elif sim.faulty:
            x = rng.random()
            if x < faults.hang:
                self.kind = "hang"
            elif x < faults.hang + faults.infra_fail:
                self.kind = rng.choice(("infra", "infra-late"))
            elif x < faults.hang + faults.infra_fail + faults.user_fail:
                self.kind = "user"
        self.fatal = info.fatal
        sim.stats[f"attempt {self.kind}"] += 1
        self.read_delay = rng.uniform(0.0005, 0.005)
        self.work = rng.uniform(0.005, 0.08) * sim.speed
        self.hang_for = rng.uniform(2.0, 5.0)

    def stop(self, after: float, why: str) -> None:
        if self.stopping is None and self.task is not None and not self.task.done():
            self.stopping = why
            self.sim.loop.call_later(after, self._halt, context=self.sim.world_ctx)

    def _halt(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def describe(self) -> str:
        return f"{self.job_id}/{self.task_id}#{self.attempt}"

    async def run(self) -> None:
        sim = self.sim
        sim.world.active += 1
        try:
            result: dict | None = None
            error: TaskError | None = None
            try:
                result = await (self._reduce() if self.reduce else self._map())
            except asyncio.CancelledError:
                error = TaskError(f"TaskCancelledError: {self.stopping}", infra=True)
            except TaskError as e:
                error = e
            if sim.trace:
                sim.say(f"attempt {self.describe()} {'ends: ' + str(error) if error else 'done: ' + _brief(result)}")
            if not self.fut.done():
                if error is not None:
                    self.fut.set_exception(error)
                else:
                    self.fut.set_result(result)
        finally:
            sim.world.active -= 1
            self.backend.attempts.pop(self.fut, None)

    async def _work(self) -> None:
        if self.kind == "hang":
            await asyncio.sleep(self.hang_for)
            raise TaskError("WorkerCrashedError: the worker stopped answering and was declared dead", infra=True)
        await asyncio.sleep(self.work)
        if self.kind == "infra":
            raise TaskError("WorkerCrashedError: the worker died", infra=True)
        if self.kind in ("user", "doomed"):
            fatal = self.kind == "doomed" and self.fatal
            raise TaskError(f"ValueError: bad record in {self.task_id}", "Traceback (simulated)", fatal=fatal,
                            usage=fatal)

    def _late(self) -> None:
        if self.kind == "infra-late":  # died after writing its output, before answering
            raise TaskError("WorkerCrashedError: the worker died after writing its output", infra=True)

    async def _map(self) -> dict:
        await asyncio.sleep(self.read_delay)
        source_rows = None
        if self.source is not None:
            src, q, partitions, sources = self.source
            listing = await self._read(output_dataset(src), q, partitions, sources)
            source_rows = sum(rows for _, _, rows in listing)
        await self._work()
        if self.num == 0:
            rows_out = map_rows(self.job_id, self.task_id, 0, source_rows)
            result = {"partitions": {}, "rows": rows_out, "rows_in": source_rows or 1, "part": None,
                      "counters": task_counters(self.job_id, self.task_id), "input": "input"}
            if rows_out or self.partition == 0:
                result["part"] = self.sim.write_part(self, (rows_out, self.attempt, ()))
            self._late()
            return result
        rows = {p: map_rows(self.job_id, self.task_id, p, source_rows) for p in range(self.num)}
        targets = [p for p in (self.only if self.only is not None else range(self.num)) if rows[p]]
        missed = await self._put(shuffle_dataset(self.stage), targets, rows)
        self._late()
        result = {"partitions": {str(p): n for p, n in rows.items()}, "rows_in": source_rows or 1,
                  "counters": task_counters(self.job_id, self.task_id), "input": "input"}
        if missed:
            result["missed"] = missed
        return result

    async def _reduce(self) -> dict:
        await asyncio.sleep(self.read_delay)
        listing = await self._read(shuffle_dataset(self.stage), self.partition, self.num, self.sources)
        rows = sum(n for _, _, n in listing)
        reads = tuple((t, a) for t, a, _ in listing)
        await self._work()
        result = {"rows": rows, "rows_in": rows, "counters": task_counters(self.job_id, self.task_id), "part": None}
        if self.final:
            if rows or self.partition == 0:
                result["part"] = self.sim.write_part(self, (rows, self.attempt, reads))
        elif rows:
            missed = await self._put(output_dataset(self.stage), [self.partition], {self.partition: rows})
            if missed:
                result["missed"] = missed
        self._late()
        return result

    async def _read(self, dataset: str, partition: int, partitions: int, sources: list) -> list[tuple[str, int, int]]:
        """The committed pieces of a partition, from the first replica store that has a piece of every task that
        wrote one (framework.exec.ray_tasks._fetch_listing): never read short."""
        world = self.sim.world
        listed: list[tuple[str, int, int]] = []
        for source in sources:
            if not source["committed"]:
                continue
            replicas = self.sim.placements(self.rings[source["ring"]], source["dead"], [partition], partitions)[0]
            found = None
            died = False
            for name in replicas:
                if name in self.dead_now or name not in self.handles:
                    continue
                store = world.stores[name]
                if not store.alive:
                    died = True
                    continue
                listing = store.get(self.job_id, dataset, partition, source["committed"])
                if set(source["wrote"]) <= {t for t, _, _ in listing}:
                    found = listing
                    break
            if found is None and not source["wrote"]:
                continue  # none of its tasks wrote to this partition: nothing was lost
            if found is None:
                if died:  # waits for a successor of the dead store, which never comes
                    await asyncio.sleep(self.sim.params.store_wait)
                raise TaskError(f"ShuffleDataLost: no live shuffle store holds all of partition {partition} of "
                                f"{dataset} (its stores: {', '.join(replicas)})", infra=True)
            listed += found
        return listed

    async def _put(self, dataset: str, partitions: list[int], rows: dict[int, int]) -> list[str]:
        """Each piece to every store of its placement (the one this attempt launched with); a dead one is `missed`
        where every partition it should hold has another live copy, else the attempt fails."""
        if not partitions:
            return []
        world = self.sim.world
        by_store: dict[str, list[int]] = {}
        for p, names in zip(partitions, self.sim.placements(self.rings[self.ring_at], self.dead_at, partitions,
                                                            self.num)):
            for name in names:
                by_store.setdefault(name, []).append(p)
        failed = []
        for name, ps in by_store.items():
            store = world.stores.get(name)
            if name in self.handles and store is not None and store.alive:
                for p in ps:
                    store.put(self.job_id, dataset, p, self.task_id, self.attempt, rows[p])
            else:
                failed.append(name)
        missed = []
        for name in failed:
            held = {p for other, ps in by_store.items() if other not in failed for p in ps}
            if all(p in held for p in by_store[name]):
                missed.append(name)
                continue
            await asyncio.sleep(self.sim.params.store_wait)
            raise TaskError(f"ShuffleDataLost: shuffle store {name} died and was not started again", infra=True)
        return sorted(missed)


class SimOutput:
    """framework.io's commit_output / abort_output on the modelled directory, each in a "thread" of the replica:
    it goes on when the driver that awaits it is cancelled, and dies with the replica."""

    def __init__(self, sim: "Simulation", replica: SimReplica) -> None:
        self.sim, self.replica = sim, replica

    async def commit(self, job: JobState, parts: dict, check: Any = None) -> list[str]:
        task = self.sim.loop.create_task(self._commit(job.job_id, job.spec["output"]["path"], dict(parts),
                                                      check or (lambda: None)), context=self.replica.ctx)
        return await asyncio.shield(task)

    async def abort(self, job: JobState) -> None:
        task = self.sim.loop.create_task(self._abort(job.job_id), context=self.replica.ctx)
        await asyncio.shield(task)

    async def _fs(self) -> None:
        sim = self.sim
        await asyncio.sleep(sim.rng.uniform(0.05, 0.4) if sim.slow_fs else sim.rng.uniform(0.0005, 0.005))
        if not self.replica.alive:
            raise asyncio.CancelledError

    async def _commit(self, job_id: str, out: str, parts: dict, check: Any) -> list[str]:
        """As commit_output: `check` before each change to the directory (it raises once the lease may be gone)."""
        sim = self.sim
        if not self.replica.alive:
            raise asyncio.CancelledError
        sim.world.busy += 1
        try:
            d = sim.world.dir(job_id)
            paths = [f"{out}/part-{p:05d}.jsonl" for p in sorted(parts)]
            await self._fs()
            check()
            if d.success == job_id:  # this commit ran to its end before
                d.temp.clear()
                return paths
            d.commits.append(sorted(parts.items()))
            for p in sorted(parts):
                await self._fs()
                check()
                src, dst = parts[p].rsplit("/", 1)[1], f"part-{p:05d}.jsonl"
                if src in d.temp:
                    d.final[dst] = d.temp.pop(src)
                elif dst not in d.final:
                    raise FileNotFoundError(f"output part {p} of job {job_id} is missing: {parts[p]}")
            await self._fs()
            check()
            d.success = job_id
            d.success_writes += 1
            sim.say(f"replica {self.replica.id} wrote _SUCCESS of {job_id}")
            if d.success_writes > 1:
                sim.fail(f"job {job_id}: _SUCCESS written {d.success_writes} times (replica {self.replica.id} "
                         f"committed the output again; the commits: {d.commits})")
            d.temp.clear()
            return paths
        finally:
            sim.world.busy -= 1

    async def _abort(self, job_id: str) -> None:
        sim = self.sim
        if not self.replica.alive:
            raise asyncio.CancelledError
        sim.world.busy += 1
        try:
            await self._fs()
            d = sim.world.dir(job_id)
            d.temp.clear()
            d.cleaned = True
            sim.say(f"replica {self.replica.id} cleaned up the output of {job_id}")
        finally:
            sim.world.busy -= 1


def _brief(result: Any) -> str:
    if not isinstance(result, dict):
        return str(result)
    keep = {k: v for k, v in result.items() if k in ("partitions", "rows", "part", "missed")}
    return json.dumps(keep, sort_keys=True)


def _key(cmd: Command) -> tuple:
    """What tells commands apart in the log (cheaper than their whole content)."""
    return (cmd.kind, cmd.job_id, getattr(cmd, "task_id", None), getattr(cmd, "attempt", None),
            getattr(cmd, "store", None), getattr(cmd, "version", None), getattr(cmd, "replica", None),
            getattr(cmd, "stage", None))


# ---- the oracle ----------------------------------------------------------------------------------------------------


class Oracle:
    """The god's-eye view: the common applied log, a state machine of its own, and every invariant."""

    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self.log: list[tuple] = []
        self.state = MasterState()
        self.status: dict[str, str] = {}

    def applied(self, replica: SimReplica, cmd: Command) -> None:
        pos = replica.node.state.applied - 1
        key = _key(cmd)
        if pos < len(self.log):
            if self.log[pos] != key:
                self.sim.fail(f"replica {replica.id} applied {key} as command {pos}, where others applied "
                              f"{self.log[pos]}")
            return
        if pos > len(self.log):
            self.sim.fail(f"replica {replica.id} applied command {pos}, but only {len(self.log)} were applied before")
            return
        self.log.append(key)
        if isinstance(cmd, (LeaderElected, RingChanged, StoreLost, StoreRestarted)):
            self.sim.stats[cmd.kind] += 1
        if isinstance(cmd, RingChanged):
            self.sim.scales = [stores for stores in self.sim.scales if stores != list(cmd.stores)]
        target = self.state.jobs.get(cmd.job_id)
        running = target is not None and target.status == RUNNING
        if isinstance(cmd, JobCancelled) and running and target.commit is not None:
            self.sim.stats["cancel too late (committing)"] += 1
        self.state.apply(cmd)
        if self.sim.trace:
            self.sim.say(f"applied #{pos}: {_describe(cmd)}")
        if isinstance(cmd, StoreLost) and (running or cmd.job_id == ""):  # (the state ignores it for ended jobs)
            self._check_store_lost(cmd)
        elif isinstance(cmd, TaskFailed) and cmd.infra and "ShuffleDataLost" in cmd.error:
            self._check_lost_input(cmd)
        for job_id in [cmd.job_id] if cmd.job_id else sorted(self.state.jobs):
            job = self.state.jobs.get(job_id)
            if job is not None and job.status != self.status.get(job_id):
                self.status[job_id] = job.status
                self.sim.stats[f"job {job.status}"] += 1
                if job.status == COMMITTED:
                    self.check_committed(job_id, "when JobCommitted was applied")
                elif job.status == FAILED:
                    self._check_failure(job)

    def _check_lost_input(self, cmd: TaskFailed) -> None:
        """An attempt could not read its input. Usually a store died and its StoreLost is on its way (or a store
        came back short, and the keeper's StoreRestarted and check are): violations when the state itself holds
        that input lost (it should have failed the job, or made it again), or when a store that came back short
        still lacks a committed piece the state never learned it lost after the attempt's backoff outlasted
        every check on its way."""
        job = self.state.jobs.get(cmd.job_id)
        if job is None or job.status != RUNNING:
            return
        stage = stage_of(cmd.task_id)
        if is_reduce(cmd.task_id):
            p = partition_of(cmd.task_id)
            dataset, num = shuffle_dataset(stage), job.plan.stages[stage].num_partitions
            maps, _ = job.stage_task_ids(stage)
            writers = [(t, job.tasks[t]) for t in maps if job.tasks[t].done
                       and (job.tasks[t].result or {}).get("partitions", {}).get(str(p))]
        else:
            task = job.plan.map_task(cmd.task_id)
            q = task.source_partition
            if q is None:
                return
            src = source_stage(task)
            p, dataset, num = q, output_dataset(src), job.plan.stages[src].num_partitions
            rec = job.tasks[reduce_task_id(src, q)]
            if rec.done and (rec.result or {}).get("rows") and job._lost(rec, rec.attempt_for(q), [q], num):
                self.sim.fail(f"job {cmd.job_id}: map {cmd.task_id} (attempt {cmd.attempt}"
                              f"{', a re-run of the done map' if job.tasks[cmd.task_id].done else ''}) cannot read "
                              f"stage {src}'s partition {q}, lost with store(s) {job.dead_stores}, and the job "
                              f"goes on")
                return
            writers = [(reduce_task_id(src, q), rec)] if rec.done and (rec.result or {}).get("rows") else []
        failures = sum(1 for f in job.tasks[cmd.task_id].failures if len(f) > 3 and f[3])
        if f" of {dataset} " not in cmd.error or failures < 6:
            return  # give a StoreLost on its way the time to arrive (5 backoffs: 3.1 s, past any notice's delay)
        world = self.sim.world
        for task, rec in writers:
            attempt = rec.attempt_for(p)
            names = self.sim.placements(job.ring(rec.ring_at.get(attempt, 0)), rec.dead_at.get(attempt, []), [p],
                                        num)[0]
            usable = [n for n in names if n not in job.dead_stores and n not in rec.missed.get(attempt, [])]
            if any(world.stores[n].alive and world.stores[n].holds(job.job_id, dataset, p, task, attempt)
                   for n in usable):
                continue
            short = [n for n in usable if world.stores[n].alive and job.job_id in world.stores[n].lost_jobs]
            if short:
                self.sim.fail(f"job {job.job_id}: {cmd.task_id} cannot read the piece of {task} (attempt {attempt}) "
                              f"of partition {p} of {dataset}: store(s) {short} came back without it, and no "
                              f"StoreLost followed")
                return

    def _check_store_lost(self, cmd: StoreLost) -> None:
        store = self.sim.world.stores.get(cmd.store)
        if store is None:
            self.sim.fail(f"StoreLost names {cmd.store}, which never existed")
        elif store.alive and (cmd.job_id == "" or cmd.job_id not in store.lost_jobs):
            self.sim.fail(f"StoreLost({cmd.job_id!r}, {cmd.store}) though the store lives and lost nothing of "
                          f"{'any job' if cmd.job_id == '' else cmd.job_id}")

    def check_committed(self, job_id: str, when: str) -> None:
        sim = self.sim
        info = sim.jobs[job_id]
        job = self.state.jobs[job_id]
        if info.doomed:
            sim.fail(f"job {job_id} committed ({when}), though its task {info.doomed} always fails")
            return
        final = job.plan.stages[-1]
        writers = final.output_ids()  # its reducers, or the maps of a stage that does not shuffle
        for p, t in enumerate(writers):
            if not job.tasks[t].done:
                sim.fail(f"job {job_id} committed ({when}) without a committed attempt of output part {p} ({t})")
                return
        expected = {p: n for p, n in info.rows.items() if n or p == 0}
        names = {f"part-{p:05d}.jsonl": p for p in expected}
        d = sim.world.dirs.get(job_id)
        if d is None or d.success != job_id:
            sim.fail(f"job {job_id} committed ({when}) but its output has no _SUCCESS naming it")
            return
        if sorted(d.final) != sorted(names):
            sim.fail(f"job {job_id} committed ({when}): its output holds {sorted(d.final)}, a fault-free run "
                     f"writes {sorted(names)}")
            return
        for name, p in sorted(names.items()):
            rows, attempt, reads = d.final[name]
            committed = job.tasks[writers[p]].done_attempt
            if attempt != committed:
                sim.fail(f"job {job_id} ({when}): {name} comes from attempt {attempt} of {writers[p]}, the committed "
                         f"attempt is {committed}")
                return
            if rows != expected[p]:
                sim.fail(f"job {job_id} ({when}): {name} holds {rows} rows, a fault-free run writes {expected[p]} "
                         f"(it read {list(reads)})")
                return
        paths = [f"{info.spec['output']['path']}/part-{p:05d}.jsonl" for p in sorted(expected)]
        if job.outputs != paths:
            sim.fail(f"job {job_id} ({when}) recorded outputs {job.outputs}, not {paths}")
        elif job.counters() != info.counters:
            sim.fail(f"job {job_id} ({when}): counters {job.counters()}, a fault-free run counts {info.counters}")

    def _check_failure(self, job: JobState) -> None:
        info = self.sim.jobs[job.job_id]
        if info.doomed:
            return
        error = job.error
        if "died holding the only copy" in error:  # the state's verdict (with R >= 2: every copy died)
            return
        for rec in job.tasks.values():
            infra = sum(1 for f in rec.failures if len(f) > 3 and f[3])
            if rec.fatal or len(rec.failures) - infra >= job.max_attempts:
                return  # transient user failures, the maximum number of times in a row
            if infra >= INFRA_ATTEMPTS:
                error += f" [ran out of its {INFRA_ATTEMPTS} attempts for failures of the cluster]"
        self.sim.fail(f"job {job.job_id} failed for no good reason: {error}")

    def check_launch(self, job: JobState, task_id: str, attempt: int) -> None:
        """A finished task never runs again; a done map runs again only for partitions whose pieces are lost."""
        rec = job.tasks[task_id]
        if rec.finished:
            self.sim.fail(f"job {job.job_id}: finished task {task_id} launched again (attempt {attempt})")
        elif rec.done:
            if is_reduce(task_id):  # only to make again its output, lost with its stores, that the next step reads
                if not rec.redo or stage_of(task_id) == len(job.plan.stages) - 1:
                    self.sim.fail(f"job {job.job_id}: done reducer {task_id} launched again (attempt {attempt})")
                    return
                self.sim.stats["reducer redone"] += 1
                dataset = output_dataset(stage_of(task_id))
            else:
                dataset = shuffle_dataset(stage_of(task_id))
            wrote = ({str(partition_of(task_id)): (rec.result or {}).get("rows")} if is_reduce(task_id)
                     else (rec.result or {}).get("partitions", {}))
            empty = [p for p in rec.redo if not wrote.get(str(p))]
            if empty:
                self.sim.fail(f"job {job.job_id}: done task {task_id} runs again (attempt {attempt}) for "
                              f"partition(s) {empty}, to which it wrote nothing")
                return
            for p in rec.redo:
                committed = rec.attempt_for(p)
                for name, store in sorted(self.sim.world.stores.items()):
                    if (store.alive and name not in job.dead_stores
                            and store.holds(job.job_id, dataset, p, task_id, committed)):
                        self.sim.fail(f"job {job.job_id}: done task {task_id} runs again (attempt {attempt}) for "
                                      f"partition {p}, though the pieces of its committed attempt {committed} are "
                                      f"on live store {name}")
                        return

    def final_checks(self) -> None:
        sim = self.sim
        for job_id, info in sim.jobs.items():
            job = self.state.jobs[job_id]
            d = sim.world.dirs.get(job_id)
            if job.status == COMMITTED:
                self.check_committed(job_id, "at the end")
            elif d is not None and (d.final or d.temp or d.success):
                sim.fail(f"{job.status} job {job_id} left output files: {sorted(d.final) + sorted(d.temp)}"
                         f"{' and _SUCCESS' if d.success else ''}{' (a commit had begun)' if d.commits else ''}"
                         f"{'' if d.cleaned else ' (no cleanup ran)'}")
            if sim.violation:
                return
        states = {}
        for rid, r in sorted(sim.replicas.items()):
            states[rid] = json.dumps(snapshot(r.node.state), sort_keys=True)
        if len(set(states.values())) > 1:
            sim.fail(f"the replicas end with different states (replicas {sorted(states)})")


def _describe(cmd: Command) -> str:
    d = cmd.to_dict()
    if "spec" in d:
        d["spec"] = "..."
    if isinstance(d.get("result"), dict):
        d["result"] = _brief(d["result"])
    d.pop("details", None)
    return " ".join(f"{k}={v}" for k, v in d.items() if v not in ("", None, [], {}))


# ---- the network --------------------------------------------------------------------------------------------------


class Network:
    """Batches between replicas: dropped, delayed, reordered, cut by partitions; all drawn from the sim's RNG."""

    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self.cut: set[tuple[int, int]] = set()
        self.reliable = False

    def send(self, src: SimReplica, dst: int, batch: list) -> None:
        if not src.alive or self.sim.closing:
            return
        sim = self.sim
        rng = sim.rng
        if self.reliable:
            delay = 0.0005 + rng.random() * 0.0015
        else:
            if rng.random() < sim.faults.drop:
                return
            if rng.random() < sim.faults.long_delay:
                delay = rng.uniform(0.01, 0.3)
            else:
                delay = 0.0005 + rng.random() * 0.0025
        sim.loop.call_later(delay, self._arrive, src.id, dst, batch, context=sim.world_ctx)

    def _arrive(self, src: int, dst: int, batch: list) -> None:
        if (src, dst) in self.cut:
            return
        replica = self.sim.replicas.get(dst)
        if replica is not None:
            replica.ctx.run(replica.node.deliver, batch)


# ---- the simulation ------------------------------------------------------------------------------------------------


class Simulation:
    def __init__(self, seed: int, *, bug: str | None = None, params: Params = Params(), trace: bool = False,
                 lines: list[str] | None = None) -> None:
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown bug {bug!r}; choose from {BUGS}")
        self.seed, self.bug, self.params, self.trace, self.lines = seed, bug, params, trace, lines
        self.rng = rng = random.Random(seed)
        self.ids = list(range(rng.choice((3, 3, 3, 5))))
        self.faults = Faults.draw(rng)
        self.slots = rng.randint(1, 4)
        self.speed = rng.choice((0.5, 1.0, 2.0))
        self.slow_fs = rng.random() < 0.2
        self.snapshot_every = rng.choice((40, 150, 2000))
        self.initial_stores = [f"store-{i}" for i in range(rng.randint(2, 4))]
        self.world = World(self.initial_stores)
        self.jobs = {f"job{i}": make_job(rng, f"job{i}", self.faults, params.fault_seconds)
                     for i in range(rng.randint(2, 3))}
        self.roundtrip = rng.random() < 0.25  # storage that gives back what the WAL's JSON would (slower)
        self.storage = {rid: MemoryStorage(json_roundtrip=self.roundtrip) for rid in self.ids}
        self.replicas: dict[int, SimReplica | None] = {rid: None for rid in self.ids}
        self.incarnations = {rid: 0 for rid in self.ids}
        self.amnesiac: set[int] = set()
        self.scales: list[list[str]] = []  # store sets asked for (scale) that may still reach the log
        self.oracle = Oracle(self)
        self.net = Network(self)
        self.faulty = True
        self.violation: Violation | None = None
        self.closing = False
        self.seq = 0
        self.loop: VirtualLoop | None = None
        self.sent: asyncio.Future | None = None
        self.world_ctx = contextvars.Context()
        self.placements = _memo_placements()
        self.stats: collections.Counter = collections.Counter()  # what happened (faults, outcomes), for coverage

    # -- running ---------------------------------------------------------------------------------------------------

    def run(self) -> None:
        loop = self.loop = VirtualLoop()
        self.sent = loop.create_future()
        self.sent.set_result(None)
        loop.set_task_factory(self._task_factory)
        loop.set_exception_handler(self._loop_error)
        try:
            with _patched(self.bug, self.snapshot_every, self.placements), _captured_logs(self):
                try:
                    loop.run_until_complete(self._main())
                except RuntimeError:
                    if self.violation is None:  # stopped by fail(): raised below
                        raise
        finally:
            self.closing = True
            self._teardown(loop)
            loop.close()
        if self.violation is not None:
            raise self.violation

    def _teardown(self, loop: VirtualLoop) -> None:
        """Cancel every task and let it finish (a coroutine left to the garbage collector would run its finally
        blocks with no loop running)."""
        for _, _, handle in loop._timers:
            handle.cancel()
        for _ in range(10):
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if not pending:
                return
            for task in pending:
                task.cancel()
            try:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            except (RuntimeError, Violation):  # the main task's end stopped the loop, or a cancelled task's
                pass  # cleanup awaits what will never come (a proposal): go round again, cancelling it anew

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def fail(self, message: str) -> None:
        if self.violation is None and not self.closing:
            self.violation = Violation(message)
            self.say(f"VIOLATION: {message}")
            self.loop.stop()

    def say(self, text: str) -> None:
        if self.trace:
            line = f"t={self.loop.time() if self.loop else 0.0:8.4f} {text}"
            if self.lines is not None:
                self.lines.append(line)
            else:
                print(line)

    def _task_factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task:
        task = asyncio.Task(coro, loop=loop, **kw)
        context = kw.get("context")
        owner = context.get(OWNER) if context is not None else OWNER.get()
        if owner is not None:
            if len(owner.tasks) > 200:
                owner.tasks = [t for t in owner.tasks if not t.done()]
            owner.tasks.append(task)
        return task

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if self.closing:
            return
        exc = context.get("exception")
        self.fail(f"unhandled error in the event loop: {context.get('message')}: {exc!r}")

    async def _main(self) -> None:
        for rid in self.ids:
            self._start(rid, lost_disk=False)
        for rid in self.ids:  # every failure detector reaches every peer: the lowest id campaigns at once
            replica = self.replicas[rid]
            for peer in self.ids:
                if peer != rid:
                    replica.ctx.run(replica.node.peer_up, peer)
        loop = asyncio.get_running_loop()
        background = [loop.create_task(self._chaos())]
        background += [loop.create_task(self._client(info)) for info in self.jobs.values()]
        await self._settle()
        self.oracle.final_checks()
        del background

    async def _settle(self) -> None:
        p = self.params
        await asyncio.sleep(p.fault_seconds + p.fault_step)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + p.settle_seconds
        while not self._settled():
            if loop.time() > deadline:
                raise Violation(f"liveness: not settled {p.settle_seconds:.0f} s after the faults stopped "
                                f"({self._progress()})")
            await asyncio.sleep(0.05)
        self.say("settled")

    def _settled(self) -> bool:
        if not all(info.client_done for info in self.jobs.values()):
            return False
        if any(r is None for r in self.replicas.values()) or self.world.active or self.world.busy:
            return False
        leader = self.leader()
        if leader is None or leader.drivers.tasks:
            return False
        state = leader.node.state
        if any(j not in state.jobs or state.jobs[j].status not in TERMINAL or not state.jobs[j].cleaned
               for j in self.jobs):
            return False  # (a job's last sweep runs a while after its driver ended: JobCleaned says it ran)
        return all(r.node.state.applied == state.applied for r in self.replicas.values())

    def _progress(self) -> str:
        leader = self.leader()
        jobs = {j: (leader.node.state.jobs[j].status if leader and j in leader.node.state.jobs else "?")
                for j in self.jobs}
        return (f"leader {leader.id if leader else None}, jobs {jobs}, drivers "
                f"{leader.drivers.running() if leader else []}, clients done "
                f"{[i.client_done for i in self.jobs.values()]}, attempts running {self.world.active}")

    def leader(self) -> SimReplica | None:
        best = None
        for r in self.replicas.values():
            if r is not None and r.node.is_leader() and (best is None or r.node.core.ballot() > best.node.core.ballot()):
                best = r
        return best

    # -- replicas ------------------------------------------------------------------------------------------------

    def _start(self, rid: int, *, lost_disk: bool) -> None:
        self.incarnations[rid] += 1
        if lost_disk:
            self.storage[rid] = MemoryStorage(json_roundtrip=self.roundtrip)
            self.amnesiac.add(rid)
        self.say(f"start replica {rid} (incarnation {self.incarnations[rid]}{', lost disk' if lost_disk else ''})")
        if lost_disk:
            self.stats["lost disk"] += 1
        replica = SimReplica(self, rid, self.storage[rid], self.incarnations[rid], lost_disk)
        self.replicas[rid] = replica
        replica.ctx.run(replica.node.start)

    def _kill(self, rid: int) -> None:
        replica = self.replicas[rid]
        self.say(f"kill replica {rid}{' (the leader)' if replica.node.is_leader() else ''}")
        self.stats["leader killed" if replica.node.is_leader() else "follower killed"] += 1
        replica.alive = False
        self.replicas[rid] = None
        for task in replica.tasks:
            task.cancel()
        replica.backend.orphan_all()
        rng = self.rng
        for peer in self.ids:  # the peers' hold calls fail at once: their failure detector tells them
            if peer != rid and self.replicas[peer] is not None and rng.random() < self.faults.detect:
                self.loop.call_later(rng.uniform(0.001, 0.02), self._tell_lost, peer, rid, context=self.world_ctx)
        self.loop.call_later(rng.uniform(0.05, self.faults.restart_after), self._restart, rid,
                             self.incarnations[rid], context=self.world_ctx)

    def _tell_lost(self, peer: int, dead: int) -> None:
        replica = self.replicas[peer]
        if replica is not None:
            replica.ctx.run(replica.node.leader_lost, dead)

    def _restart(self, rid: int, incarnation: int) -> None:
        if self.replicas[rid] is not None or self.incarnations[rid] != incarnation:
            return
        self.amnesiac = {r for r in self.amnesiac
                         if self.replicas[r] is None or self.replicas[r].node.core.is_recovering()}
        lose = self.faulty and self.rng.random() < self.faults.lost_disk and self.amnesiac <= {rid}
        self._start(rid, lost_disk=lose)
        replica = self.replicas[rid]
        for peer in self.ids:
            other = self.replicas[peer]
            if peer != rid and other is not None:
                other.ctx.run(other.node.peer_up, rid)
                replica.ctx.run(replica.node.peer_up, peer)

    # -- faults ------------------------------------------------------------------------------------------------------

    async def _chaos(self) -> None:
        p = self.params
        loop = asyncio.get_running_loop()
        while loop.time() < p.fault_seconds:
            await asyncio.sleep(p.fault_step)
            self._fault_step(p.fault_step)
        self._stop_faults()

    def _fault_step(self, dt: float) -> None:
        rng, f = self.rng, self.faults
        leader = self.leader()
        if leader is not None and rng.random() < f.leader_kill * dt:
            self._kill(leader.id)
        elif rng.random() < f.follower_kill * dt:
            followers = [r for r in self.ids if self.replicas[r] is not None and self.replicas[r] is not leader]
            if followers:
                self._kill(rng.choice(followers))
        if not self.net.cut and rng.random() < f.partition * dt:
            self._partition()
        if rng.random() < f.store_loss * dt:
            self._lose_store()
        if rng.random() < f.store_short * dt:
            self._short_store()
        if rng.random() < f.ring_change * dt:
            self._change_ring()

    def _partition(self) -> None:
        rng = self.rng
        order = list(self.ids)
        rng.shuffle(order)
        leader = self.leader()
        if rng.random() < 0.6:
            alone = leader.id if leader is not None and rng.random() < 0.6 else order[0]
            self.net.cut = {(alone, b) for b in self.ids if b != alone} | {(b, alone) for b in self.ids if b != alone}
        else:
            a, b = order[:2]
            self.net.cut = {(a, b)} if rng.random() < 0.3 else {(a, b), (b, a)}
        self.say(f"partition: cut {sorted(self.net.cut)}")
        self.stats["partition"] += 1
        self.loop.call_later(rng.uniform(0.1, self.faults.heal_after), self._heal, self.net.cut,
                             context=self.world_ctx)

    def _heal(self, cut: set) -> None:
        if self.net.cut is cut:
            self.net.cut = set()
            self.say("heal")

    def _usable(self, without: str, jobs: Any = None) -> bool:
        """Whether the group's ring, and the current ring of every running job (or of `jobs`), keep a store that
        lives and is not lost to the job once `without` is gone. (A job all of whose stores are lost can only fail,
        after INFRA_ATTEMPTS tries: the faults leave each job one.)"""
        stores = self.world.stores
        state = self.oracle.state
        # the group's ring, and any ring change on its way: a job submitted now gets one of them
        rings = [(ring, ()) for ring in [self.group_ring(), *self.scales]] if jobs is None else []
        for job in state.jobs.values():
            if job.status == RUNNING and (jobs is None or job.job_id in jobs):
                lost = {n for n, st in stores.items() if job.job_id in st.lost_jobs} | set(job.dead_stores)
                rings.append((list(job.ring()["stores"]), lost))
                rings += [(scaled, lost) for scaled in self.scales]  # a ring change on its way becomes its ring
        for info in self.jobs.values():  # submitted with a ring of its own, not yet in the log
            if info.ring is not None and info.job_id not in state.jobs and (jobs is None or info.job_id in jobs):
                rings.append((info.ring, set()))
        return all(any(n != without and n in stores and stores[n].alive and n not in lost for n in ring)
                   for ring, lost in rings)

    def group_ring(self) -> list[str]:
        """The group's stores, as the log has them so far."""
        ring = self.oracle.state.ring
        return list(ring["stores"]) if ring["version"] else list(self.initial_stores)

    def _lose_store(self) -> None:
        live = [name for name, s in sorted(self.world.stores.items()) if s.alive]
        name = self.rng.choice(live) if live else None
        if name is None or not self._usable(name):
            return
        store = self.world.stores[name]
        store.alive = False
        store.pieces.clear()
        self.say(f"store {name} dies with its data")
        self.stats["store lost"] += 1
        self._notify_leaders(inventory=False, delay=(0.001, 0.02))

    def _short_store(self) -> None:
        """A durable store restarted on its node, but some pieces of running jobs did not come back."""
        running = {j for j, job in self.oracle.state.jobs.items() if job.status == RUNNING}
        candidates = [s for _, s in sorted(self.world.stores.items())
                      if s.alive and any(key[0] in running for key in s.pieces)]
        if not candidates:
            return
        store = self.rng.choice(candidates)
        dropped = []
        for key in sorted(store.pieces):
            if key[0] not in running or not self._usable(store.name, [key[0]]):
                continue
            for owner in sorted(store.pieces[key]):
                if self.rng.random() < 0.5:
                    del store.pieces[key][owner]
                    store.lost_jobs.add(key[0])
                    dropped.append((key, owner))
        if dropped:
            self.say(f"store {store.name} comes back without {dropped}")
            self.stats["store came back short"] += 1
            self._notify_leaders(inventory=True, delay=(0.05, 0.5), restarted=store.name)

    def _notify_leaders(self, *, inventory: bool, delay: tuple[float, float], restarted: str | None = None) -> None:
        """Every replica that leads (and so watches the stores) hears of it."""
        for r in self.replicas.values():
            if r is not None and r.node.leading:
                self.loop.call_later(self.rng.uniform(*delay), self._watch_fired, r, inventory, restarted,
                                     context=self.world_ctx)

    def _watch_fired(self, replica: SimReplica, inventory: bool, restarted: str | None) -> None:
        if replica.alive:
            self.loop.create_task(replica.watch_stores(inventory, restarted), context=replica.ctx)

    def _change_ring(self) -> None:
        name = f"store-{len(self.world.stores)}"
        self.world.stores[name] = Store(name)
        live = [n for n in self.group_ring() if self.world.stores[n].alive]
        if len(live) > 1 and self.rng.random() < 0.3:
            live.remove(self.rng.choice(live))  # and one taken out (it retires)
        stores = sorted(set(live) | {name})
        leader = self.leader()
        self.say(f"scale the stores to {stores} (at replica {leader.id if leader else None})")
        self.stats["ring change"] += 1
        if leader is not None:
            self.scales.append(stores)
            self.loop.create_task(leader.scale(stores), context=leader.ctx)

    def _stop_faults(self) -> None:
        self.faulty = False
        self.net.cut = set()
        self.net.reliable = True
        self.say("faults stop")
        for rid in self.ids:
            if self.replicas[rid] is None:
                self._restart(rid, self.incarnations[rid])

    # -- clients -------------------------------------------------------------------------------------------------

    async def _client(self, info: JobInfo) -> None:
        await asyncio.sleep(info.submit_at)
        spec = dict(info.spec)
        if info.replicas > 1:
            live = [n for n in self.group_ring() if self.world.stores[n].alive]  # the client's live handles
            spec["ring"] = HashRing(live, replicas=info.replicas).to_dict()
            info.ring = live
        self.say(f"client submits {info.job_id}: {len(info.plan.stages)} step(s), "
                 f"{sum(len(s.maps) for s in info.plan.stages)} maps, "
                 f"{[s.num_partitions for s in info.plan.stages]} partitions, R={info.replicas}"
                 f"{', doomed task ' + info.doomed if info.doomed else ''}")
        hint = None
        while True:
            answer = await self._call(hint, lambda r: r.submit(info.job_id, spec))
            if answer is not None and answer.get("ok"):
                break
            hint = answer.get("leader") if answer else None
            await asyncio.sleep(0.02 + self.rng.random() * 0.05)
        info.accepted = True
        if info.cancel_at is not None:
            await asyncio.sleep(max(0.0, info.cancel_at - asyncio.get_running_loop().time()))
            self.say(f"client cancels {info.job_id}")
            self.stats["cancel"] += 1
            hint = None
            while True:
                answer = await self._call(hint, lambda r: r.cancel(info.job_id))
                if answer is not None and "status" in answer:
                    break
                hint = answer.get("leader") if answer else None
                await asyncio.sleep(0.02 + self.rng.random() * 0.05)
        info.client_done = True

    async def _call(self, hint: int | None, call: Any) -> dict | None:
        """One call to a replica (the hinted one, else any live one): its answer, or None when it died or timed out."""
        replica = self.replicas.get(hint) if hint is not None else None
        if replica is None:
            live = [r for r in self.ids if self.replicas[r] is not None]
            if not live:
                return None
            replica = self.replicas[self.rng.choice(live)]
        task = self.loop.create_task(call(replica), context=replica.ctx)
        task.add_done_callback(self._call_done)
        await asyncio.wait([task], timeout=self.params.call_timeout)
        if not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    def _call_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.fail(f"a replica's call raised {task.exception()!r}")

    # -- the world's files -----------------------------------------------------------------------------------------

    def write_part(self, att: Attempt, content: tuple) -> str:
        d = self.world.dir(att.job_id)
        name = f"part-{att.partition:05d}-a{att.attempt}.jsonl"
        job = self.oracle.state.jobs.get(att.job_id)
        if job is not None and job.cleaned and job.status != COMMITTED:  # its last sweep ran: this one stays
            self.fail(f"attempt {att.describe()} wrote {name} after the output of {job.status} job {att.job_id} was "
                      f"cleaned up (JobCleaned)")
        d.temp[name] = content
        return f"{att.out}/_temporary/{att.job_id}/{name}"


@contextmanager
def _captured_logs(sim: Simulation) -> Iterator[None]:
    """The framework's log records: errors are violations (a tick that raised, a driver that broke); with --trace,
    the info lines are printed among the events."""
    logger = logging.getLogger("framework")
    saved = (logger.level, logger.propagate, list(logger.handlers))

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.levelno >= logging.ERROR:
                if record.exc_info and record.exc_info[1] is not None:
                    text += f": {record.exc_info[1]!r}"
                sim.fail(f"{record.name} logged an error: {text}")
            else:
                sim.say(f"  log {record.name}: {text}")

    logger.handlers = [Handler()]
    logger.propagate = False
    logger.setLevel(logging.INFO if sim.trace else logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


# ---- running seeds ---------------------------------------------------------------------------------------------


def find_violation(seed: int, *, bug: str | None = None, params: Params = Params(),
                   stats: collections.Counter | None = None) -> str | None:
    """The violation one seed produces, as a message, or None when the run is clean (`stats` counts what
    happened)."""
    sim = Simulation(seed, bug=bug, params=params)
    try:
        sim.run()
    except Violation as exc:
        return str(exc)
    finally:
        if stats is not None:
            stats.update(sim.stats)
    return None


def repro_line(seed: int, bug: str | None) -> str:
    line = f"python tests/job_sim.py --seeds 1 --start {seed}"
    if bug is not None:
        line += f" --bug {bug}"
    return line


def run_seeds(start: int, count: int, *, bug: str | None = None, stop_at_first: bool = True,
              stats: collections.Counter | None = None) -> list[tuple[int, str]]:
    """Failing seeds (with their violation) among `start .. start+count-1`."""
    failures = []
    with _few_gc_passes():
        for seed in range(start, start + count):
            problem = find_violation(seed, bug=bug, stats=stats)
            if problem is not None:
                failures.append((seed, problem))
                if stop_at_first:
                    break
    return failures


def first_violation(bug: str | None, budget: int, *, start: int = 0) -> tuple[int, str] | None:
    """The first seed (and its message) at which the checker finds a violation, within `budget` seeds."""
    found = run_seeds(start, budget, bug=bug)
    return found[0] if found else None


def _run_chunk(args: tuple) -> tuple[list[tuple[int, str]], collections.Counter]:
    start, count, bug, stop_at_first = args
    stats: collections.Counter = collections.Counter()
    return run_seeds(start, count, bug=bug, stop_at_first=stop_at_first, stats=stats), stats


def run_parallel(start: int, count: int, jobs: int, *, bug: str | None = None, stop_at_first: bool = True,
                 stats: collections.Counter | None = None) -> list[tuple[int, str]]:
    """`run_seeds` in `jobs` processes, in chunks of consecutive seeds; the failures in seed order (with
    stop_at_first, only the first: the chunks are read in order, so it is the lowest failing seed)."""
    chunk = max(1, min(200, count // (jobs * 4)))
    chunks = [(s, min(chunk, start + count - s), bug, stop_at_first) for s in range(start, start + count, chunk)]
    failures: list[tuple[int, str]] = []
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for found, seen in pool.imap(_run_chunk, chunks):
            failures += found
            if stats is not None:
                stats.update(seen)
            if failures and stop_at_first:
                pool.terminate()
                break
    return failures[:1] if stop_at_first else failures


@contextmanager
def _few_gc_passes() -> Iterator[None]:
    """Thousands of small simulations allocate millions of short-lived objects: the default thresholds make the
    cyclic collector take a large share of the time, for garbage that reference counting mostly frees anyway."""
    old = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument("--bug", choices=BUGS, help="plant a bug the checker must catch")
    parser.add_argument("--all", action="store_true", help="keep going after the first failing seed")
    parser.add_argument("--jobs", type=int, default=1, help="processes to run seeds in")
    parser.add_argument("--trace", action="store_true", help="print every event of each seed (use with --seeds 1)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON line at the end: seeds, failures, seconds, CPU seconds, events")
    args = parser.parse_args(argv)
    if args.trace:
        return _trace(args.start, args.seeds, args.bug)
    began, cpu = time.perf_counter(), time.process_time()
    stats: collections.Counter = collections.Counter()
    if args.jobs > 1:
        failures = run_parallel(args.start, args.seeds, args.jobs, bug=args.bug, stop_at_first=not args.all,
                                stats=stats)
    else:
        failures = run_seeds(args.start, args.seeds, bug=args.bug, stop_at_first=not args.all, stats=stats)
    elapsed = time.perf_counter() - began
    if args.json:
        used = time.process_time() - cpu + sum(os.times()[2:4])  # this process and its finished children
        print(json.dumps({"start": args.start, "seeds": args.seeds, "failures": failures,
                          "repro": [repro_line(seed, args.bug) for seed, _ in failures],
                          "seconds": round(elapsed, 1), "cpu_seconds": round(used, 1), "events": dict(stats)}))
        return 1 if failures else 0
    for seed, problem in failures:
        print(f"{repro_line(seed, args.bug)}  # {problem}")
    ran = (failures[-1][0] - args.start + 1) if failures and not args.all else args.seeds
    cpu_note = f", {time.process_time() - cpu:.1f}s CPU here" if args.jobs <= 1 else f" in {args.jobs} processes"
    print(f"# {ran} seeds, {len(failures)} failing, {elapsed:.1f}s{cpu_note} ({ran / max(elapsed, 1e-9):.1f} seeds/s)",
          file=sys.stderr)
    return 1 if failures else 0


def _trace(start: int, count: int, bug: str | None) -> int:
    failed = 0
    for seed in range(start, start + count):
        sim = Simulation(seed, bug=bug, trace=True)
        print(f"# seed {seed}: {len(sim.ids)} replicas, {sim.faults}, slots {sim.slots}, stores "
              f"{sim.initial_stores}, snapshots every {sim.snapshot_every}{', slow output fs' if sim.slow_fs else ''}"
              f"{', storage round-trips JSON' if sim.roundtrip else ''}")
        try:
            sim.run()
        except Violation as exc:
            print(f"VIOLATION: {exc}")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
