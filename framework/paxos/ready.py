"""`Ready`: everything one round of input produced, for the caller to act on in order, and its result types.

The caller's duties, in this order, for each `Ready` (etcd-raft's Ready/Advance contract):

1. Persist `hard_state`, `entries` and `snapshot` (fsync when `must_sync`). A crash after this point is safe.
2. Send `messages`. Only now: a Promise or Accepted tells its receiver "this is on my disk".
3. Load `restore` into the application when set, then apply `committed` in order; deliver `results` to clients.
4. Call `replica.advance(ready)`. Do not call step/tick/propose/compact between `ready()` and `advance()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from framework.paxos.errors import NotLeader
from framework.paxos.messages import Message
from framework.paxos.records import Entry, HardState, Snapshot

__all__ = ["Applied", "Committed", "ProposalResult", "Ready", "Rejected"]


@dataclass(frozen=True, slots=True)
class Committed:
    """A chosen client command, in slot order, deduplicated: the application applies exactly these."""

    slot: int
    client_id: str
    seq: int
    command: Any


@dataclass(frozen=True, slots=True)
class Applied:
    """The proposal `(client_id, seq)` is chosen and applied at `slot`.

    `duplicate`: an earlier submission of the same `(client_id, seq)` was applied (at `slot` when known) and this
    one was not applied again.
    """

    client_id: str
    seq: int
    slot: int | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """The proposal was not taken, or its outcome is unknown because this replica stopped leading.

    Retry with the same `(client_id, seq)` at `leader_hint` (None: unknown, try another replica); deduplication
    makes the retry safe.
    """

    client_id: str
    seq: int
    leader_hint: int | None

    def error(self) -> NotLeader:
        return NotLeader(self.leader_hint)


ProposalResult = Union[Applied, Rejected]


@dataclass(frozen=True, slots=True)
class Ready:
    """One batch of work for the caller; see the module docstring for the order of duties."""

    hard_state: HardState | None
    entries: tuple[Entry, ...]
    snapshot: Snapshot | None
    restore: Snapshot | None
    messages: tuple[Message, ...]
    committed: tuple[Committed, ...]
    results: tuple[ProposalResult, ...]
    must_sync: bool

    def has_writes(self) -> bool:
        return self.hard_state is not None or bool(self.entries) or self.snapshot is not None
