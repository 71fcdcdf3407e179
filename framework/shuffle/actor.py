"""The shuffle store as a Ray actor: a thin shell around `ShuffleStore`.

Map tasks hand their partitioned tables to the store, which `ray.put`s them itself, so the store owns the objects:
they outlive the map worker that made them (Ray frees an object when its owner dies). Reducers get ObjectRefs
back and fetch the data straight from the object store (measured here ~5x cheaper than returning tables by value).

Past its memory budget the store spills the oldest pieces to Arrow IPC files under its spill directory (on its
own node) and frees their objects; a reducer asking for a spilled piece gets a fresh object mapped from the file,
which Ray frees once the reducer is done with it.
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


@ray.remote(num_cpus=0, max_concurrency=8, concurrency_groups={"watch": 4})
class StoreActor:
    """One shuffle store. Methods are called concurrently from many tasks; ShuffleStore is thread-safe."""

    def __init__(self, name: str, budget: int | None = None, compression: str | None = None) -> None:
        self.name = name
        self.node = ray.get_runtime_context().get_node_id()
        spill_dir = os.path.join(spill_root(), name)
        shutil.rmtree(spill_dir, ignore_errors=True)  # an earlier incarnation's files: their pieces are gone
        self.store = ShuffleStore(budget, spill_dir, to_table=ray.get, from_table=ray.put, compression=compression)

    def put(self, job: str, dataset: str, task: str, attempt: int,
            pieces: Sequence[tuple[int, str, pa.Table]]) -> int:
        """Keep one attempt's pieces [(partition, input name, table)]; returns the bytes added."""
        owned = [(p, Piece(name, ray.put(t), t.num_rows, t.nbytes)) for p, name, t in pieces]
        return self.store.put(job, dataset, task, attempt, owned)

    def get(self, job: str, dataset: str, partition: int, committed: Mapping[str, int]) -> list:
        """[(input name, [ObjectRef], rows, nbytes)] of one partition; the ref is wrapped so Ray does not resolve it."""
        return [(p.input, [p.value], p.rows, p.nbytes) for p in self.store.get(job, dataset, partition, committed)]

    def holds(self, job: str, dataset: str, partition: int, committed: Mapping[str, int]) -> list[str]:
        return self.store.holds(job, dataset, partition, committed)

    def drop_job(self, job: str) -> int:
        return self.store.drop_job(job)

    def configure(self, budget: int | None) -> None:
        """Set the memory budget (bytes; None: unlimited)."""
        self.store.configure(budget)

    def stats(self) -> dict:
        return {"name": self.name, "node": self.node, **self.store.stats()}

    def ping(self) -> str:
        return self.name

    @ray.method(concurrency_group="watch")
    def hold(self, seconds: float) -> str:
        """Return this store's name after `seconds`: the master parks a call here to learn at once of its death.
        (In its own threads, so parked calls never hold up puts and gets.)"""
        time.sleep(seconds)
        return self.name
