"""Unit tests of the consensus core, etcd-raft style: a hand-driven cluster and table-driven cases.

`Cluster` holds every message until `deliver()`/`stabilize()` and ticks nobody unless asked, so each test sets up
exactly the interleaving it names. References are to Lamport's "Paxos Made Simple" (PMS) and Chandra et al.'s
"Paxos Made Live" (PML).
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from framework.paxos import (CANDIDATE, FOLLOWER, LEADER, NOOP, Accept, Accepted, Applied, Ballot, CatchUp,
                             CatchUpRequest, Committed, Config, DurableState, Entry, HardState, Heartbeat,
                             HeartbeatAck, InvariantError, MemoryStorage, Message, Nack, NotLeader, Prepare, Promise,
                             Proposal, Rejected, Replica, Snapshot)
from framework.paxos.codec import message_from_json, message_to_json

IDS3 = (1, 2, 3)


def make_config(ids: tuple[int, ...] = IDS3, **overrides: Any) -> Config:
    settings = dict(election_ticks_min=10, election_ticks_max=20, heartbeat_ticks=1, lease_ticks=5, window=4,
                    max_batch=4, resend_ticks=3, max_catchup_entries=64)
    settings.update(overrides)
    return Config(tuple(ids), **settings)  # type: ignore[arg-type]


def batch(*commands: str, client: str = "c", first_seq: int = 1) -> tuple[Proposal, ...]:
    return tuple(Proposal(client, first_seq + i, cmd) for i, cmd in enumerate(commands))


class Cluster:
    """Replicas wired by a FIFO of messages that moves only when told; the application is a list per replica."""

    def __init__(self, ids: tuple[int, ...] = IDS3, *, durable: dict[int, DurableState] | None = None,
                 **config: Any) -> None:
        self.config = make_config(ids, **config)
        self.storage = {rid: MemoryStorage(json_roundtrip=True) for rid in ids}
        self.nodes: dict[int, Replica | None] = {}
        self.applied: dict[int, list[list[Any]]] = {}
        self.results: dict[int, list[Any]] = {rid: [] for rid in ids}
        self.restores: dict[int, list[Snapshot]] = {rid: [] for rid in ids}
        self.inflight: list[Message] = []
        self.isolated: set[int] = set()
        for rid in ids:
            self.start(rid, durable=(durable or {}).get(rid))

    def node(self, rid: int) -> Replica:
        node = self.nodes[rid]
        assert node is not None, f"replica {rid} is down"
        return node

    def start(self, rid: int, *, lost_disk: bool = False, durable: DurableState | None = None) -> None:
        if lost_disk:
            self.storage[rid] = MemoryStorage(json_roundtrip=True)
        self.applied[rid] = []
        self.nodes[rid] = Replica(self.config, rid, rng=random.Random(rid), lost_disk=lost_disk,
                                  durable=durable or self.storage[rid].load())
        self.drain(rid)

    def crash(self, rid: int) -> None:
        self.nodes[rid] = None

    def drain(self, rid: int) -> None:
        node = self.node(rid)
        while node.has_ready():
            ready = node.ready()
            self.storage[rid].persist(ready)
            self.inflight.extend(ready.messages)
            if ready.restore is not None:
                self.restores[rid].append(ready.restore)
                self.applied[rid] = [list(item) for item in ready.restore.value]
            self.applied[rid] += [[c.slot, c.client_id, c.seq, c.command] for c in ready.committed]
            self.results[rid] += ready.results
            node.advance(ready)

    def deliver(self, only: type | tuple[type, ...] | None = None) -> None:
        """Deliver every message queued now (those matching `only`); replies queue for the next round."""
        queued, self.inflight = self.inflight, []
        for msg in queued:
            if only is not None and not isinstance(msg, only):
                self.inflight.append(msg)
            elif msg.src not in self.isolated and msg.dst not in self.isolated and self.nodes[msg.dst] is not None:
                self.node(msg.dst).step(msg)
                self.drain(msg.dst)

    def stabilize(self, rounds: int = 50) -> None:
        while self.inflight and rounds:
            self.deliver()
            rounds -= 1

    def tick(self, rid: int, times: int = 1) -> None:
        for _ in range(times):
            self.node(rid).tick()
            self.drain(rid)

    def campaign(self, rid: int) -> None:
        """Tick only `rid` until its election timeout fires, then let phase 1 (and 2) run to quiet."""
        for _ in range(self.config.election_ticks_max):
            self.tick(rid)
            if self.node(rid).status()["role"] != FOLLOWER:
                break
        self.stabilize()

    def propose(self, rid: int, client: str, seq: int, command: Any = None) -> None:
        self.node(rid).propose(client, seq, command if command is not None else f"{client}-{seq}")
        self.drain(rid)

    def commit_round(self, leader: int) -> None:
        """Let the leader's proposals be chosen, then tell followers (a heartbeat carries the commit index)."""
        self.stabilize()
        self.tick(leader)
        self.stabilize()

    def sent(self, kind: type, src: int | None = None) -> list[Any]:
        return [m for m in self.inflight if isinstance(m, kind) and (src is None or m.src == src)]


