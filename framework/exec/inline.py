"""The inline executor: the whole job in this process, one task at a time. For debugging and fast tests.

It runs the very same scheduling loop, state machine and task bodies as the Ray executor; only the backend
differs (tasks run on the spot, shuffle data sits in an in-process ShuffleStore). A failing map or reduce
re-raises the user's own exception, with their traceback, instead of retrying.
"""

from __future__ import annotations

import asyncio
from typing import Mapping, Sequence

from framework.exec.args import task_args
from framework.exec.attempt import run_attempt
from framework.exec.errors import TaskError
from framework.master.driver import drive
from framework.master.state import Command, JobState, JobSubmitted, MasterState
from framework.shuffle.store import Piece, ShuffleStore


class InlineBackend:
    """Runs each attempt synchronously when launched; keeps shuffle data in memory."""

    def __init__(self) -> None:
        self.store = ShuffleStore()
        self.first_error: TaskError | None = None

    def launch(self, job: JobState, task_id: str, attempt: int) -> "asyncio.Future[dict]":
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        job_id = job.job_id

        def fetch(dataset: str, partition: int, partitions: int, sources: Sequence[Mapping]) -> Sequence[Piece]:
            committed = {t: a for source in sources for t, a in source["committed"].items()}
            return self.store.get(job_id, dataset, partition, committed)

        def put(dataset: str, task: str, attempt_: int, pieces) -> None:
            self.store.put(job_id, dataset, task, attempt_, pieces)

        try:
            fut.set_result(run_attempt(job.spec["job"], task_args(job, task_id, attempt), fetch, put))
        except TaskError as e:
            self.first_error = self.first_error or e
            fut.set_exception(e)
        return fut

    def cancel(self, futures) -> None:
        pass  # attempts finish before launch returns

    def slots(self) -> int:
        return 1 << 30  # attempts run when launched: no queue builds up

    async def release(self, job_id: str) -> None:
        self.store.drop_job(job_id)


def run_inline(job_id: str, spec: dict) -> tuple[JobState, TaskError | None]:
    """Run a submitted job spec in this process; returns its final state and the first task error, if any."""
    state = MasterState()
    log: list[Command] = []

    async def propose(commands: Sequence[Command]) -> None:
        for cmd in commands:
            log.append(cmd)
            state.apply(cmd)

    async def main() -> JobState:
        await propose([JobSubmitted(job_id, spec)])
        return await drive(state.jobs[job_id], backend, propose)

    backend = InlineBackend()
    return asyncio.run(main()), backend.first_error
