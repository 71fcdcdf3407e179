"""The replicated and durable value types: client proposals, slot values, accepted entries, hard state, snapshots,
and `DurableState` (all of them, as a storage loads them).

A slot's value is a batch (a tuple of `Proposal`s) or `NOOP` (None), the filler a new leader puts in gaps. Commands
inside proposals are opaque JSON values: the core compares and copies them, never looks inside or mutates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from framework.paxos.ballot import Ballot

__all__ = ["NOOP", "DurableState", "Entry", "HardState", "Proposal", "Snapshot", "Value"]


@dataclass(frozen=True, slots=True)
class Proposal:
    """One client command, identified by `(client_id, seq)` for deduplication."""

    client_id: str
    seq: int
    command: Any


Value = Optional[tuple[Proposal, ...]]
NOOP: Value = None


@dataclass(frozen=True, slots=True)
class Entry:
    """An acceptor's accepted `(slot, ballot, value)`; also the unit the WAL persists."""

    slot: int
    ballot: Ballot
    value: Value


@dataclass(frozen=True, slots=True)
class HardState:
    """What an acceptor must find again after a restart.

    `promised`: the highest ballot promised (Paxos safety rests on never forgetting it).
    `commit`: slots up to here are chosen and present in the log (lets a restart replay without asking peers).
    `recovering`: the replica lost its disk and has not yet rebuilt a safe acceptor state; it must not vote.
    """

    promised: Ballot
    commit: int
    recovering: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application's state after applying every slot up to `index`, plus the core's dedup table there.

    `value` is the application's opaque JSON value (`compact`'s `snapshot_value`); `clients` rows are
    `(client_id, last_seq, slot)`.
    """

    index: int
    value: Any
    clients: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class DurableState:
    """What `Storage.load()` found: a restarting replica starts from exactly this."""

    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None

    def is_empty(self) -> bool:
        return self.hard_state is None and not self.entries and self.snapshot is None