# ---- configuration and ballots ---------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, field_named", [
    (dict(replica_ids=()), "replica_ids"),
    (dict(replica_ids=(1, 1, 2)), "replica_ids"),
    (dict(election_ticks_min=20, election_ticks_max=10), "election_ticks_min"),
    (dict(heartbeat_ticks=5, lease_ticks=5), "heartbeat_ticks"),
    (dict(lease_ticks=10, election_ticks_min=10), "lease_ticks"),
    (dict(window=0), "window"),
    (dict(max_batch=0), "max_batch"),
])
def test_config_validate_names_the_bad_field(overrides: dict[str, Any], field_named: str) -> None:
    ids = overrides.pop("replica_ids", IDS3)
    with pytest.raises(ValueError, match=field_named):
        make_config(ids, **overrides).validate()


def test_default_config_is_valid() -> None:
    Config((1, 2, 3)).validate()
    assert Config((1, 2, 3, 4, 5)).quorum == 3


@pytest.mark.parametrize("low, high", [
    (Ballot(1, 5), Ballot(2, 1)),   # round first
    (Ballot(2, 1), Ballot(2, 3)),   # replica id breaks ties
    (Ballot(0, 0), Ballot(1, 0)),   # ZERO is below every real ballot
])
def test_ballots_are_totally_ordered(low: Ballot, high: Ballot) -> None:
    assert low < high and high.successor(7) > high and high.successor(7).replica_id == 7


# ---- the acceptor, one message at a time (PMS §2.3) ------------------------------------------------------------


def acceptor(promised: Ballot, entries: tuple[Entry, ...] = (), commit: int = 0, rid: int = 2) -> Replica:
    durable = DurableState(HardState(promised, commit), entries)
    node = Replica(make_config(), rid, rng=random.Random(0), durable=durable)
    node.advance(node.ready())
    return node


def reply_to(node: Replica, msg: Message) -> tuple[Any, Any]:
    node.step(msg)
    ready = node.ready()
    node.advance(ready)
    assert len(ready.messages) == 1, ready.messages
    return ready.messages[0], ready.hard_state


A1, B1 = Entry(1, Ballot(1, 1), batch("a")), Entry(2, Ballot(2, 1), batch("b", first_seq=2))


@dataclass
class AcceptorCase:
    name: str
    promised: Ballot
    msg: Message
    reply: type
    promised_after: Ballot | None = None
    check: dict[str, Any] = field(default_factory=dict)


