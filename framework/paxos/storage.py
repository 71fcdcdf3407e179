"""Where a replica's durable writes go: the `Storage` interface, `MemoryStorage` and WAL-backed `FileStorage`.

`persist(ready)` makes a Ready's hard state, accepted entries and snapshot durable (call it before sending the
Ready's messages); `load()` returns what a restarted replica starts from (`Replica(..., durable=storage.load())`).
Within one Ready the snapshot goes first (it drops the entries it covers), then entries, then the hard state, so
a torn write never leaves a commit index ahead of the entries it covers.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from framework.paxos.codec import (entry_from_json, entry_to_json, hard_state_from_json, hard_state_to_json,
                                   snapshot_from_json, snapshot_to_json)
from framework.paxos.ready import Ready
from framework.paxos.records import DurableState, Entry, HardState, Snapshot
from framework.paxos.wal import WriteAheadLog, read_snapshot_file, write_snapshot_file

__all__ = ["FileStorage", "MemoryStorage", "Storage"]


class Storage(Protocol):
    def load(self) -> DurableState:
        """Everything persisted so far (empty for a new replica)."""
        ...

    def persist(self, ready: Ready) -> None:
        """Make `ready`'s hard state, entries and snapshot durable before returning."""
        ...


class _Image:
    """The durable state as a storage holds it: latest hard state, entries by slot above the snapshot."""

    def __init__(self) -> None:
        self.hard_state: HardState | None = None
        self.entries: dict[int, Entry] = {}
        self.snapshot: Snapshot | None = None

    def apply(self, ready: Ready) -> None:
        if ready.snapshot is not None:
            self.set_snapshot(ready.snapshot)
        floor = self.snapshot.index if self.snapshot is not None else 0
        for entry in ready.entries:
            if entry.slot > floor:
                self.entries[entry.slot] = entry
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state

    def set_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.entries = {s: e for s, e in self.entries.items() if s > snapshot.index}

    def state(self) -> DurableState:
        entries = tuple(self.entries[s] for s in sorted(self.entries))
        return DurableState(self.hard_state, entries, self.snapshot)


class MemoryStorage:
    """Durable state in memory: for tests and the simulator, where a "crash" keeps this object.

    `json_roundtrip=True` stores what `FileStorage` would read back (catches commands that are not JSON-safe).
    """

    def __init__(self, *, json_roundtrip: bool = False) -> None:
        self._image = _Image()
        self._json_roundtrip = json_roundtrip

    def load(self) -> DurableState:
        return self._image.state()

    def persist(self, ready: Ready) -> None:
        if ready.has_writes():
            self._image.apply(_roundtrip(ready) if self._json_roundtrip else ready)


class FileStorage:
    """Durable state in `directory`: `wal.log` (hard state and entry records) and `snapshot.bin`.

    Set `fsync=False` only in tests: without it a power failure may lose acknowledged promises and accepts.
    """

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._image = _Image()
        snapshot = read_snapshot_file(self._snapshot_path)
        if snapshot is not None:
            self._image.set_snapshot(snapshot_from_json(snapshot))
        self._wal = WriteAheadLog(self.directory / "wal.log", fsync=fsync)
        for record in self._wal.recovered:
            self._replay(record)

    @property
    def _snapshot_path(self) -> Path:
        return self.directory / "snapshot.bin"

    @property
    def truncated_bytes(self) -> int:
        """How many bytes of torn or corrupt tail recovery cut off the WAL."""
        return self._wal.truncated_bytes

    def load(self) -> DurableState:
        return self._image.state()

    def persist(self, ready: Ready) -> None:
        if not ready.has_writes():
            return
        if ready.snapshot is None:
            self._wal.append(_records(ready.entries, ready.hard_state), sync=ready.must_sync)
            self._image.apply(ready)
            return
        # The snapshot lands first: a crash before the WAL rewrite leaves entries it covers, which load() drops.
        write_snapshot_file(self._snapshot_path, snapshot_to_json(ready.snapshot), fsync=self._fsync)
        self._image.apply(ready)
        self._wal.rewrite(_records(self._image.entries.values(), self._image.hard_state))

    def close(self) -> None:
        self._wal.close()

    def _replay(self, record: dict[str, Any]) -> None:
        floor = self._image.snapshot.index if self._image.snapshot is not None else 0
        if "e" in record:
            entry = entry_from_json(record["e"])
            if entry.slot > floor:
                self._image.entries[entry.slot] = entry
        elif "hs" in record:
            self._image.hard_state = hard_state_from_json(record["hs"])


def _records(entries: Any, hard_state: HardState | None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [{"e": entry_to_json(e)} for e in entries]
    if hard_state is not None:
        records.append({"hs": hard_state_to_json(hard_state)})
    return records


def _roundtrip(ready: Ready) -> Ready:
    """`ready` with its durable parts passed through JSON text, as a FileStorage would read them back."""
    entries = tuple(entry_from_json(json.loads(json.dumps(entry_to_json(e)))) for e in ready.entries)
    snapshot = ready.snapshot and snapshot_from_json(json.loads(json.dumps(snapshot_to_json(ready.snapshot))))
    return replace(ready, entries=entries, snapshot=snapshot)
