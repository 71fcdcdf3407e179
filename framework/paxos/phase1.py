"""`Campaign`: a candidate's phase 1 tally over all slots from its first open slot on.

It merges promises: per slot the highest-ballot accepted entry (the value a new leader must re-propose) and the
entries a promiser already knows chosen. A promiser that compacted past the candidate's first open slot proves the
candidate lags; the candidate must catch up before it can lead (it cannot re-propose values it never saw).
"""

from __future__ import annotations

from typing import Iterable

from framework.paxos.ballot import Ballot
from framework.paxos.errors import InvariantError
from framework.paxos.records import Entry

__all__ = ["Campaign"]


class Campaign:
    def __init__(self, ballot: Ballot, first_open: int, quorum: int, nonce: int = 0) -> None:
        self.ballot = ballot
        self.nonce = nonce
        self.first_open = first_open
        self.quorum = quorum
        self.voters: set[int] = set()
        self.echo: dict[int, int] = {}  # voter -> sent_at it echoed, seeds the new leader's lease
        self.best: dict[int, Entry] = {}
        self.chosen: dict[int, Entry] = {}
        self.max_slot = first_open - 1
        self.ahead_peer: int | None = None  # a promiser whose snapshot covers our first open slot

    def add(self, voter: int, entries: Iterable[Entry], commit: int, snapshot_index: int, sent_at: int) -> None:
        if voter in self.voters:
            return
        if snapshot_index >= self.first_open:
            self.ahead_peer = voter
            return
        self.voters.add(voter)
        self.echo[voter] = sent_at
        for entry in entries:
            self._merge(entry, known_chosen=entry.slot <= commit)

    def won(self) -> bool:
        return len(self.voters) >= self.quorum

    def value_for(self, slot: int) -> Entry | None:
        """The highest-ballot accepted entry any promiser reported for `slot` (None: fill with a no-op)."""
        return self.best.get(slot)

    def _merge(self, entry: Entry, known_chosen: bool) -> None:
        slot = entry.slot
        if slot < self.first_open:
            return
        if known_chosen:
            prior = self.chosen.setdefault(slot, entry)
            if prior.value != entry.value:
                raise InvariantError(f"promises for ballot {self.ballot} report slot {slot} chosen twice: "
                                     f"{prior.value!r} and {entry.value!r}")
        best = self.best.get(slot)
        if best is None or entry.ballot > best.ballot:
            self.best[slot] = entry
        if slot > self.max_slot:
            self.max_slot = slot