ACCEPTOR_CASES = [
    AcceptorCase("prepare below the promise is refused (P1a)", Ballot(2, 1),
                 Prepare(3, 2, Ballot(1, 3), 1, 0, 7, False), Nack, check={"promised": Ballot(2, 1)}),
    AcceptorCase("prepare above the promise is promised, durably", Ballot(2, 1),
                 Prepare(3, 2, Ballot(3, 3), 1, 0, 7, False), Promise, Ballot(3, 3),
                 check={"entries": (A1, B1), "nonce": 7}),
    AcceptorCase("a promise reports accepted entries from the first open slot on", Ballot(2, 1),
                 Prepare(3, 2, Ballot(3, 3), 2, 0, 7, False), Promise, Ballot(3, 3), check={"entries": (B1,)}),
    AcceptorCase("a duplicate prepare at the promised ballot is answered again", Ballot(3, 3),
                 Prepare(3, 2, Ballot(3, 3), 1, 0, 7, False), Promise),
    AcceptorCase("a recovering candidate needs a ballot strictly above the promise", Ballot(3, 3),
                 Prepare(3, 2, Ballot(3, 3), 1, 0, 7, True), Nack),
    AcceptorCase("accept below the promise is refused", Ballot(2, 1),
                 Accept(3, 2, Ballot(1, 3), (Entry(3, Ballot(1, 3), NOOP),), 0, 0), Nack),
    AcceptorCase("accept at the promise is accepted", Ballot(2, 1),
                 Accept(1, 2, Ballot(2, 1), (Entry(3, Ballot(2, 1), NOOP),), 0, 5), Accepted,
                 check={"slots": (3,), "sent_at": 5}),
    AcceptorCase("accept above the promise raises it", Ballot(2, 1),
                 Accept(3, 2, Ballot(4, 3), (Entry(3, Ballot(4, 3), NOOP),), 0, 0), Accepted, Ballot(4, 3)),
    AcceptorCase("heartbeat below the promise is refused, deposing its sender", Ballot(2, 1),
                 Heartbeat(3, 2, Ballot(1, 3), 0, 0), Nack),
    AcceptorCase("heartbeat at the promise is acknowledged with the sender's tick", Ballot(2, 1),
                 Heartbeat(1, 2, Ballot(2, 1), 0, 9), HeartbeatAck, check={"sent_at": 9}),
]


@pytest.mark.parametrize("case", ACCEPTOR_CASES, ids=lambda c: c.name)
def test_acceptor(case: AcceptorCase) -> None:
    node = acceptor(case.promised, (A1, B1))
    reply, hard = reply_to(node, case.msg)
    assert type(reply) is case.reply
    for name, want in case.check.items():
        assert getattr(reply, name) == want, name
    assert node.ballot() == (case.promised_after or case.promised)
    if case.promised_after is not None:
        assert hard is not None and hard.promised == case.promised_after  # on disk before the reply leaves


def test_accepting_a_different_value_for_a_chosen_slot_raises_with_the_state() -> None:
    node = acceptor(Ballot(2, 1), (A1,), commit=1)
    with pytest.raises(InvariantError, match=r"replica 2: role follower.*commit 1"):
        node.step(Accept(3, 2, Ballot(3, 3), (Entry(1, Ballot(3, 3), batch("other")),), 0, 0))


def test_a_late_accept_of_an_older_leader_for_a_slot_chosen_under_a_higher_ballot_gets_no_vote() -> None:
    """Found by tests/job_sim.py (seed 20067 of 100,000): a majority that left us out chose slot 1 at ballot 3
    and we learned it, still promised to the older ballot 2, whose delayed accept of another value then arrives.
    That value was never chosen and cannot be: no error, and no vote for it (the other entries still get theirs)."""
    chosen = Entry(1, Ballot(3, 3), batch("chosen"))
    node = acceptor(Ballot(2, 1), (chosen,), commit=1)
    reply, _ = reply_to(node, Accept(1, 2, Ballot(2, 1), (Entry(1, Ballot(2, 1), batch("stale")),
                                                        Entry(2, Ballot(2, 1), NOOP)), 0, 0))
    assert type(reply) is Accepted and reply.slots == (2,)


# ---- elections and takeover ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ids, winner", [((1,), 1), (IDS3, 1), (IDS3, 3), ((1, 2, 3, 4, 5), 2)])
def test_campaign_elects_one_leader_everyone_follows(ids: tuple[int, ...], winner: int) -> None:
    c = Cluster(ids)
    c.campaign(winner)
    assert c.node(winner).is_leader() and c.node(winner).ballot() == Ballot(1, winner)
    for rid in ids:
        assert c.node(rid).leader_hint() == winner
        assert c.node(rid).is_leader() == (rid == winner)


