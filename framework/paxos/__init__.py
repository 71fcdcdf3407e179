"""Paxflow's consensus core: Multi-Paxos as a pure state machine, plus the durable storage it writes to.

    from framework.paxos import Config, Replica, FileStorage

    storage = FileStorage("/var/lib/paxflow/master-1")
    durable = storage.load()
    replica = Replica(Config((1, 2, 3)), 1, rng=random.Random(seed), durable=durable,
                      lost_disk=existed_before and durable.is_empty())
    # on each message / timer tick / client request: replica.step(msg) / replica.tick() / replica.propose(...)
    while replica.has_ready():
        ready = replica.ready()
        storage.persist(ready)                      # 1. durable writes first (fsync'd when ready.must_sync)
        transport.send(ready.messages)              # 2. then the messages
        if ready.restore is not None:               # 3. then the application: a snapshot to load first,
            app = App.from_snapshot(ready.restore.value)
        for c in ready.committed:                   #    chosen commands in slot order, each exactly once,
            app.apply(c.command)
        answer(ready.results)                       #    and the answers to proposals
        replica.advance(ready)                      # 4. then advance
    # now and then: replica.compact(replica.last_applied(), app.snapshot())

Modules: `ballot` (ballot order), `records` (values, entries, hard state, snapshot), `messages`, `config`,
`log` (slot log), `phase1` (campaign tally), `leader` (proposer state), `clients` (dedup table), `core` (the
replica), `ready` (its output), `codec` (JSON forms), `wal` (framed log file), `storage` (Storage, MemoryStorage,
FileStorage).
"""

from framework.paxos.ballot import ZERO_BALLOT, Ballot
from framework.paxos.config import Config
from framework.paxos.core import CANDIDATE, FOLLOWER, LEADER, Replica
from framework.paxos.errors import ConsensusError, InvariantError, NotLeader
from framework.paxos.messages import (Accept, Accepted, CatchUp, CatchUpRequest, Heartbeat, HeartbeatAck, Message,
                                      Nack, Prepare, Promise)
from framework.paxos.ready import Applied, Committed, ProposalResult, Ready, Rejected
from framework.paxos.records import NOOP, DurableState, Entry, HardState, Proposal, Snapshot, Value
from framework.paxos.storage import FileStorage, MemoryStorage, Storage
from framework.paxos.wal import CorruptFile, WriteAheadLog

__all__ = [
    "Accept", "Accepted", "Applied", "Ballot", "CANDIDATE", "CatchUp", "CatchUpRequest", "Committed", "Config",
    "ConsensusError", "CorruptFile", "DurableState", "Entry", "FOLLOWER", "FileStorage", "HardState", "Heartbeat",
    "HeartbeatAck", "InvariantError", "LEADER", "MemoryStorage", "Message", "NOOP", "Nack", "NotLeader", "Prepare",
    "Promise", "Proposal", "ProposalResult", "Ready", "Rejected", "Replica", "Snapshot", "Storage", "Value",
    "WriteAheadLog", "ZERO_BALLOT",
]
