"""The leader's scheduling loop for one job: decide from the state, propose the change, act once it is applied.

Shared by every executor: the inline executor and the Ray master actor differ only in their `Backend` (how a
task attempt runs and where shuffle data lives) and their `propose` (apply at once, or replicate first). Every
decision reads the deterministic state (`framework.master.state`), so a new leader that replays the log resumes
exactly where the old one stopped.

The commit is fenced against a deposed leader: `CommitStarted` goes into the log first (a cancel after it is too
late), the files are moved by a thread that checks before each change that this replica still holds its lease
(`Lead.check`), and a later leader that finds a commit another one began waits for that one's lease to run out
before it commits again. So two leaders never move the same job's files at once, and `_SUCCESS` is written once.
An ended job is cleaned up (temporary output, shuffle data) and then marked `JobCleaned`; a new leader finishes
the cleanup of one that is not.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Optional, Protocol, Sequence

from framework.exec.errors import TaskError
from framework.master.state import (
    COMMITTED,
    RUNNING,
    TERMINAL,
    Command,
    CommitStarted,
    JobCleaned,
    JobCommitted,
    JobFailed,
    JobState,
    StageDone,
    TaskDone,
    TaskFailed,
    TaskLaunched,
    exhausted_task,
)

log = logging.getLogger(__name__)

Propose = Callable[[Sequence[Command]], Awaitable[None]]

#: how long a failing job waits for its in-flight attempts to stop before cleaning up their output
DRAIN_SECONDS = 30.0
#: how long a task waits to run again after the cluster failed it (a dead node or store takes Ray a moment to
#: notice): doubling from this with each such failure of the task, up to the max
INFRA_BACKOFF_S = 0.1
INFRA_BACKOFF_MAX_S = 2.0


class Backend(Protocol):
    """How task attempts run and where shuffle data lives."""

    def launch(self, job: JobState, task_id: str, attempt: int) -> "asyncio.Future[dict]":
        """Start one attempt; the future gives its TaskDone result or raises TaskError."""

    def cancel(self, futures: Sequence["asyncio.Future[dict]"]) -> None:
        """Best-effort stop of attempts still running."""

    def slots(self) -> int:
        """How many attempts to keep in flight. Launching only what can run keeps a leader change cheap: the
        attempts it abandons are the ones running, not a queue of every task of the stage."""

    async def release(self, job_id: str) -> None:
        """Free the job's shuffle data."""

    # Optional: an `output` attribute with `async commit(job, parts, check) -> paths` and `async abort(job)` takes
    # the place of framework.io's commit_output / abort_output (the simulator models the output directory so).


class Lead(Protocol):
    """The leadership a driver acts under (a replica's; the inline executor has none)."""

    ballot: list

    def check(self) -> None:
        """Raise (NotLeaderError) unless this leadership surely still holds. Safe to call from any thread."""

    @property
    def fence_s(self) -> float:
        """How long after its election a leader waits before it commits a job another leader began to commit:
        by then that one's lease, and so its commit, has surely stopped."""

    def orphans_left_s(self) -> float:
        """How much longer attempts an earlier leader launched may still run (Ray kills them with their owner,
        but not at once): 0 for a job this leadership drove from its submission."""


async def drive(job: JobState, backend: Backend, propose: Propose, lead: Optional[Lead] = None) -> JobState:
    """Run a job to a terminal state (committed, failed or cancelled), clean it up, and return that state. A job
    that ended and is not yet cleaned up is only cleaned up."""
    inflight: dict[asyncio.Future, tuple[str, int]] = {}
    backoff: dict[str, float] = {}  # task -> when it may run again after a failure of the cluster
    stopped: set[asyncio.Future] = set()  # given-up attempts already told to stop
    loop = asyncio.get_running_loop()
    try:
        while job.status == RUNNING:
            exhausted = exhausted_task(job)
            if exhausted is not None:
                await _fail(job, exhausted, propose)
                break
            if job.stage < len(job.plan.stages) and job.stage_complete(job.stage):
                await propose([StageDone(job.job_id, job.stage)])
                continue
            if job.stage >= len(job.plan.stages):
                await _commit(job, propose, getattr(backend, "output", None), lead)
                break
            await _launch(job, backend, propose, inflight, [], backoff)
            if not inflight:
                await asyncio.sleep(0.01)  # nothing to wait on: another actor's proposal must move the state
                continue
            done, _ = await asyncio.wait(list(inflight), return_when=asyncio.FIRST_COMPLETED, timeout=0.5)
            commands: list[Command] = []
            for fut in done:
                task_id, attempt = inflight.pop(fut)
                stopped.discard(fut)
                try:
                    commands.append(TaskDone(job.job_id, task_id, attempt, fut.result()))
                except TaskError as e:
                    log.info("job %s task %s attempt %d failed: %s", job.job_id, task_id, attempt, e)
                    commands.append(TaskFailed(job.job_id, task_id, attempt, str(e), e.details, e.fatal, e.usage,
                                               getattr(e, "infra", False)))
                    if getattr(e, "infra", False):  # give the cluster a moment to notice what died
                        tries = sum(1 for f in job.tasks[task_id].failures if len(f) > 3 and f[3])
                        backoff[task_id] = loop.time() + min(INFRA_BACKOFF_MAX_S, INFRA_BACKOFF_S * 2 ** tries)
            if commands:
                # one replicated round trip, not two: the results, and the launches into the slots they freed
                await _launch(job, backend, propose, inflight, commands, backoff)
            # attempts the state gave up (a store they used died, say) would only hold their slots: stop them
            given_up = [f for f, (t, a) in inflight.items() if a not in job.tasks[t].running and f not in stopped]
            if given_up:
                backend.cancel(given_up)
                stopped.update(given_up)
    finally:
        if inflight:
            backend.cancel(list(inflight))
            if job.status in TERMINAL:  # wait for them, so none writes a part file after the cleanup below
                await asyncio.wait(list(inflight), timeout=DRAIN_SECONDS)
        # Only a job that ended cleans up. A loop that stopped because this replica lost the lead (or was
        # cancelled) leaves output and shuffle data to the next leader, which resumes the job.
        if job.status in TERMINAL and not job.cleaned:
            await _clean(job, backend)
            orphans = lead.orphans_left_s() if lead is not None else 0.0
            if orphans > 0:  # an attempt of an earlier leader may yet write: sweep again once it cannot
                sweep = asyncio.ensure_future(_sweep_later(job, backend, propose, orphans))
                _SWEEPS.add(sweep)
                sweep.add_done_callback(_SWEEPS.discard)
            else:
                await propose([JobCleaned(job.job_id)])
    return job