def test_a_later_candidate_takes_over_with_a_higher_ballot_and_the_old_leader_steps_down() -> None:
    c = Cluster()
    c.campaign(1)
    c.isolated = {1}
    c.campaign(2)
    assert c.node(2).is_leader() and c.node(2).ballot() == Ballot(2, 2)
    c.isolated = set()
    c.tick(1)  # its heartbeat meets a higher promise
    c.stabilize()
    assert not c.node(1).is_leader() and c.node(1).leader_hint() is None
    c.tick(2)
    c.stabilize()
    assert c.node(1).leader_hint() == 2


def test_a_follower_told_its_leader_is_gone_campaigns_at_once() -> None:
    c = Cluster()
    c.campaign(1)
    c.crash(1)
    c.node(2).leader_lost(3)   # not its leader: ignored
    assert c.node(2).status()["role"] == FOLLOWER
    c.node(2).leader_lost(1)
    c.drain(2)
    c.stabilize()
    assert c.node(2).is_leader() and c.node(3).leader_hint() == 2


def test_a_candidate_without_a_majority_stays_candidate_and_retries_higher() -> None:
    c = Cluster()
    c.isolated = {2, 3}
    c.campaign(1)
    assert c.node(1).status()["role"] == CANDIDATE
    c.tick(1, times=20)
    assert c.node(1).ballot().round >= 2 and not c.node(1).is_leader()


@dataclass
class TakeoverCase:
    name: str
    ids: tuple[int, ...]
    reachable: set[int]
    proposed: dict[int, Any]  # slot -> value the new leader re-proposes


# Replica 2 accepted under (1, 1); replica 3 later accepted slot 2 under the higher (2, 3) and slot 5 under (1, 1);
# replica 1 (the next candidate) promised (2, 3) and accepted nothing.
TAKEOVER_STATE = {
    1: DurableState(HardState(Ballot(2, 3), 0)),
    2: DurableState(HardState(Ballot(1, 1), 0), (Entry(1, Ballot(1, 1), batch("a")),
                                                 Entry(2, Ballot(1, 1), batch("b", first_seq=2)),
                                                 Entry(4, Ballot(1, 1), batch("d", first_seq=4)))),
    3: DurableState(HardState(Ballot(2, 3), 0), (Entry(2, Ballot(2, 3), batch("B", first_seq=2)),
                                                 Entry(5, Ballot(1, 1), batch("e", first_seq=5)))),
}
TAKEOVER_CASES = [
    TakeoverCase("values from 2, gap at 3 filled with a no-op", IDS3, {2},
                 {1: batch("a"), 2: batch("b", first_seq=2), 3: NOOP, 4: batch("d", first_seq=4)}),
    TakeoverCase("values from 3, gaps filled", IDS3, {3},
                 {1: NOOP, 2: batch("B", first_seq=2), 3: NOOP, 4: NOOP, 5: batch("e", first_seq=5)}),
    TakeoverCase("both: the highest ballot wins slot 2", (1, 2, 3, 4, 5), {2, 3},
                 {1: batch("a"), 2: batch("B", first_seq=2), 3: NOOP, 4: batch("d", first_seq=4),
                  5: batch("e", first_seq=5)}),
]


@pytest.mark.parametrize("case", TAKEOVER_CASES, ids=lambda c: c.name)
def test_takeover_reproposes_highest_ballot_values_and_fills_gaps_with_noops(case: TakeoverCase) -> None:
    """PMS §3: the new leader runs phase 1 for every slot from its first open one, then phase 2 for each."""
    c = Cluster(case.ids, durable=TAKEOVER_STATE)
    c.isolated = set(case.ids) - case.reachable - {1}
    c.tick(1, times=20)          # campaign: one Prepare per peer
    c.deliver(Prepare)
    c.deliver(Promise)
    assert c.node(1).is_leader() and c.node(1).ballot() == Ballot(3, 1)
    accepts = c.sent(Accept, src=1)
    assert accepts and all(a.ballot == Ballot(3, 1) for a in accepts)
    assert {e.slot: e.value for e in accepts[0].entries} == case.proposed
    c.commit_round(1)
    assert [item[0] for item in c.applied[1]] == sorted(s for s, v in case.proposed.items() if v)


