"""Map and reduce attempts as Ray tasks, and the backend the master uses to launch them.

A task gets the job spec, its JSON-safe args and the store actor handles; it fetches its input from the stores
(or reads its split), runs the pure task body, and puts its output into the stores before returning, so a
`TaskDone` always means the data is held by a store. Ray's own retries are off: the master counts attempts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Mapping, Sequence

import ray
from ray.exceptions import RayError, RayTaskError

from framework.exec.attempt import run_attempt, task_args
from framework.exec.tasks import TaskError
from framework.master.state import JobState
from framework.shuffle.ring import HashRing
from framework.shuffle.store import Piece, owners


@ray.remote(max_retries=0)
def run_task(spec: Mapping, args: Mapping, stores: Mapping[str, Any]) -> dict:
    """One map or reduce attempt on a Ray worker; `stores` maps store names to actor handles."""
    ring, num_partitions = args["ring"], args["num_partitions"]

    def fetch(dataset: str, partition: int, partitions: int, committed: Mapping[str, int]) -> list[Piece]:
        store = stores[owners(ring, [partition], partitions)[0]]
        listed = ray.get(store.get.remote(args["job_id"], dataset, partition, dict(committed)))
        tables = ray.get([refs[0] for _, refs, _, _ in listed])
        return [Piece(name, t, rows, nbytes) for (name, _, rows, nbytes), t in zip(listed, tables)]

    def put(dataset: str, task: str, attempt: int, pieces: Sequence[tuple[int, Piece]]) -> None:
        by_store: dict[str, list] = {}
        names = owners(ring, [p for p, _ in pieces], num_partitions)
        for name, (partition, piece) in zip(names, pieces):
            by_store.setdefault(name, []).append((partition, piece.input, piece.value))
        ray.get([stores[n].put.remote(args["job_id"], dataset, task, attempt, batch) for n, batch in by_store.items()])

    result = run_attempt(spec, args, fetch, put)
    result["node"] = ray.get_runtime_context().get_node_id()  # where it ran: for status and placement
    return result


class RayBackend:
    """Launches attempts as Ray tasks from inside the (async) master actor."""

    def __init__(self, stores: Mapping[str, Any]) -> None:
        self.stores = dict(stores)
        self.ring = HashRing(sorted(self.stores))
        self._refs: dict[asyncio.Future, ray.ObjectRef] = {}
        self._spec_refs: dict[str, ray.ObjectRef] = {}
        self._slots, self._slots_at = 2, -1e9

    def launch(self, job: JobState, task_id: str, attempt: int) -> "asyncio.Future[dict]":
        spec_ref = self._spec_refs.get(job.job_id)
        if spec_ref is None:  # the job's source travels once per job, not once per task
            spec_ref = self._spec_refs[job.job_id] = ray.put(job.spec["job"])
        ref = run_task.options(name=f"{job.job_id}:{task_id}:{attempt}").remote(
            spec_ref, task_args(job, task_id, attempt), self.stores
        )
        fut = asyncio.ensure_future(_result(ref))
        self._refs[fut] = ref
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: asyncio.Future) -> None:
        self._refs.pop(fut, None)
        if not fut.cancelled():
            fut.exception()  # retrieved: an attempt abandoned by a loop that stopped is not an unhandled error

    def slots(self) -> int:
        """Twice the cluster's CPUs (re-read every few seconds, so added nodes get work): one attempt running and
        one ready to start on each CPU."""
        now = time.monotonic()
        if now - self._slots_at > 5:
            self._slots_at = now
            self._slots = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        return self._slots

    def cancel(self, futures: Sequence[asyncio.Future]) -> None:
        for fut in futures:
            ref = self._refs.get(fut)
            if ref is not None:
                ray.cancel(ref, force=False)

    async def release(self, job_id: str) -> None:
        self._spec_refs.pop(job_id, None)
        try:
            await asyncio.gather(*[s.drop_job.remote(job_id) for s in self.stores.values()])
        except RayError:
            pass  # a store that died holds nothing of this job any more


async def _result(ref: ray.ObjectRef) -> dict:
    """The attempt's result; every failure becomes a TaskError (the user's, or the worker's death)."""
    try:
        return await ref
    except RayTaskError as e:
        cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else None
        if isinstance(cause, TaskError):
            raise cause from None
        raise TaskError(f"{type(cause or e).__name__}: {cause or e}", str(e)) from None
    except asyncio.CancelledError:
        raise
    except RayError as e:  # the worker died, the task was cancelled, an object was lost: retry
        raise TaskError(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", str(e)) from None
