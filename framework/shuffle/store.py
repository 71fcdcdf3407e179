"""The shuffle store's bookkeeping: pieces of partitions, kept per attempt, visible only once committed, held in
memory up to a budget and spilled to Arrow IPC files beyond it.

Pure (no Ray): the store actor (framework/shuffle/actor.py) and the inline executor both use it. A piece is
one map task attempt's rows for one partition of one dataset (`"s0"` is stage 0's shuffle, `"s0.out"` stage 0's
reduce output that the next stage reads). Readers name the attempts that committed (from the master's state),
so a retried or fenced attempt's pieces are never read twice.

Values are opaque to the bookkeeping (Arrow tables inline; ObjectRefs owned by the store actor on Ray): the
owner passes `to_table` / `from_table` to turn one into a table and back, which is all spilling needs. When the
bytes held in memory pass the budget, the oldest pieces are written to one Arrow IPC file each (optionally
compressed) and dropped from memory; a read maps the file back (zero-copy when uncompressed). A job's files go
when the job is dropped (committed, failed or cancelled).

A `durable` store writes every piece to its file as it is put (before `put` returns), so spilling costs nothing
more and a store whose process died can be started again on the same node and `recover` everything it held from
those files (each file names its piece in the Arrow schema's metadata). Files are written without fsync: they
survive the process, not the machine (a lost node loses its store's data, which replicas or re-runs cover).

Which stores hold a partition is the job's consistent-hash ring's answer (`placements`).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import pyarrow as pa


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    input: str  # which input the rows came from ("left", "input", "step:0", ...)
    value: Any  # a pa.Table, a reference to one, or a SpillFile
    rows: int
    nbytes: int


@dataclass(frozen=True)
class SpillFile:
    """Where a spilled piece's table lies on this store's local disk."""

    path: str


def _same(value: Any) -> Any:
    return value


Key = tuple[str, str, int]  # (job, dataset, partition)
Owner = tuple[str, int]  # (task, attempt)
#: the schema metadata key under which a durable piece's file names its piece
PIECE_META = b"paxflow.piece"
#: a durable store that failed to write a piece leaves this file in its folder: recover nothing from there
NOT_DURABLE = "NOT-DURABLE"


class ShuffleStore:
    """Pieces by (job, dataset, partition) then (task, attempt). Thread-safe.

    `budget`: bytes to hold in memory before spilling (None: no limit); `spill_dir`: where spill files go (needed
    with a budget); `to_table(value)` / `from_table(table)`: how a held value becomes a table and back;
    `compression`: None, "lz4" or "zstd" for spill files (None keeps reads zero-copy); `durable`: write each
    piece to its file as it is put (see the module docstring).
    """

    def __init__(self, budget: int | None = None, spill_dir: str | None = None,
                 to_table: Callable[[Any], pa.Table] = _same, from_table: Callable[[pa.Table], Any] = _same,
                 compression: str | None = None, durable: bool = False) -> None:
        if (budget is not None or durable) and spill_dir is None:
            raise ValueError("a memory budget or durable pieces need a spill_dir")
        self._lock = threading.Lock()
        self._data: dict[Key, dict[Owner, list[Piece]]] = {}
        self._resident: OrderedDict[tuple[Key, Owner, int], int] = OrderedDict()  # in-memory pieces, oldest first
        self._bytes = 0
        self._spilled = 0
        self._spilled_pieces = 0
        self.spill_error: str | None = None  # why the last spill failed (data then stays in memory)
        self._spilled_total = 0  # bytes ever spilled (since the last configure)
        self._peak = 0
        self._files = itertools.count()
        self._incarnation = os.urandom(3).hex()  # file names of a recovered store's successor never collide
        self._paths: dict[tuple[Key, Owner, int], str] = {}  # durable in-memory pieces -> their files
        self.durable = durable
        self.budget = budget
        self.spill_dir = spill_dir
        self.compression = compression
        self._to_table, self._from_table = to_table, from_table

    def put(self, job: str, dataset: str, task: str, attempt: int, pieces: Iterable[tuple[int, Piece]],
            tables: Sequence[pa.Table] | None = None) -> int:
        """Add one attempt's pieces ({partition, piece} pairs); returns the bytes added. Spills past the budget.
        A durable store first writes each piece to its file (`tables`: the pieces' tables, when their values are
        references). Idempotent: an attempt's pieces of a partition put again (a task that retried its put after
        the store restarted) replace what it put before."""
        pieces = list(pieces)
        paths: list[str | None] = [None] * len(pieces)
        if self.durable:
            for n, (partition, piece) in enumerate(pieces):
                table = tables[n] if tables is not None else self._to_table(piece.value)
                meta = json.dumps({"job": job, "dataset": dataset, "partition": partition, "task": task,
                                   "attempt": attempt, "input": piece.input, "rows": piece.rows,
                                   "nbytes": piece.nbytes, "seq": n})
                path = self._path((job, dataset, partition), (task, attempt))
                try:
                    _write_spill(path, table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                                      PIECE_META: meta.encode()}),
                                 self.compression)
                    paths[n] = path
                except OSError as e:  # kept in memory only, and the files no longer tell the whole story
                    self._note_write_error(e)
                    self._stop_being_durable()
        added = 0
        with self._lock:
            for partition in {partition for partition, _ in pieces}:  # a put sent again replaces the first
                self._remove((job, dataset, partition), (task, attempt))
            for (partition, piece), path in zip(pieces, paths):
                key, owner = (job, dataset, partition), (task, attempt)
                held = self._data.setdefault(key, {}).setdefault(owner, [])
                self._resident[(key, owner, len(held))] = piece.nbytes
                if path is not None:
                    self._paths[(key, owner, len(held))] = path
                held.append(piece)
                added += piece.nbytes
            self._bytes += added
            self._peak = max(self._peak, self._bytes)
            self._spill_over_budget()
        return added

    def recover(self) -> int:
        """Take up the pieces a durable store's earlier process left in `spill_dir` (all on disk); returns how
        many. Unfinished files (`.tmp`) and unreadable ones are removed."""
        found: list[tuple[dict, str]] = []
        if os.path.exists(os.path.join(self.spill_dir or "", NOT_DURABLE)):
            log.warning("shuffle store: %s says its pieces were not all written; recovering none", self.spill_dir)
            shutil.rmtree(self.spill_dir, ignore_errors=True)
            return 0
        for root, _, names in os.walk(self.spill_dir or ""):
            for name in names:
                path = os.path.join(root, name)
                try:
                    if not name.endswith(".arrow"):
                        raise ValueError("not a finished piece file")
                    with pa.memory_map(path, "r") as source:
                        schema = pa.ipc.open_file(source).schema
                    found.append((json.loads((schema.metadata or {})[PIECE_META]), path))
                except (OSError, ValueError, KeyError, pa.ArrowException) as e:
                    log.warning("shuffle store: dropping %s (%s)", path, e)
                    os.remove(path)
        found.sort(key=lambda f: (f[0]["job"], f[0]["dataset"], f[0]["partition"], f[0]["task"], f[0]["attempt"],
                                  f[0]["seq"]))
        with self._lock:
            for meta, path in found:
                key, owner = (meta["job"], meta["dataset"], meta["partition"]), (meta["task"], meta["attempt"])
                self._data.setdefault(key, {}).setdefault(owner, []).append(
                    Piece(meta["input"], SpillFile(path), meta["rows"], meta["nbytes"]))
                self._spilled += meta["nbytes"]
                self._spilled_pieces += 1
        return len(found)

    def inventory(self) -> list[tuple[str, str, int, str, int]]:
        """(job, dataset, partition, task, attempt) of every attempt's pieces held."""
        with self._lock:
            return sorted(key + owner for key, owners in self._data.items() for owner in owners)

    def get(self, job: str, dataset: str, partition: int, committed: Mapping[str, int]) -> list[Piece]:
        """The pieces of one partition written by the committed attempts, in task order (deterministic). Spilled
        pieces are read back from their files (as `from_table` of the mapped table)."""
        return [piece for _, piece in self.get_by_task(job, dataset, partition, committed)]

    def get_by_task(self, job: str, dataset: str, partition: int,
                    committed: Mapping[str, int]) -> list[tuple[str, Piece]]:
        """As `get`, with the task that wrote each piece."""
        with self._lock:
            slot = self._data.get((job, dataset, partition), {})
            found = [(task, p) for (task, attempt) in sorted(slot) if committed.get(task) == attempt
                     for p in slot[(task, attempt)]]
        return [(task, replace(p, value=self._from_table(_read_spill(p.value.path))))
                if isinstance(p.value, SpillFile) else (task, p) for task, p in found]

    def drop_job(self, job: str) -> int:
        """Free everything of a job (committed, failed or cancelled), files too; returns the bytes freed."""
        with self._lock:
            freed = 0
            for key in [k for k in self._data if k[0] == job]:
                for owner in list(self._data[key]):
                    freed += self._remove(key, owner)
        if self.spill_dir is not None:
            shutil.rmtree(os.path.join(self.spill_dir, _safe(job)), ignore_errors=True)
        return freed

    def configure(self, budget: int | None) -> None:
        """Change the memory budget (spilling at once if the new one is already exceeded); restarts the peak and
        spilled-total counters."""
        if budget is not None and self.spill_dir is None:
            raise ValueError("a memory budget needs a spill_dir")
        with self._lock:
            self.budget = budget
            self._peak, self._spilled_total = self._bytes, 0
            self._spill_over_budget()

    def stats(self) -> dict:
        with self._lock:
            return {"bytes_in_memory": self._bytes, "bytes_spilled": self._spilled, "peak_bytes_in_memory": self._peak,
                    "bytes_spilled_total": self._spilled_total, "partitions": len(self._data), "budget": self.budget,
                    "pieces_spilled": self._spilled_pieces, "spill_error": self.spill_error}

    def _spill_over_budget(self) -> None:
        """Write the oldest in-memory pieces to files until the budget holds again (caller holds the lock).

        A spill that fails (a full or failing disk) leaves the piece in memory, over budget, and says why in
        `stats()["spill_error"]` and the log: the data stays whole and the job goes on, where failing the put
        would fail every map task that writes here."""
        while self.budget is not None and self._bytes > self.budget and self._resident:
            (key, owner, i), nbytes = next(iter(self._resident.items()))
            piece = self._data[key][owner][i]
            path = self._paths.pop((key, owner, i), None)  # a durable piece is on disk already
            if path is None:
                path = self._path(key, owner)
                try:
                    _write_spill(path, self._to_table(piece.value), self.compression)
                except OSError as e:
                    self._note_write_error(e)
                    return
            del self._resident[(key, owner, i)]
            self._data[key][owner][i] = replace(piece, value=SpillFile(path))
            self._bytes -= nbytes
            self._spilled += nbytes
            self._spilled_total += nbytes
            self._spilled_pieces += 1


    def _remove(self, key: Key, owner: Owner) -> int:
        """Forget one attempt's pieces of one partition, and their files (caller holds the lock); returns their
        bytes."""
        pieces = self._data.get(key, {}).pop(owner, [])
        if key in self._data and not self._data[key]:
            del self._data[key]
        freed = 0
        for i, piece in enumerate(pieces):
            freed += piece.nbytes
            path = self._paths.pop((key, owner, i), None)
            if isinstance(piece.value, SpillFile):
                self._spilled -= piece.nbytes
                self._spilled_pieces -= 1
                path = piece.value.path
            else:
                self._bytes -= piece.nbytes
                self._resident.pop((key, owner, i), None)
            if path is not None:
                _remove_file(path)
        return freed

    def _path(self, key: Key, owner: Owner) -> str:
        return os.path.join(self.spill_dir, _safe(key[0]),
                            f"{_safe(key[1])}-p{key[2]}-{_safe(owner[0])}-a{owner[1]}-{self._incarnation}-{next(self._files)}.arrow")

    def _stop_being_durable(self) -> None:
        """A piece could not be written: from now on this store's files are not a full record, so a successor must
        not recover from them (it finds this marker and starts empty; the master then sees what is missing)."""
        self.durable = False
        try:
            with open(os.path.join(self.spill_dir, NOT_DURABLE), "w") as marker:
                marker.write(self.spill_error or "")
        except OSError:
            log.error("shuffle store cannot mark %s as incomplete", self.spill_dir)

    def _note_write_error(self, e: OSError) -> None:
        if self.spill_error is None:
            log.error("shuffle store cannot write to %s (keeping data in memory): %s", self.spill_dir, e)
        self.spill_error = f"{type(e).__name__}: {e}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write_spill(path: str, table: pa.Table, compression: str | None) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    options = pa.ipc.IpcWriteOptions(compression=compression) if compression else None
    tmp = path + ".tmp"
    try:
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):  # no half-written file left behind
            os.remove(tmp)
        raise


def _remove_file(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _read_spill(path: str) -> pa.Table:
    """The spilled table, memory-mapped: the pages are read when used, and shared with the page cache. (A durable
    piece's own metadata is taken off again.)"""
    with pa.memory_map(path, "r") as source:
        table = pa.ipc.open_file(source).read_all()
    meta = table.schema.metadata
    if meta and PIECE_META in meta:
        table = table.replace_schema_metadata({k: v for k, v in meta.items() if k != PIECE_META} or None)
    return table


# ---- placement --------------------------------------------------------------------------------------------------