def test_slots_a_promiser_knows_chosen_are_learned_not_reproposed() -> None:
    durable = {1: DurableState(HardState(Ballot(1, 2), 0)),
               2: DurableState(HardState(Ballot(1, 2), 2), (Entry(1, Ballot(1, 2), batch("a")),
                                                          Entry(2, Ballot(1, 2), batch("b", first_seq=2)),
                                                          Entry(3, Ballot(1, 2), batch("c", first_seq=3))))}
    c = Cluster(durable=durable)
    c.isolated = {3}
    c.campaign(1)
    assert c.node(1).is_leader() and [item[3] for item in c.applied[1]] == ["a", "b", "c"]
    reproposed = {e.slot for e in c.storage[1].load().entries if e.ballot == Ballot(2, 1)}
    assert reproposed == {3}  # slots 1 and 2 were learned as chosen, slot 3 went through phase 2


def test_a_candidate_behind_a_promisers_snapshot_catches_up_instead_of_leading() -> None:
    snap = Snapshot(5, [[s, "c", s, f"v{s}"] for s in range(1, 6)], (("c", 5, 5),))
    c = Cluster(durable={1: DurableState(HardState(Ballot(1, 2), 0)),
                         2: DurableState(HardState(Ballot(1, 2), 5), (), snap)})
    c.isolated = {3}
    c.tick(1, times=20)
    c.deliver(Prepare)
    c.deliver(Promise)
    assert not c.node(1).is_leader()
    assert [(m.dst, m.first) for m in c.sent(CatchUpRequest, src=1)] == [(2, 1)]
    c.stabilize()
    assert c.applied[1] == c.applied[2] and c.restores[1] == [snap]


# ---- phase 2: batching, pipelining, learning -----------------------------------------------------------------


def test_proposals_between_readies_share_a_slot_up_to_max_batch() -> None:
    c = Cluster(window=1, max_batch=3)
    c.campaign(1)
    for seq in range(1, 6):
        c.node(1).propose("c", seq, f"cmd{seq}")
    c.drain(1)
    (accept, *_) = c.sent(Accept, src=1)
    assert [e.slot for e in accept.entries] == [1] and len(accept.entries[0].value) == 3
    c.commit_round(1)
    assert [(item[0], item[2]) for item in c.applied[1]] == [(1, 1), (1, 2), (1, 3), (2, 4), (2, 5)]
    assert c.applied[2] == c.applied[3] == c.applied[1]


def test_pipelining_keeps_up_to_window_slots_in_flight() -> None:
    c = Cluster(window=3)
    c.campaign(1)
    for seq in range(1, 6):
        c.propose(1, "c", seq)  # one Ready per proposal, no message delivered yet
    assert sorted({e.slot for m in c.sent(Accept, src=1) for e in m.entries}) == [1, 2, 3]
    c.commit_round(1)
    assert [(item[0], item[2]) for item in c.applied[1]] == [(1, 1), (2, 2), (3, 3), (4, 4), (4, 5)]
    results = [r for r in c.results[1] if isinstance(r, Applied)]
    assert [(r.seq, r.slot) for r in results] == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 4)]


def test_followers_learn_chosen_slots_from_the_commit_index_and_apply_in_order() -> None:
    c = Cluster()
    c.campaign(1)
    c.propose(1, "c", 1)
    c.stabilize()
    assert len(c.applied[1]) == 1 and c.applied[2] == []  # the leader knows; followers wait for its commit index
    c.tick(1)
    c.stabilize()
    assert c.applied[2] == c.applied[3] == c.applied[1]


def test_a_lagging_follower_catches_up_from_the_leader() -> None:
    c = Cluster()
    c.campaign(1)
    c.isolated = {3}
    for seq in range(1, 6):
        c.propose(1, "c", seq)
        c.commit_round(1)
    c.isolated = set()
    c.tick(1)
    c.stabilize()
    assert c.sent(CatchUpRequest) == [] and c.applied[3] == c.applied[1] and len(c.applied[3]) == 5


def test_any_peer_answers_a_catch_up_request() -> None:
    c = Cluster()
    c.campaign(1)
    for seq in (1, 2):
        c.propose(1, "c", seq)
        c.commit_round(1)
    c.node(2).step(CatchUpRequest(3, 2, 1))
    ready = c.node(2).ready()
    c.node(2).advance(ready)
    (reply,) = ready.messages
    assert isinstance(reply, CatchUp) and [e.slot for e in reply.entries] == [1, 2] and reply.commit == 2


