"""The shuffle store as a Ray actor: a thin shell around `ShuffleStore`.

Map tasks hand their partitioned tables to the store, which `ray.put`s them itself, so the store owns the objects:
they outlive the map worker that made them (Ray frees an object when its owner dies). Reducers get ObjectRefs
back and fetch the data straight from the object store (measured here ~5x cheaper than returning tables by value).

Past its memory budget the store spills the oldest pieces to Arrow IPC files under its spill directory (on its
own node) and frees their objects; a reducer asking for a spilled piece gets a fresh object mapped from the file,
which Ray frees once the reducer is done with it.

Stores are durable by default: every piece is written to its file as it arrives (`paxflow run --volatile-stores`
turns this off), so when a store's process dies while its node lives, the master starts it again there with
`recover=True` and it serves everything it held, read back from disk: no map task runs again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Mapping, Sequence

import pyarrow as pa
import ray

from framework.shuffle.store import Piece, ShuffleStore


def spill_root() -> str:
    """Where stores spill: `$PAXFLOW_SPILL_DIR`, else `paxflow-spill` in the system's temporary folder."""
    return os.environ.get("PAXFLOW_SPILL_DIR") or os.path.join(tempfile.gettempdir(), "paxflow-spill")


def store_dir(name: str, scope: str = "") -> str:
    """The folder of store `name`'s files: `scope` is a service's (framework.names.store_scope), so its pieces
    wait there for the service to come back, whatever other Ray runs meanwhile."""
    return os.path.join(spill_root(), scope, name) if scope else os.path.join(spill_root(), name)


@ray.remote(num_cpus=0, max_concurrency=8, concurrency_groups={"watch": 4})
class StoreActor:
    """One shuffle store. Methods are called concurrently from many tasks; ShuffleStore is thread-safe."""

    def __init__(self, name: str, budget: int | None = None, compression: str | None = None,
                 recover: bool = False, durable: bool = True, scope: str = "") -> None:
        self.name = name
        self.scope = scope
        self.node = ray.get_runtime_context().get_node_id()
        self.spill_dir = spill_dir = store_dir(name, scope)
        if not (recover and durable):
            shutil.rmtree(spill_dir, ignore_errors=True)  # an earlier incarnation's files: not wanted
        self.store = ShuffleStore(budget, spill_dir, to_table=ray.get, from_table=ray.put, compression=compression,
                                  durable=durable)
        self.recovered = self.store.recover() if recover and durable else 0

    def put(self, job: str, dataset: str, task: str, attempt: int,
            pieces: Sequence[tuple[int, str, pa.Table]]) -> int:
        """Keep one attempt's pieces [(partition, input name, table)]; returns the bytes added (once a durable
        store has them on disk)."""
        owned = [(p, Piece(name, ray.put(t), t.num_rows, t.nbytes)) for p, name, t in pieces]
        return self.store.put(job, dataset, task, attempt, owned, tables=[t for _, _, t in pieces])

    def inventory(self) -> list:
        """[job, dataset, partition, task, attempt] of every attempt's pieces held (after a recovery: what was on
        disk)."""
        return [list(entry) for entry in self.store.inventory()]

    def get(self, job: str, dataset: str, partition: int, committed: Mapping[str, int]) -> list:
        """[(input name, [ObjectRef], rows, nbytes, task)] of one partition; the ref is wrapped so Ray does not
        resolve it."""
        return [(p.input, [p.value], p.rows, p.nbytes, task)
                for task, p in self.store.get_by_task(job, dataset, partition, committed)]

    def drop_job(self, job: str) -> int:
        return self.store.drop_job(job)

    def configure(self, budget: int | None, durable: bool | None = None) -> None:
        """Set the memory budget (bytes; None: unlimited) and whether pieces put from now on go to disk at once."""
        self.store.configure(budget)
        if durable is not None:
            self.store.durable = durable

    def stats(self) -> dict:
        return {"name": self.name, "node": self.node, "durable": self.store.durable, "recovered": self.recovered,
                "scope": self.scope,
                **self.store.stats()}

    def destroy(self) -> None:
        """Drop every job's pieces and remove this store's folder (before it is stopped for good)."""
        for job in {entry[0] for entry in self.store.inventory()}:
            self.store.drop_job(job)
        shutil.rmtree(self.spill_dir, ignore_errors=True)

    def ping(self) -> str:
        return self.name

    @ray.method(concurrency_group="watch")
    def hold(self, seconds: float) -> str:
        """Return this store's name after `seconds`: the master parks a call here to learn at once of its death.
        (In its own threads, so parked calls never hold up puts and gets.)"""
        time.sleep(seconds)
        return self.name
