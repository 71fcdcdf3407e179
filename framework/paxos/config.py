"""`Config`: the knobs of one replica group, with `validate()`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Config"]


@dataclass(frozen=True)
class Config:
    """Settings shared by every replica of a group. All durations are in ticks (the caller decides a tick's length).

    Usage:
        Config(replica_ids=(1, 2, 3))                      # 3 replicas, defaults below
        Config((1, 2, 3), election_ticks_min=5, election_ticks_max=10, lease_ticks=4)

    replica_ids: every member's id (ints, unique). A majority of them is a quorum.
    election_ticks_min / election_ticks_max: a follower that hears no valid leader for a timeout drawn uniformly
        from this closed range starts phase 1 with a higher ballot. The spread keeps candidates from colliding.
    heartbeat_ticks: the leader sends a heartbeat (ballot and commit index) to every follower this often.
    lease_ticks: a leader that has not had a majority acknowledge a message it sent within this many ticks stops
        acting as leader. Must be below `election_ticks_min`, so a deposed leader stops before a new one is elected.
    window: the most slots the leader keeps in flight (proposed, not yet known chosen) at once; phase-2 pipelining.
    max_batch: the most client proposals one slot carries.
    resend_ticks: an Accept or catch-up request not answered within this many ticks is sent again.
    max_catchup_entries: the most chosen slots one catch-up reply carries; a lagging replica asks again for more.
    """

    replica_ids: tuple[int, ...]
    election_ticks_min: int = 10
    election_ticks_max: int = 20
    heartbeat_ticks: int = 1
    lease_ticks: int = 8
    window: int = 8
    max_batch: int = 16
    resend_ticks: int = 3
    max_catchup_entries: int = 64

    @property
    def quorum(self) -> int:
        """The size of a majority of `replica_ids`."""
        return len(self.replica_ids) // 2 + 1

    def validate(self) -> None:
        """Raise ValueError naming the first field that is out of range, and how to fix it."""
        ids = self.replica_ids
        if not ids or len(set(ids)) != len(ids) or not all(isinstance(i, int) and i >= 0 for i in ids):
            raise ValueError(f"replica_ids must be unique non-negative ints, got {ids!r}")
        if not 1 <= self.election_ticks_min <= self.election_ticks_max:
            raise ValueError(f"need 1 <= election_ticks_min <= election_ticks_max, got "
                             f"{self.election_ticks_min}, {self.election_ticks_max}")
        if not 1 <= self.heartbeat_ticks < self.lease_ticks:
            raise ValueError(f"need 1 <= heartbeat_ticks < lease_ticks, got {self.heartbeat_ticks}, {self.lease_ticks}")
        if self.lease_ticks >= self.election_ticks_min:
            raise ValueError(f"lease_ticks ({self.lease_ticks}) must be below election_ticks_min "
                             f"({self.election_ticks_min}), or a deposed leader may act after a new one is elected")
        for name in ("window", "max_batch", "resend_ticks", "max_catchup_entries"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