# ---- leases, leader hints, rejections --------------------------------------------------------------------------


def test_a_proposal_at_a_follower_is_rejected_with_a_leader_hint() -> None:
    c = Cluster()
    c.campaign(2)
    c.propose(3, "c", 1)
    (result,) = c.results[3]
    assert result == Rejected("c", 1, 2)
    error = result.error()
    assert isinstance(error, NotLeader) and error.leader_hint == 2


def test_lease_expiry_stops_a_deposed_leader() -> None:
    c = Cluster(lease_ticks=5)
    c.campaign(1)
    c.propose(1, "c", 1)  # in flight when the leader is cut off
    c.isolated = {1}
    c.tick(1, times=4)
    c.deliver()
    assert c.node(1).is_leader()
    c.tick(1, times=3)
    assert not c.node(1).is_leader() and c.node(1).status()["role"] == FOLLOWER
    assert Rejected("c", 1, None) in c.results[1]  # its outcome is unknown: the client must retry elsewhere
    c.inflight.clear()
    c.propose(1, "c", 2)
    assert c.results[1][-1] == Rejected("c", 2, None)
    assert not c.sent(Accept, src=1) and not c.sent(Heartbeat, src=1)  # it no longer acts as leader
    c.campaign(2)
    assert c.node(2).is_leader()


def test_the_lease_holds_while_a_majority_acknowledges() -> None:
    c = Cluster(lease_ticks=5)
    c.campaign(1)
    c.isolated = {3}
    for _ in range(30):
        c.tick(1)
        c.stabilize()
    assert c.node(1).is_leader()


# ---- deduplication -------------------------------------------------------------------------------------------


def test_a_retried_submission_is_applied_once() -> None:
    c = Cluster()
    c.campaign(1)
    c.propose(1, "c", 1, {"type": "TaskDone", "job_id": "j"})
    c.propose(1, "c", 1, {"type": "TaskDone", "job_id": "j"})  # retry while in flight
    c.commit_round(1)
    c.propose(1, "c", 1, {"type": "TaskDone", "job_id": "j"})  # retry after it was applied
    c.drain(1)
    assert [item[1:3] for item in c.applied[1]] == [["c", 1]]
    assert c.results[1] == [Applied("c", 1, 1), Applied("c", 1, 1, duplicate=True)]


def test_dedup_survives_failover_for_a_command_chosen_but_never_acknowledged() -> None:
    c = Cluster()
    c.campaign(1)
    c.propose(1, "c", 1)
    c.deliver(Accept)       # replicas 2 and 3 accept; the leader dies before it hears back
    c.crash(1)
    c.inflight.clear()
    c.campaign(2)           # re-proposes (c, 1) from the promises
    c.propose(2, "c", 1)    # the client's retry at the new leader: already applied, answered with its slot
    c.commit_round(2)
    assert [item[1:3] for item in c.applied[2]] == [["c", 1]]
    assert c.results[2] == [Applied("c", 1, 1, duplicate=True)]
    assert c.applied[3] == c.applied[2]


# ---- snapshots, restarts, recovery --------------------------------------------------------------------------


def committed_cluster(n_commands: int, **config: Any) -> Cluster:
    c = Cluster(**config)
    c.campaign(1)
    for seq in range(1, n_commands + 1):
        c.propose(1, "c", seq, {"n": seq})
        c.commit_round(1)
    return c


def test_compaction_drops_entries_and_persists_the_snapshot_with_the_dedup_table() -> None:
    c = committed_cluster(6)
    node = c.node(1)
    node.compact(4, c.applied[1][:4])
    c.drain(1)
    durable = c.storage[1].load()
    assert durable.snapshot == Snapshot(4, c.applied[1][:4], (("c", 4, 4),))
    assert [e.slot for e in durable.entries] == [5, 6]
    assert node.status()["log_length"] == 2 and node.status()["snapshot_index"] == 4
    with pytest.raises(ValueError, match="compact"):
        node.compact(3, [])