#: the delayed sweeps in flight (held so none is collected before it ran)
_SWEEPS: set[asyncio.Task] = set()


async def _clean(job: JobState, backend: Backend) -> None:
    """Remove an ended job's temporary output (unless it committed) and free its shuffle data."""
    if job.status != COMMITTED:
        output = getattr(backend, "output", None)
        await (output.abort(job) if output is not None else asyncio.to_thread(_abort, job))
    await backend.release(job.job_id)


async def _sweep_later(job: JobState, backend: Backend, propose: Propose, delay: float) -> None:
    """Clean up again after `delay`, then record JobCleaned. The job has ended and its driver with it (the user's
    `wait` returns); this only catches what an earlier leader's attempt wrote before Ray killed it. A leader that
    stops leading meanwhile leaves it to the next one, which finds the job not cleaned."""
    await asyncio.sleep(delay)
    await _clean(job, backend)
    try:
        await propose([JobCleaned(job.job_id)])
    except Exception:  # noqa: BLE001 - not the leader any more: the next one sweeps
        log.info("job %s: the cleanup is left to the next leader", job.job_id)


async def _launch(job: JobState, backend: Backend, propose: Propose, inflight: dict,
                  commands: list[Command], backoff: dict) -> None:
    """Propose `commands` together with launches of runnable tasks into the free slots, then start those.

    Runnable tasks are neither running nor done, so launching them is valid whatever `commands` (results of
    other tasks) do; a phase the results complete gets its tasks on the next turn of the loop.
    """
    now = asyncio.get_running_loop().time()
    runnable = [t for t in job.runnable() if backoff.get(t, 0) <= now][: max(0, backend.slots() - len(inflight))]
    launches = [TaskLaunched(job.job_id, t, job.tasks[t].launched) for t in runnable]
    if not commands and not launches:
        return
    await propose(commands + launches)
    for cmd in launches:
        if job.tasks[cmd.task_id].launched == cmd.attempt + 1 and cmd.attempt in job.tasks[cmd.task_id].running:
            inflight[backend.launch(job, cmd.task_id, cmd.attempt)] = (cmd.task_id, cmd.attempt)


async def _fail(job: JobState, exhausted: tuple[str, tuple], propose: Propose) -> None:
    task_id, (attempt, error, details, *_) = exhausted
    rec = job.tasks[task_id]
    tries = "" if rec.fatal else f" (after {len(rec.failures)} attempts)"
    await propose([JobFailed(job.job_id, f"{error}{tries}", details, usage=rec.usage)])


async def _commit(job: JobState, propose: Propose, output=None, lead: Optional[Lead] = None) -> None:
    if job.commit is not None and lead is not None and job.commit != lead.ballot:
        await asyncio.sleep(lead.fence_s)  # an earlier leader began this commit: let its lease run out first
    if job.commit is None:
        await propose([CommitStarted(job.job_id, list(lead.ballot) if lead is not None else [])])
        if job.status != RUNNING:
            return  # cancelled (or failed) before the commit began: the caller cleans up
    check = lead.check if lead is not None else None
    out = job.spec["output"]
    final = job.plan.stages[-1]
    parts = {}
    for p, t in enumerate(final.output_ids()):  # reducers, or the maps of a stage that does not shuffle
        path = (job.tasks[t].result or {}).get("part")
        if path:
            parts[p] = path
    if output is not None:
        paths = await output.commit(job, parts, check)
    else:
        from framework.io import commit_output  # here: a replica imports pyarrow only once it commits

        # in a thread: renames on a remote filesystem take long, and the loop also drives Paxos
        paths = await asyncio.to_thread(commit_output, out["path"], job.job_id, parts, out["format"],
                                        out["overwrite"], check)
    await propose([JobCommitted(job.job_id, paths)])


def _abort(job: JobState) -> None:
    from framework.io import abort_output

    out = job.spec["output"]
    try:
        abort_output(out["path"], job.job_id, out.get("created", False))
    except Exception:  # cleanup must not hide the job's own error
        log.exception("cleaning up the output of job %s failed", job.job_id)
