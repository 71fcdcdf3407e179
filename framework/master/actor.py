"""The job master as a Ray actor: the state machine, its command log, and one scheduling loop per job.

Every state change is proposed as a command, appended to the log and applied to `MasterState`; only then does
the loop act on it. Today the log is this actor's own (one master); the Paxos master group replicates exactly
these commands, so a follower that replays them resumes every job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Mapping, Sequence

import ray

from framework.exec.ray_tasks import RayBackend
from framework.master.driver import drive
from framework.master.state import TERMINAL, Command, JobCancelled, JobSubmitted, MasterState

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_concurrency=1000)
class MasterActor:
    """One job master. Async: status calls are answered while jobs run."""

    def __init__(self, stores: Mapping[str, Any]) -> None:
        self.state = MasterState()
        self.log: list[dict] = []  # the command log, JSON-safe (what a WAL or a Paxos group would carry)
        self.backend = RayBackend(stores)
        self.loops: dict[str, asyncio.Task] = {}
        self.times: dict[str, tuple[float, float | None]] = {}

    async def _propose(self, commands: Sequence[Command]) -> None:
        for cmd in commands:
            self.log.append(cmd.to_dict())
            self.state.apply(cmd)

    async def submit(self, job_id: str, spec: dict) -> str:
        """Start a job; submitting the same job id again is a no-op (idempotent retries)."""
        if job_id not in self.state.jobs:
            # the placement of partitions on stores travels with the job, so every task agrees on it
            spec = {**spec, "ring": self.backend.ring.to_dict()}
            await self._propose([JobSubmitted(job_id, spec)])
            self.times[job_id] = (time.time(), None)
            self.loops[job_id] = asyncio.ensure_future(self._run(job_id))
        return job_id

    async def _run(self, job_id: str) -> None:
        job = self.state.jobs[job_id]
        try:
            await drive(job, self.backend, self._propose)
        except Exception as e:  # the loop itself broke (a bug, or the output filesystem failed): fail the job
            log.exception("job %s failed in the master", job_id)
            from framework.master.state import JobFailed

            if job.status not in TERMINAL:
                await self._propose([JobFailed(job_id, f"the master failed: {type(e).__name__}: {e}")])
        finally:
            self.times[job_id] = (self.times[job_id][0], time.time())

    async def status(self, job_id: str | None = None) -> dict | list[dict]:
        if job_id is not None:
            job = self.state.jobs.get(job_id)
            return self._describe(job_id) if job is not None else {}
        return [self._describe(j) for j in self.state.jobs]

    def _describe(self, job_id: str) -> dict:
        job = self.state.jobs[job_id]
        started, ended = self.times.get(job_id, (None, None))
        return {**job.progress(), "outputs": job.outputs, "details": job.details, "usage_error": job.usage_error,
                "finished": job_id in self.loops and self.loops[job_id].done(),
                "wall_s": (ended - started) if started and ended else None}

    async def wait(self, job_id: str, timeout: float | None = None) -> dict:
        """Block until the job's loop has finished (committed, failed or cancelled) or `timeout` passes."""
        loop = self.loops.get(job_id)
        if loop is not None:
            await asyncio.wait([loop], timeout=timeout)
        return self._describe(job_id)

    async def cancel(self, job_id: str, reason: str = "cancelled by the user") -> dict:
        if job_id in self.state.jobs:
            await self._propose([JobCancelled(job_id, reason)])
        return await self.wait(job_id, timeout=60)

    async def commands(self, start: int = 0) -> list[dict]:
        return self.log[start:]

    def ping(self) -> str:
        return "ok"