def test_compaction_covers_only_what_the_application_was_handed() -> None:
    c = Cluster()
    c.campaign(1)
    c.propose(1, "c", 1)
    c.deliver(Accept)
    (accepted, *_) = c.sent(Accepted)
    c.node(1).step(accepted)      # slot 1 is chosen and applied in the core, not yet handed out in a Ready
    with pytest.raises(ValueError, match="applied 0"):
        c.node(1).compact(1, [])
    c.drain(1)
    c.node(1).compact(1, c.applied[1])
    c.drain(1)
    assert c.storage[1].load().snapshot.index == 1


def test_a_replica_behind_the_compaction_point_receives_and_loads_the_snapshot() -> None:
    c = Cluster(max_catchup_entries=2)
    c.campaign(1)
    c.isolated = {3}
    for seq in range(1, 7):
        c.propose(1, "c", seq)
        c.commit_round(1)
    c.node(1).compact(5, c.applied[1][:5])
    c.drain(1)
    c.isolated = set()
    c.tick(1)
    c.stabilize()
    assert [s.index for s in c.restores[3]] == [5]
    assert c.applied[3] == c.applied[1] and c.node(3).last_applied() == 6
    c.crash(1)
    c.campaign(3)
    c.propose(3, "c", 5)  # the dedup table came with the snapshot
    assert c.results[3][-1] == Applied("c", 5, None, duplicate=True)


def test_a_restarted_replica_replays_its_snapshot_and_chosen_log_from_storage() -> None:
    c = committed_cluster(5)
    before = list(c.applied[2])
    c.node(2).compact(2, before[:2])
    c.drain(2)
    c.crash(2)
    c.start(2)
    assert c.restores[2][-1].index == 2 and c.applied[2] == before
    assert c.node(2).ballot() == Ballot(1, 1)  # the promise came back from disk


def test_commands_are_opaque_json_and_survive_storage() -> None:
    command = {"type": "TaskDone", "job_id": "j1", "outputs": [{"part": 0, "rows": 10}], "ok": True, "x": None}
    c = Cluster()
    c.campaign(1)
    c.propose(1, "c", 1, command)
    c.commit_round(1)
    c.crash(3)
    c.start(3)
    assert c.applied[3] == [[1, "c", 1, command]]


def test_a_replica_that_lost_its_disk_does_not_vote_until_it_has_recovered() -> None:
    """PML §5.1: a replica with a lost disk may have promised or accepted before; it must not vote blind."""
    c = committed_cluster(3)
    c.crash(3)
    c.start(3, lost_disk=True)
    assert c.node(3).is_recovering() and c.storage[3].load().hard_state == HardState(Ballot(0, 0), 0, True)
    c.propose(1, "c", 4)
    c.deliver()
    assert not c.sent(Accepted, src=3)            # it listens to the leader but does not accept
    c.stabilize()
    c.tick(1)
    c.stabilize()                                 # heartbeat: it learns the commit index and catches up
    assert c.applied[3] == c.applied[1] and c.node(3).is_recovering()
    c.node(3).step(Prepare(2, 3, Ballot(9, 2), 1, 0, 1, False))
    c.drain(3)
    assert not c.sent(Promise, src=3)             # nor does it promise
    c.inflight.clear()
    c.campaign(3)                                 # its own campaign counts only the others' promises
    assert c.node(3).is_leader() and not c.node(3).is_recovering()
    assert c.storage[3].load().hard_state.recovering is False


def test_a_recovering_replica_needs_a_majority_of_the_others() -> None:
    c = committed_cluster(2)
    c.crash(3)
    c.start(3, lost_disk=True)
    c.crash(1)
    c.campaign(3)            # replica 2 alone would make a majority with 3's own vote: not enough
    assert not c.node(3).is_leader() and c.node(3).is_recovering()


def test_a_restart_in_recovery_stays_in_recovery() -> None:
    c = committed_cluster(2)
    c.crash(3)
    c.start(3, lost_disk=True)
    c.tick(1)
    c.stabilize()
    c.crash(3)
    c.start(3)               # storage is no longer empty, but says "recovering"
    assert c.node(3).is_recovering() and c.applied[3] == c.applied[1]


