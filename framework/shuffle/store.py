"""The shuffle store's bookkeeping: pieces of partitions, kept per attempt, visible only once committed.

Pure (no Ray): the store actor (framework/shuffle/actor.py) and the inline executor both use it. A piece is
one map task attempt's rows for one partition of one dataset (`"s0"` is stage 0's shuffle, `"s0.out"` stage 0's
reduce output that the next stage reads). Readers name the attempts that committed (from the master's state),
so a retried or fenced attempt's pieces are never read twice.

Values are opaque (Arrow tables inline; ObjectRefs owned by the store actor on Ray); sizes are passed in.
Which store holds a partition is the job's consistent-hash ring's answer (`owners`).
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from framework.shuffle.ring import HashRing


@dataclass(frozen=True)
class Piece:
    input: str  # which input the rows came from ("left", "input", "step:0", ...)
    value: Any  # a pa.Table, or a reference to one
    rows: int
    nbytes: int


class ShuffleStore:
    """Pieces by (job, dataset, partition) then (task, attempt). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[str, str, int], dict[tuple[str, int], list[Piece]]] = {}
        self._bytes = 0

    def put(self, job: str, dataset: str, task: str, attempt: int, pieces: Iterable[tuple[int, Piece]]) -> int:
        """Add one attempt's pieces ({partition, piece} pairs); returns the bytes added."""
        added = 0
        with self._lock:
            for partition, piece in pieces:
                slot = self._data.setdefault((job, dataset, partition), {})
                slot.setdefault((task, attempt), []).append(piece)
                added += piece.nbytes
            self._bytes += added
        return added

    def get(self, job: str, dataset: str, partition: int, committed: Mapping[str, int]) -> list[Piece]:
        """The pieces of one partition written by the committed attempts, in task order (deterministic)."""
        with self._lock:
            slot = self._data.get((job, dataset, partition), {})
            return [p for (task, attempt) in sorted(slot) if committed.get(task) == attempt for p in slot[(task, attempt)]]

    def drop_job(self, job: str) -> int:
        """Free everything of a job (committed, failed or cancelled); returns the bytes freed."""
        with self._lock:
            keys = [k for k in self._data if k[0] == job]
            freed = sum(p.nbytes for k in keys for ps in self._data[k].values() for p in ps)
            for k in keys:
                del self._data[k]
            self._bytes -= freed
        return freed

    def stats(self) -> dict:
        with self._lock:
            return {"bytes_in_memory": self._bytes, "partitions": len(self._data)}


@functools.lru_cache(maxsize=32)
def _ring(ring_json: str) -> HashRing:
    return HashRing.from_dict(json.loads(ring_json))


def ring_from(ring: Mapping[str, Any]) -> HashRing:
    """The HashRing a job's ring dict describes (cached: tasks look placements up often)."""
    return _ring(json.dumps(ring, sort_keys=True))


def owners(ring: Mapping[str, Any], partitions: Sequence[int], num_partitions: int) -> list[str]:
    """The store holding each partition, by the consistent-hash ring of the job."""
    r = ring_from(ring)
    return [r.stores[i] for i in r.owners(np.asarray(partitions, dtype=np.int64), num_partitions)]
