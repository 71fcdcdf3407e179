"""Ballot numbers: `(round, replica_id)` pairs, totally ordered, unique to the replica that owns them.

A replica only ever proposes under ballots whose `replica_id` is its own, and picks each new round above every
round it has seen or promised, so no two replicas (and no two incarnations of one replica) share a ballot.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Ballot", "ZERO_BALLOT"]


class Ballot(NamedTuple):
    """A proposal number. Tuple order is the ballot order: round first, replica id breaks ties."""

    round: int
    replica_id: int

    def successor(self, replica_id: int) -> "Ballot":
        """The smallest ballot above this one that `replica_id` may own."""
        return Ballot(self.round + 1, replica_id)

    def __str__(self) -> str:
        return f"({self.round}, {self.replica_id})"


# Below every real ballot: real rounds start at 1.
ZERO_BALLOT = Ballot(0, 0)
