"""The master's job state machine: every job-state change is a command applied here, in log order.

Deterministic and pure (no Ray, no clock, no I/O), so a replicated log of these commands (the Paxos issue)
rebuilds exactly the same state on every replica, and a new leader knows which tasks are done and never runs
them again. Commands are JSON-safe dataclasses (`to_dict` / `command_from_dict`): they go to a WAL on disk, and
nothing read back from disk is unpickled.

Rules the state enforces:
- a task is done by the first attempt whose `TaskDone` is applied; later attempts of it are ignored, so a task's
  output (and its user counters) count exactly once however often it was retried;
- a `TaskDone` or `TaskFailed` for an attempt that is not running (never launched, or already failed) is ignored;
- a stage's reduce tasks become runnable only when all its map tasks are done, and the next stage's maps only when
  the stage is done;
- a ring change (`RingChanged`, e.g. a store added mid-job) places the attempts launched after it; data already
  written stays where it is and is read from there, so nothing moves. A store a change takes out is `retiring`:
  it keeps serving the running jobs that wrote to it and is stopped once none does (`StoresRetired`);
- a shuffle store that dies with its data (`StoreLost`; a durable store whose process died on a live node is
  started again with its data instead, and nothing is recorded) takes only its own share with it: each finished map task whose pieces of
  a not yet reduced partition lay only on dead stores runs again (`redo`), re-sending just those partitions, and a
  reducer reads each partition from where each committed attempt put it (`map_sources`). With `replicas` >= 2 a
  partition is lost only when all its stores are, so usually nothing runs again. A done reducer of a step
  whose output lay only there runs again too, while its input is still at hand (its step is the current one);
  the next step's maps still needing a lost partition fail the job at once, naming it;
- a durable store that was started again (`StoreRestarted`) gives up every attempt that may have written to the
  incarnation that died (its TaskDone would claim pieces that never reached the disk); the leader then compares
  what came back with the committed pieces;
- `CommitStarted` is the point of no return: from then on a cancel is too late, and the job ends committed;
- a job that ended is `cleaned` once its leader removed its temporary files and shuffle data (`JobCleaned`): a
  new leader finishes the cleanup of an ended job that is not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Mapping

from framework.plan import (
    JobPlan,
    is_reduce,
    map_task_id,
    output_dataset,
    partition_of,
    reduce_task_id,
    shuffle_dataset,
    stage_of,
)
from framework.shuffle.ring import placements

RUNNING, COMMITTED, FAILED, CANCELLED = "running", "committed", "failed", "cancelled"
TERMINAL = (COMMITTED, FAILED, CANCELLED)

# ---- commands ---------------------------------------------------------------------------------------------------

_COMMANDS: dict[str, type["Command"]] = {}


@dataclass(frozen=True)
class Command:
    """Base of every job-state change."""

    job_id: str
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.kind = cls.__name__
        _COMMANDS[cls.__name__] = cls

    def to_dict(self) -> dict:
        return {"type": self.kind, **asdict(self)}


def command_from_dict(d: Mapping[str, Any]) -> Command:
    """Inverse of Command.to_dict; unknown types raise ValueError."""
    d = dict(d)
    cls = _COMMANDS.get(d.pop("type", ""))
    if cls is None:
        raise ValueError(f"unknown command {d!r}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class JobSubmitted(Command):
    spec: dict  # {"plan": JobPlan.to_dict(), "job": loadable job, "output": ..., "max_attempts": ..., ...}


@dataclass(frozen=True)
class TaskLaunched(Command):
    task_id: str
    attempt: int


@dataclass(frozen=True)
class TaskDone(Command):
    task_id: str
    attempt: int
    result: dict  # rows, bytes, counters, where the output went (metadata only, never data)


@dataclass(frozen=True)
class TaskFailed(Command):
    task_id: str
    attempt: int
    error: str  # one line
    details: str = ""  # the traceback
    fatal: bool = False  # bad input: retrying cannot help
    usage: bool = False  # the failure is the user's input (exit code 2)
    infra: bool = False  # the cluster failed (a worker, node or store died): counted apart


#: failures of the cluster (not of the task) a task may see before the job fails
INFRA_ATTEMPTS = 20


@dataclass(frozen=True)
class LeaderElected(Command):
    """A replica took over as leader (group-wide: job_id is "").

    Applying it gives up every attempt still running: they were launched by an earlier leader, so their results
    can no longer reach the group. They run again, without counting as failures, and a late `TaskDone` for one of
    them is ignored: an attempt started under an older leader is never committed after this point. Deciding this
    at apply time (not when the new leader proposes) covers the slots the new leader learned only in phase 1.
    The history is what `paxflow status` shows.
    """

    replica: int = 0
    ballot: list = field(default_factory=list)
    time: float = 0.0  # the new leader's wall clock when it took over


@dataclass(frozen=True)
class RingChanged(Command):
    """The shuffle stores changed (group-wide: job_id is ""): running jobs place the attempts they launch from now
    on with `stores` on their ring (same replicas and bounded-load setting); what earlier attempts wrote stays
    where they put it, and readers look it up there."""

    version: int = 0
    stores: list = field(default_factory=list)
    auto: bool = True  # the leader may add a store when a node without one joins (off once a user set the count)


@dataclass(frozen=True)
class StoresRetired(Command):
    """Retiring stores that no running job used any more were stopped (group-wide: job_id is "")."""

    stores: list = field(default_factory=list)


@dataclass(frozen=True)
class StoreLost(Command):
    """A shuffle store died (group-wide: job_id is "", or lost only to job `job_id`: it came back without some of
    that job's pieces). Every running job that placed data on it stops using it;
    map output that lived only there is sent again by re-running the map tasks that made it (only the lost
    partitions), and attempts that may have been writing to it or reading from it are given up and run again."""

    store: str = ""


@dataclass(frozen=True)
class StoreRestarted(Command):
    """A dead durable store was started again on its node (group-wide: job_id is ""): every attempt of a running
    job that uses it is given up (it may have written pieces the old process never got to its disk), so no later
    TaskDone claims them. Applied before the leader compares the store's recovered pieces with the committed
    ones, so that comparison sees every piece that will ever count."""

    store: str = ""


@dataclass(frozen=True)
class StageDone(Command):
    stage: int


@dataclass(frozen=True)
class CommitStarted(Command):
    """The leader begins to move the job's parts into place: a later JobCancelled is too late and is ignored.
    `ballot`: the leader's, so a later leader that finds the commit unfinished knows another one began it."""

    ballot: list = field(default_factory=list)


@dataclass(frozen=True)
class JobCommitted(Command):
    outputs: list


@dataclass(frozen=True)
class JobFailed(Command):
    message: str
    details: str = ""
    usage: bool = False


@dataclass(frozen=True)
class JobCancelled(Command):
    reason: str = "cancelled"


@dataclass(frozen=True)
class JobCleaned(Command):
    """The ended job's temporary output and shuffle data are gone."""


# ---- state ------------------------------------------------------------------------------------------------------


@dataclass
class TaskRecord:
    launched: int = 0  # attempts launched so far; the next attempt number
    running: set = field(default_factory=set)
    done_attempt: int | None = None
    result: dict | None = None
    failures: list = field(default_factory=list)  # (attempt, error, details, infra)
    fatal: bool = False  # failed in a way no retry can mend (bad input)
    usage: bool = False  # the failure was the user's input (exit code 2)
    redo: list = field(default_factory=list)  # partitions of a done map whose pieces were lost: to send again
    patches: dict = field(default_factory=dict)  # partition -> the attempt that re-sent it (overrides done_attempt)
    dead_at: dict = field(default_factory=dict)  # attempt -> the stores known dead when it launched (where non-empty)
    ring_at: dict = field(default_factory=dict)  # attempt -> the job's ring it launched with (where not the first)
    missed: dict = field(default_factory=dict)  # attempt -> stores of its placement it could not write (R >= 2)

    @property
    def done(self) -> bool:
        return self.done_attempt is not None

    @property
    def finished(self) -> bool:
        """Done, with nothing lost to send again."""
        return self.done_attempt is not None and not self.redo

    def attempt_for(self, partition: int) -> int | None:
        """The attempt whose pieces of `partition` count."""
        return self.patches.get(partition, self.done_attempt)


@dataclass
class JobState:
    job_id: str
    spec: dict
    plan: JobPlan
    status: str = RUNNING
    stage: int = 0  # the first stage not yet done
    tasks: dict = field(default_factory=dict)  # task id -> TaskRecord
    outputs: list = field(default_factory=list)
    error: str = ""
    details: str = ""
    usage_error: bool = False
    abandoned: int = 0  # attempts given up at leader changes or store losses (each runs again)
    dead_stores: list = field(default_factory=list)  # shuffle stores of this job's ring that died, in order
    rings: list = field(default_factory=list)  # rings after a RingChanged (ring i > 0 is rings[i - 1])
    commit: list | None = None  # the ballot of the leader that started the commit (CommitStarted), once one did
    cleaned: bool = False  # ended, and its temporary output and shuffle data removed (JobCleaned)

    def ring(self, index: int = -1) -> dict:
        """The job's ring number `index` (0: the one it was submitted with; -1: the current one)."""
        if index < 0:
            index = len(self.rings)
        return (self.spec.get("ring") or {}) if index == 0 else self.rings[index - 1]  # inline jobs have none

    def all_stores(self) -> set:
        """Every store any of the job's rings has placed data on."""
        return {name for i in range(len(self.rings) + 1) for name in self.ring(i).get("stores", {})}

    @property
    def max_attempts(self) -> int:
        return int(self.spec.get("max_attempts", 3))

    def stage_task_ids(self, stage: int) -> tuple[list[str], list[str]]:
        plan = self.plan.stages[stage]
        return [m.task_id for m in plan.maps], plan.reduce_ids()

    def maps_done(self, stage: int) -> bool:
        maps, _ = self.stage_task_ids(stage)
        return all(self.tasks[t].finished for t in maps)

    def stage_complete(self, stage: int) -> bool:
        maps, reduces = self.stage_task_ids(stage)
        return all(self.tasks[t].finished for t in maps + reduces)

    def current_tasks(self) -> list[str]:
        """The tasks of the current phase: the stage's maps until they are all done, then its reduces."""
        if self.status != RUNNING or self.stage >= len(self.plan.stages):
            return []
        maps, reduces = self.stage_task_ids(self.stage)
        return reduces if self.maps_done(self.stage) else maps

    def runnable(self) -> list[str]:
        """Tasks of the current phase that are neither done nor running and still have attempts left."""
        return [
            t
            for t in self.current_tasks()
            if not self.tasks[t].finished and not self.tasks[t].running and not self.out_of_attempts(self.tasks[t])
        ]

    def out_of_attempts(self, rec: TaskRecord) -> bool:
        infra = sum(1 for f in rec.failures if len(f) > 3 and f[3])
        return rec.fatal or len(rec.failures) - infra >= self.max_attempts or infra >= INFRA_ATTEMPTS

    def committed_maps(self, stage: int) -> dict[str, int]:
        """{map task id: the attempt whose output counts} for a stage (its first done attempt)."""
        maps, _ = self.stage_task_ids(stage)
        return {t: self.tasks[t].done_attempt for t in maps if self.tasks[t].done}

    def map_sources(self, stage: int, partition: int) -> list[dict]:
        """Where a reducer of `partition` reads: [{"dead": stores dead at launch, "committed": {task: attempt}}],
        one entry per placement the committed attempts were launched with (usually just one)."""
        maps, _ = self.stage_task_ids(stage)
        return _grouped((self.tasks[t].attempt_for(partition), self.tasks[t], t,
                         # its first attempt's result says whether it writes to this partition (a redo re-runs
                         # the same input, so its pieces are checked by the same answer)
                         bool((self.tasks[t].result or {}).get("partitions", {}).get(str(partition))))
                        for t in maps if self.tasks[t].done)

    def reduce_sources(self, stage: int, partition: int) -> list[dict]:
        """Where a map of the next stage reads reduce output partition `partition` of `stage` (as map_sources)."""
        rec = self.tasks[reduce_task_id(stage, partition)]
        return _grouped([(rec.attempt_for(partition), rec, reduce_task_id(stage, partition),
                          bool((rec.result or {}).get("rows")))] if rec.done else [])

    def _lost(self, rec: TaskRecord, attempt: int, partitions: list[int], dataset_partitions: int) -> list[int]:
        """Of `partitions`, those whose every store (on the placement `attempt` launched with) is dead now."""
        dead = set(self.dead_stores)
        if not dead:
            return []
        rows = placements(self.ring(rec.ring_at.get(attempt, 0)), rec.dead_at.get(attempt, []), partitions,
                          dataset_partitions)
        gone = dead | set(rec.missed.get(attempt, []))
        return [p for p, stores in zip(partitions, rows) if all(s in gone for s in stores)]

    def _check_map_output(self, task_id: str) -> None:
        """Mark the partitions of a done map task whose pieces are gone (and whose reduce is not done) for redo."""
        stage = stage_of(task_id)
        rec = self.tasks[task_id]
        num = self.plan.stages[stage].num_partitions
        wrote = (rec.result or {}).get("partitions")  # a partition it wrote nothing to cannot be lost
        needed = [p for p in range(num) if not self.tasks[reduce_task_id(stage, p)].finished
                  and (wrote is None or wrote.get(str(p)))]
        by_attempt: dict[int, list[int]] = {}
        for p in needed:
            by_attempt.setdefault(rec.attempt_for(p), []).append(p)
        lost = sorted(p for a, ps in by_attempt.items() for p in self._lost(rec, a, ps, num))
        rec.redo = sorted(set(rec.redo) | set(lost))

    def _check_reduce_output(self, task_id: str) -> None:
        """Mark a done reducer of a step before the last for redo when its output lay only on dead stores and the
        next step still needs it: its step must be the current one (its input, that step's map output, is at
        hand then; later, `_check_step_input` fails the job)."""
        stage, p = stage_of(task_id), partition_of(task_id)
        rec = self.tasks[task_id]
        if (stage != self.stage or stage == len(self.plan.stages) - 1 or not rec.done or rec.redo
                or not (rec.result or {}).get("rows")):
            return
        if self._lost(rec, rec.attempt_for(p), [p], self.plan.stages[stage].num_partitions):
            rec.redo = [p]
            for m in self.plan.stages[stage].maps:  # it reads its input again: is that still there?
                if self.tasks[m.task_id].done:
                    self._check_map_output(m.task_id)

    def _check_step_input(self) -> None:
        """Fail the job when a map of the current step that has still to run (or to run again) reads a partition
        of the previous step's output whose every copy is gone: nothing left can make it again."""
        stage = self.stage
        if stage == 0 or stage >= len(self.plan.stages):
            return
        for m in self.plan.stages[stage].maps:
            if m.source_partition is None or self.tasks[m.task_id].finished:
                continue
            source = m.source_stage if m.source_stage is not None else stage - 1
            num = self.plan.stages[source].num_partitions
            q = m.source_partition
            rec = self.tasks[reduce_task_id(source, q)]
            attempt = rec.attempt_for(q)
            if (rec.result or {}).get("rows") and self._lost(rec, attempt, [q], num):
                held = placements(self.ring(rec.ring_at.get(attempt, 0)), rec.dead_at.get(attempt, []), [q], num)[0]
                self.status = FAILED
                self.error = (f"shuffle store {', '.join(held)} died holding the only copy of "
                              f"{self.plan.stages[source].name!r}'s output (partition {q}) that "
                              f"{self.plan.stages[stage].name!r} still reads; run the job again, with "
                              f"--replicas 2 to survive this")
                return

    def pieces_on(self, store: str) -> set[tuple[str, int, str, int]]:
        """(dataset, partition, task, attempt) of every committed piece the job placed on `store`: what a store
        recovered from its disk after a crash must hold for nothing to be lost."""
        wanted: set[tuple[str, int, str, int]] = set()
        last = len(self.plan.stages) - 1
        for task_id, rec in self.tasks.items():
            if not rec.done:
                continue
            stage = stage_of(task_id)
            num = self.plan.stages[stage].num_partitions
            if is_reduce(task_id):
                if stage == last or not (rec.result or {}).get("rows"):
                    continue  # the final step writes part files; an empty reduce output puts nothing
                dataset, wrote = output_dataset(stage), [partition_of(task_id)]
            else:
                dataset = shuffle_dataset(stage)
                wrote = [int(p) for p, n in (rec.result or {}).get("partitions", {}).items() if n]
            by_attempt: dict[int, list[int]] = {}
            for p in wrote:
                by_attempt.setdefault(rec.attempt_for(p), []).append(p)
            for attempt, partitions in by_attempt.items():
                if store in rec.missed.get(attempt, []):
                    continue  # this attempt could not write there (another replica holds its pieces)
                rows = placements(self.ring(rec.ring_at.get(attempt, 0)), rec.dead_at.get(attempt, []), partitions,
                                  num)
                wanted.update((dataset, p, task_id, attempt) for p, names in zip(partitions, rows) if store in names)
        return wanted

    def counters(self) -> dict[str, int]:
        """User counters summed over the committed attempt of every task."""
        total: dict[str, int] = {}
        for rec in self.tasks.values():
            if rec.done:
                for name, n in (rec.result or {}).get("counters", {}).items():
                    total[name] = total.get(name, 0) + n
        return total

    @property
    def skip_limit(self) -> int:
        """How many malformed input records the job may skip in all (`--skip-bad-records`; 0: none)."""
        return int(self.spec.get("skip_bad_records", 0) or 0)

    def skipped_records(self, limit: int = 10) -> list[str]:
        """The first `limit` records the committed map attempts skipped, as "file:line: reason", in task order."""
        found: list[str] = []
        for task_id, rec in self.tasks.items():
            if rec.done and (rec.result or {}).get("skipped"):
                found.extend(rec.result["skipped"][: limit - len(found)])
                if len(found) >= limit:
                    break
        return found

    def _check_skip_limit(self, task_id: str) -> None:
        """Fail the job once its committed attempts skipped more records than it may: each task stays within the
        limit on its own, so only their sum can pass it. Names the record that did (the task's result keeps its
        first skipped records; past those, which one of them it was)."""
        total = self.counters().get("skipped_records", 0)
        limit = self.skip_limit
        if total <= limit:
            return
        result = self.tasks[task_id].result
        before = total - result["counters"]["skipped_records"]
        index = limit - before  # this task's record that took the total past the limit (0-based)
        kept = result["skipped"]
        tipping = kept[index] if index < len(kept) else f"bad record {index + 1} of {result.get('skipped_in', task_id)}"
        self.status = FAILED
        self.error = (f"{tipping} (bad record {limit + 1}: the job skips at most {limit}; {total} found by the "
                      f"tasks done so far)")
        self.usage_error = True

    def progress(self) -> dict:
        """What `paxflow status` and the progress display show."""
        stage = min(self.stage, len(self.plan.stages) - 1)
        maps, reduces = self.stage_task_ids(stage)
        phase_tasks = self.current_tasks() or reduces or maps  # (a stage that does not shuffle: its maps)
        done = [t for t in self.tasks if self.tasks[t].done]
        rows_in = sum((self.tasks[t].result or {}).get("rows_in", 0) for t in done if not is_reduce(t))
        bytes_in = sum((self.tasks[t].result or {}).get("bytes_in", 0) for t in done if t.startswith("s0m"))
        writers = self.plan.stages[-1].output_ids()
        out_rows = sum((self.tasks[t].result or {}).get("rows", 0) for t in writers if self.tasks[t].done)
        return {
            "job_id": self.job_id,
            "status": self.status,
            "stage": stage,
            "stages": len(self.plan.stages),
            "stage_name": self.plan.stages[stage].name,
            "phase": "reduce" if self.maps_done(stage) and self.plan.stages[stage].num_partitions else "map",
            "tasks_done": sum(self.tasks[t].done for t in phase_tasks),
            "tasks_total": len(phase_tasks),
            "all_done": len(done),
            "running": sum(len(self.tasks[t].running) for t in self.tasks),
            "abandoned": self.abandoned,
            "all_total": len(self.tasks),
            "rows_in": rows_in,
            "bytes_in": bytes_in,
            "input_bytes": self.plan.input_bytes,
            "output_rows": out_rows if self.stage_complete(len(self.plan.stages) - 1) or self.status == COMMITTED else None,
            "counters": self.counters(),
            "skipped": self.skipped_records() if self.skip_limit else [],
            "error": self.error,
        }


def _grouped(entries) -> list[dict]:
    """Sources grouped by the placement their attempts launched with: ring, dead stores, {task: attempt}, and
    `wrote`: the tasks known to have put pieces there, which the reader checks it got (lost data fails loudly)."""
    groups: dict[tuple, dict] = {}
    for attempt, rec, task, wrote in entries:
        key = (rec.ring_at.get(attempt, 0), tuple(rec.dead_at.get(attempt, [])))
        group = groups.setdefault(key, {"committed": {}, "wrote": []})
        group["committed"][task] = attempt
        if wrote:
            group["wrote"].append(task)
    return [{"ring": ring, "dead": list(dead), **group} for (ring, dead), group in sorted(groups.items())]


class MasterState:
    """Every job the master knows, driven only by `apply(command)`."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobState] = {}
        self.applied = 0  # commands applied: the log position this state reflects
        self.leaders: list[dict] = []  # every LeaderElected, oldest first
        self.ring: dict = {"version": 0, "stores": [], "auto": True}  # the latest RingChanged (none yet: version 0)
        self.retiring: list[str] = []  # stores a RingChanged took out, kept while a running job reads from them

    def apply(self, cmd: Command) -> None:
        self.applied += 1
        if isinstance(cmd, LeaderElected):
            self.leaders.append({"replica": cmd.replica, "ballot": list(cmd.ballot), "time": cmd.time})
            del self.leaders[:-100]  # a bounded history
            for job in self.jobs.values():
                if job.status == RUNNING:
                    for rec in job.tasks.values():
                        job.abandoned += len(rec.running)
                        rec.running.clear()
            return
        if isinstance(cmd, StoreLost):
            for job in self.jobs.values():
                if (job.status == RUNNING and cmd.store in job.all_stores() and cmd.store not in job.dead_stores
                        and cmd.job_id in ("", job.job_id)):
                    _store_lost(job, cmd.store)
            return
        if isinstance(cmd, StoreRestarted):
            for job in self.jobs.values():
                if job.status == RUNNING and cmd.store in job.all_stores() and cmd.store not in job.dead_stores:
                    for rec in job.tasks.values():
                        job.abandoned += len(rec.running)
                        rec.running.clear()
            return
        if isinstance(cmd, RingChanged):
            before = set(self.ring["stores"])
            self.ring = {"version": cmd.version, "stores": list(cmd.stores), "auto": cmd.auto}
            self.retiring = sorted((set(self.retiring) | (before - set(cmd.stores))) - set(cmd.stores))
            for job in self.jobs.values():
                current = job.ring()
                if job.status == RUNNING and current and sorted(current["stores"]) != sorted(cmd.stores):
                    job.rings.append({**current, "version": cmd.version,
                                      "stores": {name: 1.0 for name in cmd.stores}})
            return
        if isinstance(cmd, StoresRetired):
            self.retiring = [name for name in self.retiring if name not in cmd.stores]
            return
        if isinstance(cmd, JobSubmitted):
            if cmd.job_id in self.jobs:  # a retried submission is applied once
                return
            wanted = (cmd.spec.get("ring") or {}).get("stores", {})  # a job that chose a retiring store keeps it
            self.retiring = [name for name in self.retiring if name not in wanted]
            plan = JobPlan.from_dict(cmd.spec["plan"])
            job = JobState(cmd.job_id, cmd.spec, plan)
            for stage in plan.stages:
                for m in stage.maps:
                    job.tasks[m.task_id] = TaskRecord()
                for p in range(stage.num_partitions):
                    job.tasks[reduce_task_id(stage.stage, p)] = TaskRecord()
            self.jobs[cmd.job_id] = job
            return
        job = self.jobs.get(cmd.job_id)
        if isinstance(cmd, JobCleaned):
            if job is not None and job.status in TERMINAL:
                job.cleaned = True
            return
        if job is None or job.status in TERMINAL:
            return
        handler = getattr(self, f"_apply_{cmd.kind}")
        handler(job, cmd)

    def retirable(self) -> list[str]:
        """Retiring stores that no running job has placed data on: safe to stop now."""
        used = {name for j in self.jobs.values() if j.status == RUNNING for name in j.all_stores()}
        return [name for name in self.retiring if name not in used]

    def _apply_TaskLaunched(self, job: JobState, cmd: TaskLaunched) -> None:
        rec = job.tasks[cmd.task_id]
        if cmd.attempt != rec.launched or rec.finished:
            return  # stale or duplicate launch: attempt numbers are handed out once, in order
        rec.launched += 1
        rec.running.add(cmd.attempt)
        if job.dead_stores:
            rec.dead_at[cmd.attempt] = list(job.dead_stores)
        if job.rings:
            rec.ring_at[cmd.attempt] = len(job.rings)

    def _apply_TaskDone(self, job: JobState, cmd: TaskDone) -> None:
        rec = job.tasks[cmd.task_id]
        if rec.finished or cmd.attempt not in rec.running:
            return  # first committed attempt wins; an attempt never launched, or already failed, is fenced out
        rec.running.discard(cmd.attempt)
        if (cmd.result or {}).get("missed"):
            rec.missed[cmd.attempt] = list(cmd.result["missed"])
        if rec.done:  # a redo: its pieces of the lost partitions now count (its result and counters do not)
            for p in rec.redo:
                rec.patches[p] = cmd.attempt
            rec.redo = []
        else:
            rec.done_attempt = cmd.attempt
            rec.result = cmd.result
            if (cmd.result or {}).get("skipped"):
                job._check_skip_limit(cmd.task_id)
        if job.dead_stores:  # it may have written to a store that died meanwhile
            if is_reduce(cmd.task_id):
                job._check_reduce_output(cmd.task_id)
            else:
                job._check_map_output(cmd.task_id)
                if rec.redo:  # it must read its input again
                    job._check_step_input()

    def _apply_TaskFailed(self, job: JobState, cmd: TaskFailed) -> None:
        rec = job.tasks[cmd.task_id]
        if rec.finished or cmd.attempt not in rec.running:
            return
        rec.running.discard(cmd.attempt)
        rec.failures.append((cmd.attempt, cmd.error, cmd.details, cmd.infra))
        rec.fatal = rec.fatal or cmd.fatal
        rec.usage = rec.usage or cmd.usage

    def _apply_StageDone(self, job: JobState, cmd: StageDone) -> None:
        if cmd.stage == job.stage and job.stage_complete(cmd.stage):
            job.stage += 1

    def _apply_CommitStarted(self, job: JobState, cmd: CommitStarted) -> None:
        if job.commit is None and job.stage >= len(job.plan.stages):
            job.commit = list(cmd.ballot)

    def _apply_JobCommitted(self, job: JobState, cmd: JobCommitted) -> None:
        job.status = COMMITTED
        job.outputs = list(cmd.outputs)

    def _apply_JobFailed(self, job: JobState, cmd: JobFailed) -> None:
        job.status = FAILED
        job.error = cmd.message
        job.details = cmd.details
        job.usage_error = cmd.usage

    def _apply_JobCancelled(self, job: JobState, cmd: JobCancelled) -> None:
        if job.commit is not None:
            return  # too late: the output is being moved into place, and the job ends committed
        job.status = CANCELLED
        job.error = cmd.reason


def _store_lost(job: JobState, store: str) -> None:
    """Apply a store's death to one running job (see StoreLost)."""
    job.dead_stores.append(store)
    if job.stage >= len(job.plan.stages):
        return
    stage = job.stage
    maps, reduces = job.stage_task_ids(stage)
    for t in reduces:  # first: a reducer that must make its output again reads its input again
        job._check_reduce_output(t)
    lost: set[int] = set()
    for t in maps:
        rec = job.tasks[t]
        job.abandoned += len(rec.running)  # they may be writing to the dead store: run them again
        rec.running.clear()
        if rec.done:
            job._check_map_output(t)
            lost.update(rec.redo)
    for p, t in enumerate(reduces):
        rec = job.tasks[t]
        if p in lost:  # reading lost pieces: cannot finish; run once the pieces are back
            job.abandoned += len(rec.running)
            rec.running.clear()
    job._check_step_input()  # (a reducer still running that wrote there is checked by its TaskDone)


def snapshot(state: MasterState) -> dict:
    """The whole state as JSON-safe data (a Paxos snapshot), such that restore(snapshot(s)) behaves like s."""
    return {
        "applied": state.applied,
        "leaders": state.leaders,
        "ring": state.ring,
        "retiring": state.retiring,
        "jobs": [
            {
                "job_id": j.job_id, "spec": j.spec, "status": j.status, "stage": j.stage, "outputs": j.outputs,
                "error": j.error, "details": j.details, "usage_error": j.usage_error, "abandoned": j.abandoned,
                "dead_stores": j.dead_stores, "rings": j.rings, "commit": j.commit, "cleaned": j.cleaned,
                "tasks": {t: {"launched": r.launched, "running": sorted(r.running), "done_attempt": r.done_attempt,
                              "result": r.result, "failures": [list(f) for f in r.failures], "fatal": r.fatal,
                              "usage": r.usage, "redo": r.redo, "patches": [[p, a] for p, a in r.patches.items()],
                              "dead_at": [[a, d] for a, d in r.dead_at.items()],
                              "ring_at": [[a, i] for a, i in r.ring_at.items()],
                              "missed": [[a, m] for a, m in r.missed.items()]}
                          for t, r in j.tasks.items()},
            }
            for j in state.jobs.values()
        ],
    }


def restore(data: Mapping[str, Any]) -> MasterState:
    """Inverse of `snapshot`."""
    state = MasterState()
    state.applied = data["applied"]
    state.leaders = list(data["leaders"])
    state.ring = {**state.ring, **data.get("ring", {})}
    state.retiring = list(data.get("retiring", []))
    for j in data["jobs"]:
        job = JobState(j["job_id"], j["spec"], JobPlan.from_dict(j["spec"]["plan"]), status=j["status"],
                       stage=j["stage"], outputs=list(j["outputs"]), error=j["error"], details=j["details"],
                       usage_error=j["usage_error"], abandoned=j.get("abandoned", 0),
                       dead_stores=list(j.get("dead_stores", [])), rings=list(j.get("rings", [])),
                       commit=j.get("commit"),
                       # an ended job in a snapshot from before JobCleaned existed was cleaned up then
                       cleaned=j.get("cleaned", j["status"] in TERMINAL))
        for t, r in j["tasks"].items():
            job.tasks[t] = TaskRecord(launched=r["launched"], running=set(r["running"]), done_attempt=r["done_attempt"],
                                      result=r["result"], failures=[tuple(f) for f in r["failures"]],
                                      fatal=r["fatal"], usage=r["usage"], redo=list(r.get("redo", [])),
                                      patches={p: a for p, a in r.get("patches", [])},
                                      dead_at={a: d for a, d in r.get("dead_at", [])},
                                      ring_at={a: i for a, i in r.get("ring_at", [])},
                                      missed={a: m for a, m in r.get("missed", [])})
        state.jobs[job.job_id] = job
    return state


def exhausted_task(job: JobState) -> tuple[str, tuple] | None:
    """A task of the current phase that ran out of attempts, with its last failure; None if there is none."""
    for t in job.current_tasks():
        rec = job.tasks[t]
        if not rec.finished and not rec.running and job.out_of_attempts(rec):
            return t, rec.failures[-1]
    return None


__all__ = [
    "Command",
    "JobSubmitted",
    "TaskLaunched",
    "TaskDone",
    "TaskFailed",
    "StageDone",
    "LeaderElected",
    "StoreLost",
    "RingChanged",
    "StoresRetired",
    "snapshot",
    "restore",
    "JobCommitted",
    "JobFailed",
    "JobCancelled",
    "JobCleaned",
    "CommitStarted",
    "StoreRestarted",
    "MasterState",
    "JobState",
    "TaskRecord",
    "command_from_dict",
    "exhausted_task",
    "map_task_id",
    "RUNNING",
    "COMMITTED",
    "FAILED",
    "CANCELLED",
    "TERMINAL",
]
