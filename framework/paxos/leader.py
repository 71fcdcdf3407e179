"""`Leadership`: the proposer state a leader keeps for its ballot: slots in flight, queued proposals, lease.

Phase 2 is pipelined: up to `window` slots are in flight at once; proposals that arrive while the window is full
queue up and go out batched, several per slot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from framework.paxos.ballot import Ballot
from framework.paxos.records import Entry, Proposal, Value

__all__ = ["Flight", "Leadership"]


@dataclass
class Flight:
    """A slot proposed under the leader's ballot and not yet known chosen."""

    value: Value
    sent_at: int
    acks: set[int] = field(default_factory=set)


class Leadership:
    def __init__(self, ballot: Ballot, peers: tuple[int, ...], quorum: int, lease: dict[int, int]) -> None:
        self.ballot = ballot
        self.peers = peers
        self.quorum = quorum
        self.next_slot = 1
        self.flights: dict[int, Flight] = {}
        self.queue: deque[Proposal] = deque()
        self.waiting: set[tuple[str, int]] = set()  # proposals this leader took and still owes an answer
        self.lease = {p: lease.get(p, -1) for p in peers}  # peer -> latest sent_at it acknowledged

    def enqueue(self, proposal: Proposal) -> None:
        key = (proposal.client_id, proposal.seq)
        if key not in self.waiting:  # a retry of one already queued or in flight is answered with the original
            self.waiting.add(key)
            self.queue.append(proposal)

    def take_batch(self, max_batch: int) -> tuple[Proposal, ...]:
        n = min(max_batch, len(self.queue))
        return tuple(self.queue.popleft() for _ in range(n))

    def start(self, entry: Entry, self_id: int, now: int) -> bool:
        """Put a self-accepted entry in flight; True when our own accept is already a quorum."""
        self.flights[entry.slot] = Flight(entry.value, now, {self_id})
        return self._maybe_chosen(entry.slot)

    def ack(self, slot: int, voter: int) -> bool:
        """Count `voter`'s accept of `slot`; True exactly once, when the slot becomes chosen."""
        flight = self.flights.get(slot)
        if flight is None:
            return False
        flight.acks.add(voter)
        return self._maybe_chosen(slot)

    def stale(self, now: int, resend_ticks: int) -> dict[int, list[Entry]]:
        """Entries to send again, per peer: in flight for `resend_ticks` without that peer's accept."""
        resend: dict[int, list[Entry]] = {}
        for slot, flight in self.flights.items():
            if now - flight.sent_at < resend_ticks:
                continue
            flight.sent_at = now
            for peer in self.peers:
                if peer not in flight.acks:
                    resend.setdefault(peer, []).append(Entry(slot, self.ballot, flight.value))
        return resend

    def heard(self, peer: int, sent_at: int) -> None:
        if sent_at > self.lease.get(peer, -1):
            self.lease[peer] = sent_at

    def lease_valid(self, now: int, lease_ticks: int) -> bool:
        """A majority (counting ourselves) acknowledged something we sent within the last `lease_ticks`."""
        return self.lease_left(now, lease_ticks) >= 0

    def lease_left(self, now: int, lease_ticks: int) -> int:
        """Ticks until the lease runs out unless a majority acknowledges something newer (negative: it has)."""
        if self.quorum <= 1:
            return lease_ticks
        acked = sorted(self.lease.values(), reverse=True)  # we count as one: the quorum-1'th freshest peer decides
        return acked[self.quorum - 2] + lease_ticks - now if len(acked) >= self.quorum - 1 else -1

    def _maybe_chosen(self, slot: int) -> bool:
        if len(self.flights[slot].acks) >= self.quorum:
            del self.flights[slot]
            return True
        return False
