"""`Replica`: one Multi-Paxos replica as a pure state machine (no I/O, no clock, no threads).

Inputs: `step(message)`, `tick()`, `propose(client_id, seq, command)`, `compact(index, snapshot_value)`, and
`leader_lost(leader)` (a failure detector's hint, to campaign without waiting out the election timeout).
Output: `ready()` returns a `Ready` (durable writes, messages, chosen commands, proposal results); the caller
persists, sends, applies, then calls `advance(ready)` (see `framework.paxos.ready`).

Each replica is acceptor, learner and (while it leads) proposer:
- Roles swap the tick and reply-handling functions (`_tick_follower`/`_step_follower`, ...); every transition
  logs a line, and a transition the protocol rules out raises `InvariantError`.
- A candidate runs one phase 1 over every slot from its first unchosen slot on, then re-proposes the highest-ballot
  value reported per slot and fills gaps with no-ops (`framework.paxos.phase1`).
- Followers learn chosen slots from the commit index in the leader's Accepts and Heartbeats (an entry accepted
  under the leader's ballot holds the leader's value) and fetch everything else from peers (`CatchUp`).
- A leader that no majority has acknowledged within `lease_ticks` of sending steps down, so a deposed leader stops
  acting before another can be elected; its open proposals are answered `Rejected` (retry; dedup makes it safe).
- A replica that lost its disk starts `recovering`: it never votes, catches up, then campaigns counting only
  other replicas' promises, under a ballot each of them must find strictly above its own promise. A majority of
  the others intersects every quorum that counted a vote it forgot, so its phase 1 recovers every value and
  promise that vote protected, and its ballot is above any its lost self led with (Paxos Made Live §5.1, made
  strict). A campaign nonce keeps promises sent to its lost self from counting.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from framework.paxos.ballot import ZERO_BALLOT, Ballot
from framework.paxos.clients import ClientTable
from framework.paxos.config import Config
from framework.paxos.errors import InvariantError
from framework.paxos.leader import Leadership
from framework.paxos.log import SlotLog
from framework.paxos.messages import (Accept, Accepted, CatchUp, CatchUpRequest, Heartbeat, HeartbeatAck, Message,
                                      Nack, Prepare, Promise)
from framework.paxos.phase1 import Campaign
from framework.paxos.ready import Applied, Committed, ProposalResult, Ready, Rejected
from framework.paxos.records import NOOP, DurableState, Entry, HardState, Proposal, Snapshot, Value

__all__ = ["CANDIDATE", "FOLLOWER", "LEADER", "Replica"]

logger = logging.getLogger(__name__)

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"


@dataclass
class _Outbox:
    """What the next Ready will carry."""

    entries: dict[int, Entry] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    restore: Snapshot | None = None
    messages: list[Message] = field(default_factory=list)
    committed: list[Committed] = field(default_factory=list)
    results: list[ProposalResult] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries or self.snapshot or self.restore or self.messages or self.committed
                    or self.results)

    def drop_through(self, index: int) -> None:
        """Forget writes and applications a snapshot at `index` supersedes."""
        self.entries = {s: e for s, e in self.entries.items() if s > index}
        self.committed = [c for c in self.committed if c.slot > index]


class Replica:
    """One replica; see the module docstring. Drive it from one thread."""

    def __init__(self, config: Config, replica_id: int, *, rng: random.Random,
                 durable: DurableState | None = None, lost_disk: bool = False) -> None:
        """Start (or restart) replica `replica_id` from `durable` (what `Storage.load()` returned).

        `lost_disk`: the caller knows this replica existed before, yet `durable` is empty (its disk was lost or
        replaced). It then starts non-voting until it has safely rebuilt its acceptor state.
        """
        config.validate()
        if replica_id not in config.replica_ids:
            raise ValueError(f"replica {replica_id} is not in {config.replica_ids}")
        durable = durable or DurableState()
        hard = durable.hard_state or HardState(ZERO_BALLOT, 0)
        self.id = replica_id
        self._config = config
        self._peers = tuple(p for p in config.replica_ids if p != replica_id)
        self._rng = rng
        self._promised = hard.promised
        self._highest_seen = hard.promised
        self._recovering = hard.recovering or (lost_disk and durable.is_empty())
        if self._recovering and not self._peers:
            raise ValueError("a single-replica group cannot recover a lost disk: nobody else holds the log")
        # what storage holds; a new replica's first Ready writes its (zero) hard state
        self._persisted = durable.hard_state or HardState(ZERO_BALLOT, -1)
        self._log = SlotLog(durable.snapshot, durable.entries, hard.commit)
        self._clients = ClientTable(durable.snapshot.clients if durable.snapshot else ())
        self._out = _Outbox(restore=durable.snapshot)
        self._handed: Ready | None = None
        self._app_applied = self._log.applied  # the last slot the application has been handed (advanced)
        self._now = 0
        self._leader_hint: int | None = None
        self._leader_commit = 0  # highest commit index a leader has told us about
        self._recovery_target: int | None = None
        self._catchup_due = 0
        self._votes: Campaign | None = None
        self._lead: Leadership | None = None
        self._role = FOLLOWER
        self._become_follower(None)
        self._apply_committed()

    # ---- public inputs -----------------------------------------------------------------------------------------

    def step(self, msg: Message) -> None:
        """Handle one message addressed to this replica."""
        self._check_idle()
        if msg.dst != self.id:
            raise ValueError(f"replica {self.id} got a message for {msg.dst}: {msg!r}")
        handler = _ACCEPTOR_HANDLERS.get(type(msg))
        if handler is not None:
            handler(self, msg)
        else:
            self._step_role(self, msg)

    def tick(self) -> None:
        """Advance this replica's clock by one tick (elections, heartbeats, lease, retries)."""
        self._check_idle()
        self._now += 1
        self._tick_role(self)

    def propose(self, client_id: str, seq: int, command: Any) -> None:
        """Submit a client command; the answer (`Applied` or `Rejected`) comes in a later Ready's `results`."""
        self._check_idle()
        if not isinstance(client_id, str) or not isinstance(seq, int):
            raise TypeError(f"client_id must be str and seq int, got {client_id!r}, {seq!r}")
        if self._lead is None:
            self._out.results.append(Rejected(client_id, seq, self._leader_hint))
        elif not self._clients.is_new(client_id, seq):
            self._out.results.append(Applied(client_id, seq, self._clients.slot_of(client_id, seq), True))
        else:
            self._lead.enqueue(Proposal(client_id, seq, command))

    def leader_lost(self, leader: int) -> None:
        """The caller learned out of band that `leader` is gone (its process died): act now as if the election
        timeout had expired, instead of waiting it out. Ignored unless `leader` is the leader we follow."""
        self._check_idle()
        if self._role == FOLLOWER and leader != self.id and self._leader_hint == leader:
            logger.info("replica %s was told leader %s is gone", self.id, leader)
            self._leader_hint = None
            self._on_election_timeout()

    def campaign_if_new(self) -> None:
        """The caller saw a majority of the group up, and this replica has never promised a ballot nor learned a
        leader: start the first election now rather than wait out the election timeout (0.8-1.6 s off every new
        group's start). Campaigning is always safe; a replica with any history ignores this, so a restarted
        replica never deposes a leader it has not heard from yet."""
        self._check_idle()
        if (self._role == FOLLOWER and self._leader_hint is None and self._promised == ZERO_BALLOT
                and not self._recovering and self._log.commit == 0):
            logger.info("replica %s starts the first election of a new group", self.id)
            self._campaign()

    def compact(self, applied_index: int, snapshot_value: Any) -> None:
        """The application's state after applying slots up to `applied_index` is `snapshot_value` (JSON-safe).

        The next Ready persists the snapshot; the log drops entries up to `applied_index`.
        """
        self._check_idle()
        log = self._log
        if not log.snapshot_index < applied_index <= self._app_applied:
            raise ValueError(f"compact({applied_index}) needs snapshot index {log.snapshot_index} < index <= "
                             f"applied {self._app_applied}")
        snapshot = Snapshot(applied_index, snapshot_value, self._clients_at(applied_index).rows())
        log.compact(snapshot)
        self._out.snapshot = snapshot
        self._out.drop_through(applied_index)

    # ---- Ready / advance ---------------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._handed is not None:
            return False
        return (bool(self._out) or self._can_flush() or self._promise_moved()
                or self._persisted.commit != self._log.commit)

    def ready(self) -> Ready:
        """Everything produced since the last `advance`; act on it in order, then call `advance(ready)`."""
        self._check_idle()
        if self._can_flush():
            self._flush_proposals()
        out, promise_moved = self._out, self._promise_moved()
        hard = self._hard_state() if promise_moved or self._persisted.commit != self._log.commit else None
        entries = tuple(sorted(out.entries.values(), key=_slot)) if out.entries else ()
        self._handed = Ready(
            hard_state=hard, entries=entries, snapshot=out.snapshot, restore=out.restore,
            messages=tuple(out.messages), committed=tuple(out.committed), results=tuple(out.results),
            must_sync=promise_moved or bool(entries) or out.snapshot is not None)
        return self._handed

    def _promise_moved(self) -> bool:
        """The promise or the recovery flag changed since the last persisted hard state (a must-sync change)."""
        persisted = self._persisted
        return persisted.promised != self._promised or persisted.recovering != self._recovering

    def advance(self, ready: Ready) -> None:
        """The caller has persisted, sent and applied `ready`."""
        if ready is not self._handed:
            raise InvariantError(f"advance() got a Ready that is not the last one handed out ({self._state()})")
        if ready.hard_state is not None:
            self._persisted = ready.hard_state
        self._app_applied = self._log.applied
        self._handed = None
        self._out = _Outbox()

    # ---- queries ----------------------------------------------------------------------------------------------

    def is_leader(self) -> bool:
        return self._role == LEADER

    def leader_hint(self) -> int | None:
        return self.id if self._role == LEADER else self._leader_hint

    def lease_ticks_left(self) -> int:
        """While leading: ticks until the lease runs out unless a majority acknowledges something newer (the
        leader steps down then). Not leading: -1."""
        if self._lead is None or self._role != LEADER:
            return -1
        return self._lead.lease_left(self._now, self._config.lease_ticks)

    def ballot(self) -> Ballot:
        """The highest ballot this replica promised (its own ballot while it is candidate or leader)."""
        return self._promised

    def last_applied(self) -> int:
        """The last slot whose commands the application has been handed in an advanced Ready."""
        return self._app_applied

    def is_recovering(self) -> bool:
        return self._recovering

    def status(self) -> dict[str, Any]:
        return {"id": self.id, "role": self._role, "ballot": tuple(self._promised), "commit": self._log.commit,
                "applied": self._app_applied, "log_length": len(self._log),
                "snapshot_index": self._log.snapshot_index, "leader_hint": self.leader_hint(),
                "recovering": self._recovering}

    # ---- role transitions -------------------------------------------------------------------------------------

    def _become_follower(self, hint: int | None) -> None:
        if self._lead is not None:
            for client_id, seq in sorted(self._lead.waiting):
                self._out.results.append(Rejected(client_id, seq, hint))
        if self._role != FOLLOWER:
            logger.info("replica %s became follower at ballot %s (was %s)", self.id, self._promised, self._role)
        self._role, self._lead, self._votes = FOLLOWER, None, None
        # unbound functions, not bound methods: no reference cycle, so a dropped replica is freed at once
        self._tick_role: Callable[[Replica], None] = Replica._tick_follower
        self._step_role: Callable[[Replica, Message], None] = Replica._step_follower
        self._leader_hint = hint
        self._reset_election_timer()

    def _campaign(self) -> None:
        """Start phase 1 under a ballot above every one seen."""
        self._become_candidate(self._highest_seen.successor(self.id))

    def _become_candidate(self, ballot: Ballot) -> None:
        if self._role == LEADER:
            raise InvariantError(f"invalid transition leader -> candidate ({self._state()})")
        self._set_promised(ballot)  # our own promise goes to disk before any Prepare leaves
        votes = Campaign(ballot, self._log.commit + 1, self._config.quorum, self._rng.getrandbits(62))
        if not self._recovering:  # a recovering replica's own state may have forgotten votes: it does not count
            votes.add(self.id, self._log.entries_from(votes.first_open), self._log.commit,
                      self._log.snapshot_index, self._now)
        self._role, self._votes, self._leader_hint = CANDIDATE, votes, None
        self._tick_role, self._step_role = Replica._tick_candidate, Replica._step_candidate
        self._reset_election_timer()
        logger.info("replica %s became candidate at ballot %s from slot %s", self.id, ballot, votes.first_open)
        for peer in self._peers:
            self._send(Prepare(self.id, peer, ballot, votes.first_open, self._now, votes.nonce, self._recovering))
        self._maybe_win()

    def _maybe_win(self) -> None:
        votes = self._votes
        if votes is None:
            return
        if votes.ahead_peer is not None:
            ahead = votes.ahead_peer
            logger.info("replica %s lags replica %s's snapshot; catching up before leading", self.id, ahead)
            self._become_follower(None)
            self._request_catchup(ahead, force=True)
        elif votes.won():
            self._become_leader(votes)

    def _become_leader(self, votes: Campaign) -> None:
        if self._role != CANDIDATE:
            raise InvariantError(f"invalid transition {self._role} -> leader ({self._state()})")
        self._lead = Leadership(votes.ballot, self._peers, self._config.quorum, votes.echo)
        self._role, self._votes, self._leader_hint, self._recovering = LEADER, None, self.id, False
        self._tick_role, self._step_role = Replica._tick_leader, Replica._step_leader
        self._heartbeat_elapsed = 0
        logger.info("replica %s became leader at ballot %s", self.id, votes.ballot)
        for entry in votes.chosen.values():
            self._learn(entry)
        self._advance_commit()
        self._take_over_slots(votes)
        self._broadcast_heartbeat()

    def _take_over_slots(self, votes: Campaign) -> None:
        """Re-propose, under our ballot, every open slot phase 1 saw: highest-ballot value, else a no-op."""
        lead = self._lead
        assert lead is not None
        last = max(votes.max_slot, self._log.max_slot(), self._log.commit)
        entries = []
        for slot in range(votes.first_open, last + 1):
            if not self._log.is_chosen(slot):
                best = votes.value_for(slot)
                entries.append(self._start_slot(slot, best.value if best is not None else NOOP))
        lead.next_slot = last + 1
        self._send_accepts(entries)
        self._advance_commit()

    def _step_down(self, hint: int | None = None) -> None:
        if self._role != FOLLOWER:
            self._become_follower(hint)

    # ---- ticks ------------------------------------------------------------------------------------------------

    def _tick_follower(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._election_timeout:
            self._on_election_timeout()

    def _on_election_timeout(self) -> None:
        if self._recovering and not self._caught_up_for_recovery():
            self._request_catchup(self._leader_hint, force=True)
            self._reset_election_timer()
            return
        self._campaign()

    def _tick_candidate(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._election_timeout:
            self._campaign()

    def _tick_leader(self) -> None:
        lead = self._lead
        assert lead is not None
        if not lead.lease_valid(self._now, self._config.lease_ticks):
            logger.info("replica %s lost its lease at ballot %s", self.id, lead.ballot)
            self._become_follower(None)
            return
        self._heartbeat_elapsed += 1
        if self._heartbeat_elapsed >= self._config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()
            for peer, entries in lead.stale(self._now, self._config.resend_ticks).items():
                self._send(Accept(self.id, peer, lead.ballot, tuple(entries), self._log.commit, self._now))

    def _reset_election_timer(self) -> None:
        self._election_elapsed = 0
        self._election_timeout = self._rng.randint(self._config.election_ticks_min, self._config.election_ticks_max)

    def _caught_up_for_recovery(self) -> bool:
        """Caught up with the commit index leaders reported one election timeout ago (or now, the first time)."""
        target = self._leader_commit if self._recovery_target is None else self._recovery_target
        self._recovery_target = self._leader_commit
        return self._log.commit >= target

    # ---- acceptor and learner: every role ---------------------------------------------------------------------

    def _on_prepare(self, msg: Prepare) -> None:
        self._observe(msg.ballot)
        if self._recovering:
            return
        if msg.ballot < self._promised or (msg.recovering and msg.ballot == self._promised):
            self._send(Nack(self.id, msg.src, msg.ballot, self._promised))
            return
        if msg.ballot > self._promised:
            self._step_down()
            self._set_promised(msg.ballot)
        self._reset_election_timer()
        log = self._log
        self._send(Promise(self.id, msg.src, msg.ballot, msg.first_open, log.entries_from(msg.first_open),
                           log.commit, log.snapshot_index, msg.sent_at, msg.nonce))

    def _on_accept(self, msg: Accept) -> None:
        if not self._admit_leader(msg.ballot, msg.src, msg.commit):
            return
        if msg.ballot > self._promised:
            self._set_promised(msg.ballot)
        slots = tuple(slot for slot in map(self._accept_entry, msg.entries) if slot is not None)
        self._send(Accepted(self.id, msg.src, msg.ballot, slots, msg.sent_at))
        self._learn_commit(msg.ballot, msg.commit, msg.src)

    def _on_heartbeat(self, msg: Heartbeat) -> None:
        if not self._admit_leader(msg.ballot, msg.src, msg.commit):
            return
        self._learn_commit(msg.ballot, msg.commit, msg.src)
        self._send(HeartbeatAck(self.id, msg.src, msg.ballot, self._log.commit, msg.sent_at))

    def _admit_leader(self, ballot: Ballot, leader: int, commit: int) -> bool:
        """Common gate of Accept and Heartbeat; True when we should act on the message as a voter."""
        self._observe(ballot)
        if self._recovering:  # listen (to catch up) but never vote or acknowledge
            self._leader_hint = leader
            self._learn_commit(ballot, commit, leader)
            return False
        if ballot < self._promised:
            self._send(Nack(self.id, leader, ballot, self._promised))
            return False
        self._step_down(leader)  # a ballot at or above our promise from another replica outranks our own
        self._leader_hint = leader
        self._reset_election_timer()
        return True

    def _accept_entry(self, entry: Entry) -> int | None:
        """Vote for `entry`; the slot to acknowledge, or None to stay silent on it."""
        log = self._log
        if entry.slot <= log.snapshot_index:
            return entry.slot  # chosen and compacted here; the leader's value is the chosen one
        if log.is_chosen(entry.slot):
            known = log.get(entry.slot)
            if known is not None and known.value != entry.value and entry.ballot < known.ballot:
                # A late accept of an older leader, for a slot since chosen under a higher ballot by a majority
                # that never included us (we still hold the older promise): its value was never chosen and never
                # will be. Silence, not a vote for it.
                return None
            if known is None or known.value != entry.value:
                raise InvariantError(f"accept {entry} conflicts with chosen {known} ({self._state()})")
            return entry.slot
        log.accept(entry)
        self._out.entries[entry.slot] = entry
        return entry.slot

    def _learn_commit(self, ballot: Ballot, commit: int, leader: int) -> None:
        if commit > self._leader_commit:
            self._leader_commit = commit
        if commit <= self._log.commit:
            return
        self._log.mark_chosen_at(ballot, commit)
        self._advance_commit()
        if self._log.commit < commit:
            self._request_catchup(leader)

    def _on_catchup_request(self, msg: CatchUpRequest) -> None:
        log = self._log
        if log.commit < msg.first:
            return
        snapshot = log.snapshot if msg.first <= log.snapshot_index else None
        entries = log.chosen_entries(msg.first, self._config.max_catchup_entries)
        self._send(CatchUp(self.id, msg.src, snapshot, entries, log.commit))

    def _on_catchup(self, msg: CatchUp) -> None:
        if self._role == LEADER:
            return  # a leader knows every slot it proposes in; a stale reply could only mislead its commit index
        if msg.snapshot is not None and msg.snapshot.index > self._log.commit:
            self._install_snapshot(msg.snapshot)
        for entry in msg.entries:
            self._learn(entry)
        self._advance_commit()
        if self._log.commit < msg.commit:
            self._request_catchup(msg.src, force=True)

    def _request_catchup(self, peer: int | None, force: bool = False) -> None:
        if peer is None or peer == self.id or (not force and self._now < self._catchup_due):
            return
        self._catchup_due = self._now + self._config.resend_ticks
        self._send(CatchUpRequest(self.id, peer, self._log.commit + 1))

    def _learn(self, entry: Entry) -> None:
        """Record `entry.value` as chosen at `entry.slot`."""
        log = self._log
        if entry.slot <= log.snapshot_index:
            return
        known = log.get(entry.slot)
        if log.is_chosen(entry.slot):
            if known is None or known.value != entry.value:
                raise InvariantError(f"learned {entry} conflicts with chosen {known} ({self._state()})")
            return
        if known is not None and known.ballot > entry.ballot:
            entry = Entry(entry.slot, known.ballot, entry.value)  # keep our promise-relevant ballot monotone
        log.learn(entry)
        self._out.entries[entry.slot] = entry

    def _install_snapshot(self, snapshot: Snapshot) -> None:
        logger.info("replica %s installs a snapshot at slot %s", self.id, snapshot.index)
        self._log.install(snapshot)
        self._clients = ClientTable(snapshot.clients)
        self._out.drop_through(snapshot.index)
        self._out.snapshot = self._out.restore = snapshot

    # ---- proposer replies: swapped per role ---------------------------------------------------------------------

    def _step_follower(self, msg: Message) -> None:
        """Replies to a candidacy or leadership we no longer hold: nothing to do."""

    def _step_candidate(self, msg: Message) -> None:
        votes = self._votes
        assert votes is not None
        if isinstance(msg, Promise) and msg.ballot == votes.ballot and msg.nonce == votes.nonce:
            votes.add(msg.src, msg.entries, msg.commit, msg.snapshot_index, msg.sent_at)
            self._maybe_win()
        elif isinstance(msg, Nack) and msg.ballot == votes.ballot and msg.promised != votes.ballot:
            self._on_outranked(msg)  # (a Nack at our own ballot answers a duplicate of a recovering Prepare)

    def _step_leader(self, msg: Message) -> None:
        lead = self._lead
        assert lead is not None
        if isinstance(msg, Accepted) and msg.ballot == lead.ballot:
            lead.heard(msg.src, msg.sent_at)
            chosen = [slot for slot in msg.slots if lead.ack(slot, msg.src)]
            for slot in chosen:
                self._log.mark_chosen(slot)
            if chosen:
                self._advance_commit()
        elif isinstance(msg, HeartbeatAck) and msg.ballot == lead.ballot:
            lead.heard(msg.src, msg.sent_at)
        elif isinstance(msg, Nack) and msg.ballot == lead.ballot:
            self._on_outranked(msg)

    def _on_outranked(self, msg: Nack) -> None:
        self._observe(msg.promised)
        logger.info("replica %s outranked by ballot %s", self.id, msg.promised)
        self._become_follower(None)

    # ---- proposing ----------------------------------------------------------------------------------------------

    def _can_flush(self) -> bool:
        lead = self._lead
        return lead is not None and bool(lead.queue) and lead.next_slot - 1 - self._log.commit < self._config.window

    def _flush_proposals(self) -> None:
        """Give queued proposals slots, `max_batch` per slot, while the window has room."""
        entries = []
        while self._can_flush():
            lead = self._lead
            assert lead is not None
            entries.append(self._start_slot(lead.next_slot, lead.take_batch(self._config.max_batch)))
            lead.next_slot += 1
        self._send_accepts(entries)
        self._advance_commit()

    def _start_slot(self, slot: int, value: Value) -> Entry:
        lead = self._lead
        assert lead is not None
        entry = Entry(slot, lead.ballot, value)
        self._log.accept(entry)
        self._out.entries[slot] = entry
        if lead.start(entry, self.id, self._now):
            self._log.mark_chosen(slot)
        return entry

    def _send_accepts(self, entries: list[Entry]) -> None:
        lead = self._lead
        if not entries or lead is None:
            return
        batch = tuple(entries)
        for peer in self._peers:
            self._send(Accept(self.id, peer, lead.ballot, batch, self._log.commit, self._now))

    def _broadcast_heartbeat(self) -> None:
        lead = self._lead
        assert lead is not None
        for peer in self._peers:
            self._send(Heartbeat(self.id, peer, lead.ballot, self._log.commit, self._now))

    # ---- applying ------------------------------------------------------------------------------------------------

    def _advance_commit(self) -> None:
        if self._log.advance_commit() or self._log.applied < self._log.commit:
            self._apply_committed()

    def _apply_committed(self) -> None:
        log = self._log
        while log.applied < log.commit:
            slot = log.applied + 1
            entry = log.get(slot)
            if entry is None:
                raise InvariantError(f"slot {slot} is below commit but not in the log ({self._state()})")
            for proposal in entry.value or ():
                self._apply_proposal(slot, proposal)
            log.applied = slot

    def _apply_proposal(self, slot: int, p: Proposal) -> None:
        new = self._clients.record(p.client_id, p.seq, slot)
        if new:
            self._out.committed.append(Committed(slot, p.client_id, p.seq, p.command))
        key = (p.client_id, p.seq)
        if self._lead is not None and key in self._lead.waiting:
            self._lead.waiting.discard(key)
            where = slot if new else self._clients.slot_of(p.client_id, p.seq)
            self._out.results.append(Applied(p.client_id, p.seq, where, not new))

    def _clients_at(self, index: int) -> ClientTable:
        """The dedup table as it was right after applying slot `index` (between the snapshot and `applied`)."""
        if index == self._log.applied:
            return self._clients.copy()
        base = self._log.snapshot
        table = ClientTable(base.clients if base is not None else ())
        for slot in range(self._log.snapshot_index + 1, index + 1):
            entry = self._log.get(slot)
            assert entry is not None, f"applied slot {slot} missing from the log"
            table.apply_value(slot, entry.value)
        return table

    # ---- small helpers -------------------------------------------------------------------------------------------

    def _send(self, msg: Message) -> None:
        self._out.messages.append(msg)

    def _observe(self, ballot: Ballot) -> None:
        if ballot > self._highest_seen:
            self._highest_seen = ballot

    def _set_promised(self, ballot: Ballot) -> None:
        if ballot < self._promised:
            raise InvariantError(f"promise would go back from {self._promised} to {ballot} ({self._state()})")
        self._promised = ballot
        self._observe(ballot)

    def _hard_state(self) -> HardState:
        return HardState(self._promised, self._log.commit, self._recovering)

    def _check_idle(self) -> None:
        if self._handed is not None:
            raise InvariantError(f"call advance() on the last Ready before new input ({self._state()})")

    def _state(self) -> str:
        return (f"replica {self.id}: role {self._role}, promised {self._promised}, commit {self._log.commit}, "
                f"applied {self._log.applied}, snapshot {self._log.snapshot_index}, "
                f"recovering {self._recovering}, tick {self._now}")


def _slot(entry: Entry) -> int:
    return entry.slot


_ACCEPTOR_HANDLERS: dict[type, Callable[[Replica, Any], None]] = {
    Prepare: Replica._on_prepare,
    Accept: Replica._on_accept,
    Heartbeat: Replica._on_heartbeat,
    CatchUpRequest: Replica._on_catchup_request,
    CatchUp: Replica._on_catchup,
}
