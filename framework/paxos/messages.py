"""The messages replicas exchange: frozen dataclasses compared by value, each naming its sender and receiver.

Replies echo `sent_at` (the sender's tick when it sent the request) so a leader can date its lease by when it
*sent* what a majority acknowledged, not by when the acknowledgements happened to arrive.

    Prepare        candidate -> all   phase 1a: ballot, first open slot
    Promise        acceptor -> cand.  phase 1b: every accepted entry at or above that slot, commit, snapshot index
    Accept         leader -> all      phase 2a: entries under the leader's ballot, and its commit index
    Accepted       acceptor -> leader phase 2b: the slots accepted
    Nack           acceptor -> sender a Prepare/Accept/Heartbeat below the acceptor's promise
    Heartbeat      leader -> all      ballot and commit index (followers learn chosen slots from it)
    HeartbeatAck   follower -> leader keeps the leader's lease
    CatchUpRequest lagging -> peer    "send me chosen slots from `first` on"
    CatchUp        peer -> lagging    chosen entries, preceded by a snapshot when `first` was compacted away
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from framework.paxos.ballot import Ballot
from framework.paxos.records import Entry, Snapshot

__all__ = ["Accept", "Accepted", "CatchUp", "CatchUpRequest", "Heartbeat", "HeartbeatAck", "Message", "Nack",
           "Prepare", "Promise", "MESSAGE_TYPES"]


@dataclass(frozen=True, slots=True)
class Prepare:
    """`nonce` tells this campaign's promises from stale ones for the same ballot; `recovering`: the candidate
    lost its disk and may not know its old ballots, so only a promise strictly above the acceptor's counts."""

    src: int
    dst: int
    ballot: Ballot
    first_open: int
    sent_at: int
    nonce: int
    recovering: bool


@dataclass(frozen=True, slots=True)
class Promise:
    src: int
    dst: int
    ballot: Ballot
    first_open: int
    entries: tuple[Entry, ...]
    commit: int
    snapshot_index: int
    sent_at: int
    nonce: int


@dataclass(frozen=True, slots=True)
class Accept:
    src: int
    dst: int
    ballot: Ballot
    entries: tuple[Entry, ...]
    commit: int
    sent_at: int


@dataclass(frozen=True, slots=True)
class Accepted:
    src: int
    dst: int
    ballot: Ballot
    slots: tuple[int, ...]
    sent_at: int


@dataclass(frozen=True, slots=True)
class Nack:
    src: int
    dst: int
    ballot: Ballot
    promised: Ballot


@dataclass(frozen=True, slots=True)
class Heartbeat:
    src: int
    dst: int
    ballot: Ballot
    commit: int
    sent_at: int


@dataclass(frozen=True, slots=True)
class HeartbeatAck:
    src: int
    dst: int
    ballot: Ballot
    commit: int
    sent_at: int


@dataclass(frozen=True, slots=True)
class CatchUpRequest:
    src: int
    dst: int
    first: int


@dataclass(frozen=True, slots=True)
class CatchUp:
    src: int
    dst: int
    snapshot: Snapshot | None
    entries: tuple[Entry, ...]
    commit: int


Message = Union[Prepare, Promise, Accept, Accepted, Nack, Heartbeat, HeartbeatAck, CatchUpRequest, CatchUp]
MESSAGE_TYPES: dict[str, type] = {t.__name__: t for t in (Prepare, Promise, Accept, Accepted, Nack, Heartbeat,
                                                           HeartbeatAck, CatchUpRequest, CatchUp)}
