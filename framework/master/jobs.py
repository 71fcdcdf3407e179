"""The replica's job room (leader only): one scheduling loop (`framework.master.driver.drive`) per running job.

The leader starts a driver for every running job when it takes the lead and for each job submitted while it
leads; when it stops leading it cancels them all, and the next leader resumes each job from the replicated state.
A driver that breaks (the output filesystem failed, a bug) fails its job through the log rather than leaving it
hanging.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

from framework.master.consensus import ConsensusNode, NotLeaderError
from framework.master.driver import drive
from framework.master.state import RUNNING, TERMINAL, Command, JobFailed, JobState, JobSubmitted

log = logging.getLogger(__name__)


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

    def start(self, job_id: str) -> None:
        job = self.node.state.jobs[job_id]
        if self.node.leading and job.status == RUNNING and job_id not in self.tasks:
            self.tasks[job_id] = asyncio.ensure_future(self._run(job_id))

    def start_all(self) -> None:
        for job_id in list(self.node.state.jobs):
            self.start(job_id)

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

    async def _run(self, job_id: str) -> None:
        job = self.node.state.jobs[job_id]
        try:
            await self.before_drive(job)
            await drive(job, self.backend, self.node.propose)
        except (NotLeaderError, asyncio.CancelledError):
            return
        except Exception as e:  # the loop itself broke (the output filesystem failed, a bug): fail the job
            log.exception("job %s failed in the master", job_id)
            try:
                if job.status not in TERMINAL:
                    await self.node.propose([JobFailed(job_id, f"the master failed: {type(e).__name__}: {e}")])
                await drive(job, self.backend, self.node.propose)  # a terminal job only cleans up
            except NotLeaderError:
                return
        finally:
            if self.tasks.get(job_id) is asyncio.current_task():
                del self.tasks[job_id]
