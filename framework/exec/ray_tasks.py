"""Map and reduce attempts as Ray tasks, and the backend the master uses to launch them.

A task gets the job spec, its JSON-safe args and the store actor handles; it fetches its input from the stores
(or reads its split), runs the pure task body, and puts its output into the stores before returning, so a
`TaskDone` always means the data is held by a store: by each of the partition's `replicas` stores on the job's
ring, less the stores known dead when the attempt launched. Ray's own retries are off: the master counts
attempts.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Mapping, Sequence

import ray
from ray.exceptions import RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from framework.names import NAMESPACE
from framework.exec.args import task_args
from framework.exec.errors import InfraError, TaskError
from framework.master.state import JobState
from framework.plan import is_reduce
from framework.shuffle.ring import placements


class ShuffleDataLost(InfraError):
    """No live store holds pieces a task needs (the master re-creates them once it hears of the store's death)."""


#: how long a task waits for a dead store to be started again under its name (the master restarts a durable
#: store on its node in about a second) before its attempt fails and is run again
STORE_WAIT_S = 10.0


@ray.remote(max_retries=0)
def run_task(spec: Mapping, args: Mapping, stores: Mapping[str, Any]) -> dict:
    """One map or reduce attempt on a Ray worker; `stores` maps the job's store names to actor handles."""
    from framework.exec.attempt import run_attempt  # here: the master, which imports this module, needs no pyarrow
    from framework.shuffle.store import Piece

    rings, num_partitions, dead_now = args["rings"], args["num_partitions"], set(args["dead_now"])
    stores = dict(stores)
    job_id = args["job_id"]

    def fetch(dataset: str, partition: int, partitions: int, sources: Sequence[Mapping]) -> list:
        listed = []
        for source in sources:  # one per placement the committed attempts were launched with
            listed += _fetch_listing(stores, job_id, dataset, partition, source["committed"], source.get("wrote", ()),
                                     placements(rings[source["ring"]], source["dead"], [partition], partitions)[0],
                                     dead_now)
        try:
            tables = ray.get([refs[0] for _, refs, _, _, _ in listed])
        except RayError as e:  # the store owning them died after listing them: this attempt runs again
            raise ShuffleDataLost(f"a shuffle store died while partition {partition} of {dataset} was read "
                                  f"({type(e).__name__})") from None
        return [Piece(name, t, rows, nbytes) for (name, _, rows, nbytes, _), t in zip(listed, tables)]

    def put(dataset: str, task: str, attempt: int, pieces: Sequence[tuple[int, Piece]]) -> None:
        by_store: dict[str, list] = {}
        rows = placements(rings[args["ring_at_launch"]], args["dead_at_launch"], [p for p, _ in pieces],
                          num_partitions)
        for names, (partition, piece) in zip(rows, pieces):
            for name in names:  # every replica of the partition
                by_store.setdefault(name, []).append((partition, piece.input, piece.value))
        refs = {n: stores[n].put.remote(job_id, dataset, task, attempt, batch) for n, batch in by_store.items()}
        failed = []
        for name, ref in refs.items():
            try:
                ray.get(ref)
            except RayTaskError as e:  # the store lives but could not take it: no successor is coming
                raise ShuffleDataLost(f"shuffle store {name} could not take this task's output: {_cause(e)}") from None
            except RayError:  # the store died
                failed.append(name)
        for name in failed:
            held = {p for n in refs if n not in failed for p, _, _ in by_store[n]}
            if all(p in held for p, _, _ in by_store[name]):
                missed.append(name)  # every partition has another live copy: go on, and tell the master
                continue
            # the only copy: send the batch again to the store's successor (puts are idempotent)
            _call_store(stores, name, "put", job_id, dataset, task, attempt, by_store[name])

    missed: list[str] = []  # stores of this attempt's placement that did not take its pieces
    result = run_attempt(spec, args, fetch, put)
    result["node"] = ray.get_runtime_context().get_node_id()  # where it ran: for status and placement
    result["pid"] = os.getpid()  # which worker ran it: a service's workers live on across jobs
    if missed:
        result["missed"] = sorted(missed)
    return result


#: what a map or reduce task imports (the master, which imports this module, imports none of it)
TASK_MODULES = ("pyarrow.compute", "pyarrow.parquet", "pandas", "polars", "framework.exec.attempt", "framework.io",
                "framework.shuffle.partition", "framework.text")


@ray.remote(max_retries=0)
def warm_worker(hold_s: float = 0.3) -> int:
    """The imports of a task, and a short wait so that tasks sent together land on distinct workers; the
    worker's process id."""
    import importlib

    for module in TASK_MODULES:  # pandas: pyarrow's group_by imports it on first use
        importlib.import_module(module)
    from framework.text import _word_codepoints

    _word_codepoints()  # the tokenizer's Unicode table (read from the cache folder once it was computed)
    time.sleep(hold_s)
    return os.getpid()


def _call_store(stores: dict[str, Any], name: str, method: str, *call_args: Any) -> Any:
    """Call `method` on the store `name` whose handle in `stores` just failed: wait (up to STORE_WAIT_S) for an
    actor under that name other than the dead one, which the master starts when it restarts a durable store,
    and call that. Raises ShuffleDataLost when none comes."""
    dead = stores[name]._actor_id
    deadline = time.monotonic() + STORE_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            handle = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:  # not started again (yet)
            continue
        if handle._actor_id == dead:
            continue
        stores[name] = handle
        try:
            return ray.get(getattr(handle, method).remote(*call_args))
        except RayTaskError as e:  # it runs, but failed: waiting longer will not help
            raise ShuffleDataLost(f"shuffle store {name} failed: {_cause(e)}") from None
        except RayError:  # died again
            dead = handle._actor_id
    raise ShuffleDataLost(f"shuffle store {name} died and was not started again within {STORE_WAIT_S:.0f} s; "
                          f"the master re-places its share")


def _cause(e: RayTaskError) -> str:
    """What a store raised, in one line."""
    cause = getattr(e, "cause", None) or e
    return f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"


def _fetch_listing(stores: dict[str, Any], job_id: str, dataset: str, partition: int, committed: Mapping[str, int],
                   wrote: Sequence[str], replicas: Sequence[str], dead: set) -> list:
    """The listing of one partition's committed pieces from the first of its replica stores that answers with a
    piece from every task in `wrote` (or, when none does, from the first one's successor once the master has
    started it again). A partition is never read short: ShuffleDataLost fails the attempt, which runs again."""
    if not committed:
        return []
    tried = []

    def whole(listing: list, name: str) -> bool:
        missing = set(wrote) - {entry[4] for entry in listing}
        if missing:
            tried.append(f"{name} (lacks task(s) {', '.join(sorted(missing))})")
        return not missing

    died = []
    for name in [name for name in replicas if name not in dead and name in stores]:
        try:
            listing = ray.get(stores[name].get.remote(job_id, dataset, partition, dict(committed)))
        except RayTaskError as e:  # it lives but failed to answer (an unreadable file, say): try the next replica
            tried.append(f"{name} ({_cause(e)})")
            continue
        except RayError as e:  # died since the attempt launched: try the next replica
            tried.append(f"{name} ({type(e).__name__})")
            died.append(name)
            continue
        if whole(listing, name):
            return listing
    if not wrote:  # none of these tasks put a piece of this partition anywhere: nothing is lost with its stores
        return []
    if died:
        try:
            listing = _call_store(stores, died[0], "get", job_id, dataset, partition, dict(committed))
            if whole(listing, died[0]):
                return listing
        except ShuffleDataLost:
            pass
    raise ShuffleDataLost(f"no live shuffle store holds all of partition {partition} of {dataset} "
                          f"(its stores: {', '.join(replicas)}; tried: {', '.join(tried) or 'none alive'})")


class RayBackend:
    """Launches attempts as Ray tasks from inside the (async) master actor.

    It runs on the replica's event loop, which also drives Paxos: every call that waits on the GCS (an actor
    look-up, the cluster's CPUs) goes to a thread, so a loaded GCS never delays a heartbeat."""

    def __init__(self) -> None:
        self._refs: dict[asyncio.Future, ray.ObjectRef] = {}
        self._spec_refs: dict[str, ray.ObjectRef] = {}
        self._stores: dict[str, dict[str, Any]] = {}  # job -> {store name: handle}
        self._missing: dict[str, set] = {}  # job -> store names that were not there when looked up
        self._nodes: dict[str, Any] = {}  # store actor id -> ref of its stats (which name its node)
        self._slots, self._slots_at = 2, -1e9
        self._slots_refresh: asyncio.Task | None = None

    async def stores_of(self, job: JobState) -> dict[str, Any]:
        """{name: handle} of the stores on the job's rings, each looked up by name once per job (a store that died
        and was started again by a later client is a new actor under the old name)."""
        handles = self._stores.setdefault(job.job_id, {})
        missing = self._missing.setdefault(job.job_id, set())
        names = sorted(job.all_stores() - set(handles) - missing)  # new names after a RingChanged too
        if names:
            found = await asyncio.to_thread(_lookup_stores, names)
            for name in names:
                handle = found.get(name)
                if handle is None:
                    missing.add(name)  # gone: the master's store watch reports it lost
                    continue
                handles.setdefault(name, handle)
                if handle._actor_id.hex() not in self._nodes:  # ask now; read when a reducer is placed
                    self._nodes[handle._actor_id.hex()] = handle.stats.remote()
        return handles

    async def store_stats(self, handle: Any) -> dict | None:
        """The stats a store gave when first looked up (its node, budget, whether durable); None if unknown."""
        ref = self._nodes.get(handle._actor_id.hex())
        if ref is None:
            return None
        try:
            return await ref
        except RayError:
            return None

    def replace_store(self, name: str, handle: Any) -> None:
        """A store started again under `name`: the attempts launched from now on talk to `handle`."""
        for handles in self._stores.values():
            if name in handles:
                handles[name] = handle
        for missing in self._missing.values():
            missing.discard(name)
        self._nodes[handle._actor_id.hex()] = handle.stats.remote()

    def launch(self, job: JobState, task_id: str, attempt: int) -> "asyncio.Future[dict]":
        fut = asyncio.ensure_future(self._run(job, task_id, attempt))
        fut.add_done_callback(self._forget)
        return fut

    async def _run(self, job: JobState, task_id: str, attempt: int) -> dict:
        spec_ref = self._spec_refs.get(job.job_id)
        if spec_ref is None:  # the job's source travels once per job, not once per task
            spec_ref = self._spec_refs[job.job_id] = ray.put(job.spec["job"])
        args = task_args(job, task_id, attempt)
        options: dict[str, Any] = {"name": f"{job.job_id}:{task_id}:{attempt}"}
        handles = await self.stores_of(job)
        node = self._reduce_node(handles, args) if is_reduce(task_id) else None
        if node is not None:  # soft: the reducer's input is local there, but any free CPU beats waiting
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
        live = {n: h for n, h in handles.items() if n not in job.dead_stores}  # a dead one's handle
        ref = run_task.options(**options).remote(spec_ref, args, live)  # may not even deserialize any more
        self._refs[asyncio.current_task()] = ref  # for cancel(); _forget drops it when the attempt ends
        return await _result(ref)

    def _reduce_node(self, handles: Mapping[str, Any], args: Mapping) -> str | None:
        """The node of the store a reducer reads (most of) its partition from, where one is known."""
        for source in args["sources"]:
            for name in placements(args["rings"][source["ring"]], source["dead"], [args["partition"]],
                                   args["num_partitions"])[0]:
                handle = handles.get(name)
                if handle is None or name in args["dead_now"]:
                    continue
                ref = self._nodes.get(handle._actor_id.hex())
                if ref is None or not ray.wait([ref], timeout=0)[0]:
                    continue  # not known yet: never block the master's loop for it
                try:
                    return ray.get(ref, timeout=0)["node"]
                except RayError:
                    continue
        return None

    def _forget(self, fut: asyncio.Future) -> None:
        self._refs.pop(fut, None)
        if not fut.cancelled():
            fut.exception()  # retrieved: an attempt abandoned by a loop that stopped is not an unhandled error

    def slots(self) -> int:
        """The cluster's CPUs (re-read in a thread every few seconds, so added nodes get work): one attempt per CPU.

        Not more: a task waiting on a store call gives its CPU back to Ray, which then starts a new worker process
        (~1.3 s of CPU here) for any queued attempt. Measured on a service, 128 MiB word count: one attempt per
        CPU 3.10-3.31 s on 2 workers, two per CPU 3.15-3.56 s on 3-4 workers."""
        now = time.monotonic()
        if now - self._slots_at > 5 and (self._slots_refresh is None or self._slots_refresh.done()):
            self._slots_at = now
            self._slots_refresh = asyncio.ensure_future(self._refresh_slots())
        return self._slots

    async def _refresh_slots(self) -> None:
        try:
            cpus = await asyncio.to_thread(lambda: ray.cluster_resources().get("CPU", 1))
            self._slots = max(1, int(cpus))
        except Exception:  # noqa: BLE001 - keep the last count
            pass

    def cancel(self, futures: Sequence[asyncio.Future]) -> None:
        for fut in futures:
            ref = self._refs.get(fut)
            if ref is not None:
                ray.cancel(ref, force=False)
            elif not fut.done():
                fut.cancel()  # not submitted yet

    async def release(self, job_id: str) -> None:
        self._spec_refs.pop(job_id, None)
        self._missing.pop(job_id, None)
        for handle in self._stores.pop(job_id, {}).values():
            try:
                await handle.drop_job.remote(job_id)
            except RayError:
                pass  # a store that died holds nothing of this job any more


def _lookup_stores(names: Sequence[str]) -> dict[str, Any]:
    """{name: handle} of the named stores that run (blocking GCS calls: run it in a thread)."""
    found = {}
    for name in names:
        try:
            found[name] = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            pass
    return found


async def _result(ref: ray.ObjectRef) -> dict:
    """The attempt's result; every failure becomes a TaskError (the user's, or the worker's death)."""
    try:
        return await ref
    except RayTaskError as e:
        cause = e.cause if isinstance(getattr(e, "cause", None), BaseException) else None
        if isinstance(cause, TaskError):
            raise cause from None
        # Ray could not run the task (e.g. an argument would not deserialize): the cluster's failure
        raise TaskError(f"{type(cause or e).__name__}: {cause or e}", str(e), infra=True) from None
    except asyncio.CancelledError:
        raise
    except RayError as e:  # the worker died, the task was cancelled, an object was lost: retry
        raise TaskError(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", str(e),
                        infra=True) from None
