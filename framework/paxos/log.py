"""`SlotLog`: one replica's view of the slots: accepted entries, which are known chosen, commit/applied, compaction.

Indexes: `snapshot_index <= applied <= commit`. Every slot up to `commit` is chosen and (above the snapshot) has
its chosen value in the log; slots above `commit` may also be known chosen (learned out of order).
"""

from __future__ import annotations

from typing import Iterable

from framework.paxos.ballot import Ballot
from framework.paxos.errors import InvariantError
from framework.paxos.records import Entry, Snapshot

__all__ = ["SlotLog"]


class SlotLog:
    def __init__(self, snapshot: Snapshot | None = None, entries: Iterable[Entry] = (), commit: int = 0) -> None:
        self.snapshot = snapshot
        self.snapshot_index = snapshot.index if snapshot is not None else 0
        self._entries: dict[int, Entry] = {e.slot: e for e in entries if e.slot > self.snapshot_index}
        self._chosen_above: set[int] = set()
        self.commit = max(commit, self.snapshot_index)
        self.applied = self.snapshot_index
        self._max_slot = max(self._entries, default=self.snapshot_index)
        missing = [s for s in range(self.snapshot_index + 1, self.commit + 1) if s not in self._entries]
        if missing:
            raise InvariantError(f"storage lost chosen slots {missing[:5]}... below commit {self.commit}")

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, slot: int) -> Entry | None:
        return self._entries.get(slot)

    def max_slot(self) -> int:
        return self._max_slot

    def is_chosen(self, slot: int) -> bool:
        return slot <= self.commit or slot in self._chosen_above

    def accept(self, entry: Entry) -> None:
        """Record an accepted entry (the caller has checked the ballot against its promise)."""
        self._entries[entry.slot] = entry
        if entry.slot > self._max_slot:
            self._max_slot = entry.slot

    def learn(self, entry: Entry) -> None:
        """Record a chosen entry."""
        self.accept(entry)
        self.mark_chosen(entry.slot)

    def mark_chosen(self, slot: int) -> None:
        if slot > self.commit:
            self._chosen_above.add(slot)

    def mark_chosen_at(self, ballot: Ballot, upto: int) -> None:
        """Mark chosen every slot up to `upto` whose entry was accepted under `ballot`.

        A leader proposes one value per slot under its ballot, so when it says slot s is chosen and our entry for
        s carries its ballot, our entry holds the chosen value.
        """
        for slot in range(self.commit + 1, min(upto, self._max_slot) + 1):
            entry = self._entries.get(slot)
            if entry is not None and entry.ballot == ballot:
                self._chosen_above.add(slot)

    def advance_commit(self) -> bool:
        """Move `commit` over the contiguous chosen slots; True when it moved."""
        start = self.commit
        while self.commit + 1 in self._chosen_above:
            self.commit += 1
            self._chosen_above.discard(self.commit)
        return self.commit != start

    def entries_from(self, first: int) -> tuple[Entry, ...]:
        return tuple(sorted((e for s, e in self._entries.items() if s >= first), key=_slot))

    def chosen_entries(self, first: int, limit: int) -> tuple[Entry, ...]:
        last = min(self.commit, first + limit - 1)
        return tuple(self._entries[s] for s in range(max(first, self.snapshot_index + 1), last + 1))

    def compact(self, snapshot: Snapshot) -> None:
        """Drop entries up to `snapshot.index` (applied slots the snapshot now covers)."""
        if not self.snapshot_index < snapshot.index <= self.applied:
            raise InvariantError(f"cannot compact to {snapshot.index}: snapshot at {self.snapshot_index}, "
                                 f"applied {self.applied}")
        self._drop_through(snapshot)

    def install(self, snapshot: Snapshot) -> None:
        """Replace everything up to `snapshot.index` with a peer's snapshot (we lagged behind its compaction)."""
        if snapshot.index <= self.commit:
            raise InvariantError(f"snapshot at {snapshot.index} is not ahead of commit {self.commit}")
        self._drop_through(snapshot)
        self.commit = self.applied = snapshot.index
        self._chosen_above = {s for s in self._chosen_above if s > snapshot.index}
        self.advance_commit()

    def _drop_through(self, snapshot: Snapshot) -> None:
        self._entries = {s: e for s, e in self._entries.items() if s > snapshot.index}
        self.snapshot = snapshot
        self.snapshot_index = snapshot.index
        self._max_slot = max(self._max_slot, snapshot.index)


def _slot(entry: Entry) -> int:
    return entry.slot
