"""The replica's job room (leader only): one scheduling loop (`framework.master.driver.drive`) per running job.

The leader starts a driver for every running job when it takes the lead and for each job submitted while it
leads (and one for each ended job whose cleanup no leader finished); when it stops leading it cancels them all,
and the next leader resumes each job from the replicated state. The drivers act under a `ReplicaLead`: the
ballot this replica leads at, and a check, safe from any thread, that it still surely leads.
A driver that breaks (the output filesystem failed, a bug) fails its job through the log rather than leaving it
hanging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from framework.master.consensus import TICK_SECONDS, ConsensusNode, NotLeaderError, group_config
from framework.master.driver import drive
from framework.master.state import RUNNING, TERMINAL, Command, JobCancelled, JobFailed, JobState, JobSubmitted
from framework.shuffle.ring import HashRing

log = logging.getLogger(__name__)

#: how soon a driver that stopped on a failed lease check, though its replica still leads, starts again
RESTART_S = 0.1
#: how long after a take-over attempts the old leader launched may still run: Ray kills a dead owner's tasks once
#: it learns of the death (about a second here); an ended job's cleanup sweeps again after this
ORPHAN_GRACE_S = 5.0


class ReplicaLead:
    """One leadership of a replica (`framework.master.driver.Lead`): its ballot, and whether it still holds."""

    def __init__(self, node: ConsensusNode, inherited: bool = False) -> None:
        """`inherited`: the job ran under an earlier leader (this replica took it over)."""
        self.node = node
        self.ballot = list(node.core.ballot())
        #: twice the lease: a deposed leader's commit thread stops when its lease runs out (`check`)
        self.fence_s = 2 * group_config(node.ids).lease_ticks * TICK_SECONDS
        self.orphans_until = asyncio.get_running_loop().time() + ORPHAN_GRACE_S if inherited else 0.0

    def orphans_left_s(self) -> float:
        return max(0.0, self.orphans_until - asyncio.get_running_loop().time()) if self.orphans_until else 0.0

    def check(self) -> None:
        if not self.node.holds_lease() or list(self.node.core.ballot()) != self.ballot:
            raise NotLeaderError(None)


class JobDrivers:
    """The running jobs' drivers on this replica, and when each job was submitted and ended (as this replica saw
    it applied)."""

    def __init__(self, node: ConsensusNode, backend: Any, before_drive: Callable[[JobState], Awaitable[None]]):
        self.node, self.backend, self.before_drive = node, backend, before_drive
        self.tasks: dict[str, asyncio.Task] = {}
        self.times: dict[str, list] = {}

    def applied(self, cmd: Command) -> None:
        """Note when a job was submitted and when it ended."""
        if isinstance(cmd, JobSubmitted):
            self.times.setdefault(cmd.job_id, [time.time(), None])
        job = self.node.state.jobs.get(cmd.job_id)
        if job is not None and job.status in TERMINAL and self.times.get(cmd.job_id, [0, 0])[1] is None:
            self.times.setdefault(cmd.job_id, [time.time(), None])[1] = time.time()

    def start(self, job_id: str, inherited: bool = False) -> None:
        """Drive the job (or finish its cleanup, if it ended), unless a driver of it runs here already.
        `inherited`: it ran under an earlier leader."""
        job = self.node.state.jobs[job_id]
        if self.node.leading and (job.status == RUNNING or not job.cleaned) and job_id not in self.tasks:
            self.tasks[job_id] = asyncio.ensure_future(self._run(job_id, ReplicaLead(self.node, inherited)))

    async def submit(self, job_id: str, spec: dict, ring_stores: list[str]) -> dict:
        """Start a job (idempotent by job id): {"ok": True}, or {"leader": hint} when not the leader. A spec
        without a ring of its own gets `ring_stores`, the group's stores as they are now."""
        if job_id not in self.node.state.jobs:
            if not self.node.is_leader():
                return {"leader": self.node.leader_hint()}
            spec = {**spec, "ring": spec.get("ring") or HashRing(ring_stores).to_dict()}
            try:
                await self.node.propose([JobSubmitted(job_id, spec)])
            except NotLeaderError as e:
                return {"leader": e.hint}
        self.start(job_id)
        return {"ok": True}

    async def cancel(self, job_id: str, reason: str, timeout: float = 60) -> dict | None:
        """Cancel a running job and wait (up to `timeout`) for its driver to end: None once it did (or had
        ended before), {"error": ...} for an unknown job, {"leader": hint} when not the leader. A job whose
        commit began ends committed: the cancel is too late."""
        job = self.node.state.jobs.get(job_id)
        if job is None:
            return {"error": f"no job {job_id}"}
        if job.status in TERMINAL:
            return None
        if not self.node.is_leader():
            return {"leader": self.node.leader_hint()}
        try:
            await self.node.propose([JobCancelled(job_id, reason)])
        except NotLeaderError as e:
            return {"leader": e.hint}
        await self.wait_ended(job_id, timeout)
        return None

    def start_all(self) -> None:
        """On taking the lead: drive every job an earlier leader left running or not cleaned up."""
        for job_id in list(self.node.state.jobs):
            self.start(job_id, inherited=True)

    def stop_all(self) -> None:
        """This replica stopped leading: the next leader resumes these jobs; this one must stop acting."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()

    def running(self) -> list[str]:
        return sorted(self.tasks)

    async def wait_ended(self, job_id: str, timeout: float) -> None:
        driver = self.tasks.get(job_id)
        if driver is not None:
            await asyncio.wait([driver], timeout=timeout)

    async def _run(self, job_id: str, lead: ReplicaLead) -> None:
        job = self.node.state.jobs[job_id]
        try:
            if job.status == RUNNING:
                await self.before_drive(job)
            await drive(job, self.backend, self.node.propose, lead)
        except asyncio.CancelledError:
            return
        except NotLeaderError:
            if self.node.leading and list(self.node.core.ballot()) == lead.ballot:
                # the lease check failed (this loop stalled past it) though the lead held: drive the job again
                asyncio.get_running_loop().call_later(RESTART_S, self.start, job_id, lead.orphans_until > 0)
            return
        except Exception as e:  # the loop itself broke (the output filesystem failed, a bug): fail the job
            log.exception("job %s failed in the master", job_id)
            try:
                if job.status not in TERMINAL:
                    await self.node.propose([JobFailed(job_id, f"the master failed: {type(e).__name__}: {e}")])
                await drive(job, self.backend, self.node.propose, lead)  # a terminal job only cleans up
            except NotLeaderError:
                return
        finally:
            if self.tasks.get(job_id) is asyncio.current_task():
                del self.tasks[job_id]