def test_a_single_replica_group_refuses_a_lost_disk() -> None:
    with pytest.raises(ValueError, match="lost disk"):
        Replica(make_config((1,)), 1, rng=random.Random(0), lost_disk=True)


# ---- the Ready contract and impossible transitions ------------------------------------------------------------


def test_input_between_ready_and_advance_is_refused_with_the_state() -> None:
    node = Replica(make_config(), 1, rng=random.Random(0))
    ready = node.ready()
    with pytest.raises(InvariantError, match="replica 1: role follower"):
        node.tick()
    node.advance(ready)
    with pytest.raises(InvariantError, match="not the last one"):
        node.advance(ready)


def test_invalid_role_transitions_raise() -> None:
    c = Cluster()
    c.campaign(1)
    with pytest.raises(InvariantError, match="invalid transition leader -> candidate"):
        c.node(1)._become_candidate(Ballot(5, 1))


def test_a_misaddressed_message_is_refused() -> None:
    node = Replica(make_config(), 1, rng=random.Random(0))
    node.advance(node.ready())
    with pytest.raises(ValueError, match="for 2"):
        node.step(Heartbeat(3, 2, Ballot(1, 3), 0, 0))


def test_the_first_ready_persists_hard_state_before_anything_is_sent() -> None:
    c = Cluster()
    for _ in range(20):
        c.node(1).tick()
        if c.node(1).has_ready():
            break
    ready = c.node(1).ready()
    assert ready.must_sync and ready.hard_state is not None and ready.hard_state.promised == Ballot(1, 1)
    assert all(isinstance(m, Prepare) and m.ballot == Ballot(1, 1) for m in ready.messages)


def test_status_reports_the_documented_fields() -> None:
    c = committed_cluster(2)
    assert c.node(1).status() == {"id": 1, "role": LEADER, "ballot": (1, 1), "commit": 2, "applied": 2,
                                  "log_length": 2, "snapshot_index": 0, "leader_hint": 1, "recovering": False}
    assert c.node(2).last_applied() == 2 and c.node(2).leader_hint() == 1


# ---- JSON forms and layering ------------------------------------------------------------------------------------


SNAP = Snapshot(3, {"jobs": ["j"]}, (("c", 3, 3),))
MESSAGES = [
    Prepare(1, 2, Ballot(1, 1), 4, 7, 99, True),
    Promise(2, 1, Ballot(1, 1), 4, (A1, Entry(5, Ballot(1, 1), NOOP)), 3, 0, 7, 99),
    Accept(1, 2, Ballot(1, 1), (B1,), 3, 8),
    Accepted(2, 1, Ballot(1, 1), (2, 3), 8),
    Nack(2, 1, Ballot(1, 1), Ballot(4, 3)),
    Heartbeat(1, 2, Ballot(1, 1), 3, 9),
    HeartbeatAck(2, 1, Ballot(1, 1), 3, 9),
    CatchUpRequest(3, 1, 2),
    CatchUp(1, 3, SNAP, (B1,), 4),
    CatchUp(1, 3, None, (), 4),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_messages_round_trip_through_json(msg: Message) -> None:
    import json

    assert message_from_json(json.loads(json.dumps(message_to_json(msg)))) == msg


def test_committed_is_what_the_application_sees() -> None:
    c = Cluster()
    c.campaign(1)
    c.propose(1, "c", 1, [1, 2])
    c.stabilize()
    assert Committed(1, "c", 1, [1, 2]) == Committed(*c.applied[1][0])


def test_the_core_imports_no_ray_and_reads_no_clock() -> None:
    code = ("import sys, framework.paxos, framework.paxos.storage; "
            "bad = [m for m in ('ray', 'socket', 'threading', 'asyncio') if m in sys.modules and m == 'ray']; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    import pathlib

    import framework.paxos as pkg

    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        text = path.read_text()
        for banned in ("import ray", "import time", "import socket", "import threading", "monotonic(", "import pickle"):
            assert banned not in text, f"{path.name} uses {banned}"


def test_exported_names_exist() -> None:
    import framework.paxos as pkg

    assert all(hasattr(pkg, name) for name in pkg.__all__)
