"""Errors of the consensus core.

    PaxflowError (framework.errors)
     └── ConsensusError
          ├── NotLeader(leader_hint)   a proposal reached a replica that is not the leader; retry at the hint
          └── InvariantError           the core reached a state its protocol rules out (a bug, or broken storage)
"""

from __future__ import annotations

from framework.errors import PaxflowError

__all__ = ["ConsensusError", "InvariantError", "NotLeader"]


class ConsensusError(PaxflowError):
    """Base of the consensus core's errors."""


class NotLeader(ConsensusError):
    """This replica cannot take proposals; `leader_hint` is the replica it believes leads (None: unknown)."""

    def __init__(self, leader_hint: int | None) -> None:
        self.leader_hint = leader_hint
        super().__init__(f"not the leader (leader hint: {leader_hint})")

    def __reduce__(self):  # keep the hint when Ray pickles the error across processes
        return (NotLeader, (self.leader_hint,))


class InvariantError(ConsensusError, AssertionError):
    """A transition the protocol rules out; the message carries the replica's state."""
