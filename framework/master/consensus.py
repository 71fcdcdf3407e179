"""The replica's consensus room: the Multi-Paxos core on the actor's event loop, its WAL, its timer, its transport,
and the master state machine the chosen log drives.

`ConsensusNode` owns everything between a message arriving and a command being applied: it persists before it
sends, applies chosen commands in slot order, answers proposals, snapshots the state now and then, and tells the
rest of the replica (through two callbacks) when a command was applied and when this replica starts or stops
leading. It knows nothing of Ray: messages leave through a `Transport`, so the same class runs in tests on one
asyncio loop with an in-memory transport.

The event loop is shared with the leader's job drivers, so nothing here may block it: a blocked loop delays the
heartbeats and acknowledgements that keep the lease, and a healthy leader is deposed. The tick timer measures how
late each tick fires (`loop_lag`), so a stall shows in `paxflow status` and the tests, not only as a leader change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
import uuid
from collections import defaultdict
from typing import Any, Callable, Protocol, Sequence

from framework.master.state import Command, MasterState, command_from_dict, restore, snapshot
from framework.paxos import Applied, Config, FileStorage, Replica, Storage
from framework.paxos.codec import message_from_json, message_to_json

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05
#: take a snapshot and truncate the log every this many applied slots
SNAPSHOT_EVERY = 2000
#: a tick this late is logged (the loop was blocked or starved that long)
LAG_WARN_S = 0.25


def group_config(replica_ids: Sequence[int]) -> Config:
    """Timing in 50 ms ticks: heartbeat every 5 ticks, lease 12 ticks, election timeout 16-32 ticks (0.8-1.6 s).

    A dead leader is noticed through its failed `hold` calls within milliseconds, so these only bound how long a
    hung or cut-off leader holds the group up. Shorter leases deposed healthy leaders on this loaded 2-core
    machine (8 elections in 5 s at 150 ms).
    """
    return Config(tuple(replica_ids), election_ticks_min=16, election_ticks_max=32, heartbeat_ticks=5,
                  lease_ticks=12, window=16, max_batch=64, resend_ticks=3)


class NotLeaderError(Exception):
    """This replica is not (or no longer) the leader; `hint` names the one it believes is."""

    def __init__(self, hint: int | None):
        super().__init__(f"not the leader (leader hint: {hint})")
        self.hint = hint


class Transport(Protocol):
    """How a batch of encoded messages reaches a peer. It must not block the loop, and it may drop a batch:
    Paxos resends."""

    async def send(self, dst: int, batch: list) -> None: ...


class ConsensusNode:
    """One replica's Paxos core, WAL and state machine, driven from one asyncio loop."""

    def __init__(self, replica_id: int, replica_ids: Sequence[int], wal_dir: str, transport: Transport, *,
                 fsync: bool = True, lost_disk: bool = False,
                 on_apply: Callable[[Command], None] | None = None,
                 on_leading: Callable[[bool], None] | None = None,
                 storage: Storage | None = None, rng: random.Random | None = None) -> None:
        """`storage`: where the WAL goes (default: a FileStorage in `wal_dir`; the simulator passes a
        MemoryStorage). `rng`: the election timers' randomness (default: seeded from uuid4; the simulator seeds it)."""
        self.id = replica_id
        self.ids = list(replica_ids)
        self.dir = wal_dir
        self.transport = transport
        self.storage = storage if storage is not None else FileStorage(wal_dir, fsync=fsync)
        self.core = Replica(group_config(self.ids), replica_id, rng=rng or random.Random(uuid.uuid4().int),
                            durable=self.storage.load(), lost_disk=lost_disk)
        self.state = MasterState()
        self.on_apply = on_apply or (lambda cmd: None)
        self.on_leading = on_leading or (lambda leading: None)
        self.leading = False
        self.lease_until = 0.0  # while leading: the loop time before which the lease surely holds
        self._clock: Callable[[], float] = time.monotonic  # the loop's clock, once started
        self.client_id = f"replica-{replica_id}-{uuid.uuid4().hex[:8]}"  # this incarnation's proposals
        self.seq = 0
        self.pending: dict[tuple[str, int], asyncio.Future] = {}
        self.snapshot_at = 0
        self.ticker: asyncio.Task | None = None
        self.on_tick: list[Callable[[], None]] = []
        self.up: set[int] = set()  # peers a failure detector has reached
        self.max_lag = 0.0  # the latest a tick has fired, in seconds past its due time
        self.stalls: list[dict] = []  # the last ticks later than LAG_WARN_S: when, and how late

    def start(self) -> None:
        """Replay what the WAL holds into the state machine, then start the tick timer (once)."""
        if self.ticker is None:
            self._clock = asyncio.get_running_loop().time
            self.drain()
            self.ticker = asyncio.ensure_future(self._tick_loop())

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + TICK_SECONDS
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            lag = loop.time() - due
            due = max(due + TICK_SECONDS, loop.time())  # a late tick is one tick, not a burst of catch-up ticks
            if lag > self.max_lag:
                self.max_lag = lag
            if lag > LAG_WARN_S:
                self.stalls = (self.stalls + [{"time": time.time(), "lag_s": round(lag, 3)}])[-20:]
                log.warning("replica %s: tick %.0f ms late (event loop blocked or starved)", self.id, lag * 1000)
            try:
                self.core.tick()
                self.drain()
                for hook in self.on_tick:
                    hook()
            except Exception:  # a broken tick must not stop the replica
                log.exception("replica %s tick failed", self.id)

    def deliver(self, batch: Sequence[str]) -> None:
        """Messages from a peer, encoded."""
        for data in batch:
            self.core.step(message_from_json(data))
        self.drain()

    def peer_up(self, peer: int) -> None:
        """A failure detector reached `peer`. Once a majority is up, the lowest live id of a new group campaigns
        at once (the others would only wait out their election timeouts)."""
        self.up.add(peer)
        live = self.up | {self.id}
        if len(live) >= len(self.ids) // 2 + 1 and self.id == min(live):
            self.core.campaign_if_new()
            self.drain()

    def leader_lost(self, peer: int) -> None:
        """A failure detector saw `peer` die: if it led, campaign now rather than wait out the election timeout."""
        self.up.discard(peer)
        if self.core.leader_hint() == peer:
            log.warning("replica %s: leader %s is gone; campaigning", self.id, peer)
            self.core.leader_lost(peer)
            self.drain()

    def drain(self) -> None:
        """Act on every Ready in the order the core requires: persist, send, apply, advance."""
        while self.core.has_ready():
            ready = self.core.ready()
            if ready.has_writes():
                try:
                    self.storage.persist(ready)
                except OSError:
                    # A replica that cannot write its WAL (full or failed disk) must not go on voting or sending:
                    # crash, as etcd panics, so it is started again and recovers from what is on disk.
                    log.exception("replica %s cannot persist to %s; restarting", self.id, self.dir)
                    os._exit(1)
            outbox: dict[int, list] = defaultdict(list)
            for msg in ready.messages:
                outbox[msg.dst].append(message_to_json(msg))
            for dst, batch in outbox.items():
                asyncio.ensure_future(self.transport.send(dst, batch))
            if ready.restore is not None and ready.restore.value is not None:
                self.state = restore(ready.restore.value)
                self.snapshot_at = ready.restore.index  # (else the next drain compacts at the snapshot's own index)
            for entry in ready.committed:
                for cmd in entry.command:
                    command = command_from_dict(cmd)
                    self.state.apply(command)
                    self.on_apply(command)
            for result in ready.results:
                fut = self.pending.pop((result.client_id, result.seq), None)
                if fut is not None and not fut.done():
                    if isinstance(result, Applied):
                        fut.set_result(result.slot)
                    else:
                        fut.set_exception(NotLeaderError(result.leader_hint))
            self.core.advance(ready)
        self._compact_if_due()
        leader = self.core.is_leader()
        # the core steps down at the first tick past its lease; ticks are never early, so until then it leads
        self.lease_until = self._clock() + max(0, self.core.lease_ticks_left()) * TICK_SECONDS if leader else 0.0
        if leader != self.leading:
            self.leading = leader
            self.on_leading(leader)

    def _compact_if_due(self) -> None:
        applied = self.core.last_applied()
        if applied - self.snapshot_at >= SNAPSHOT_EVERY and not self.core.has_ready():
            # a copy: snapshot() shares lists the state goes on appending to (leaders, a job's dead stores and
            # rings), and the core keeps this value to send to lagging peers long after
            self.core.compact(applied, json.loads(json.dumps(snapshot(self.state))))
            self.snapshot_at = applied

    async def propose(self, commands: Sequence[Command]) -> None:
        """Replicate commands; returns once they are chosen and applied here. Raises NotLeaderError."""
        if not self.core.is_leader():
            raise NotLeaderError(self.core.leader_hint())
        self.seq += 1
        key = (self.client_id, self.seq)
        fut = asyncio.get_running_loop().create_future()
        self.pending[key] = fut
        # as plain JSON (tuples made lists): a replica that reads the slot back from its WAL must hold the very
        # value the others got from the leader, or the core sees two values chosen for one slot
        self.core.propose(self.client_id, self.seq, [json.loads(json.dumps(c.to_dict())) for c in commands])
        self.drain()
        await fut

    def is_leader(self) -> bool:
        return self.core.is_leader()

    def holds_lease(self) -> bool:
        """Whether this replica surely still leads: safe to call from another thread (a commit running in one
        checks it before each change it makes). A leader whose loop stalls loses this when its lease runs out,
        before any other replica can be elected, though it has not yet noticed that it stopped leading."""
        return self.leading and self._clock() < self.lease_until

    def leader_hint(self) -> int | None:
        return self.core.leader_hint()

    def status(self) -> dict[str, Any]:
        return {**self.core.status(), "loop_lag_max_s": round(self.max_lag, 3), "stalls": list(self.stalls)}


class LocalTransport:
    """Delivers batches between ConsensusNodes on one asyncio loop (tests, and a group without Ray)."""

    def __init__(self) -> None:
        self.nodes: dict[int, ConsensusNode] = {}
        self.down: set[int] = set()

    async def send(self, dst: int, batch: list) -> None:
        await asyncio.sleep(0)
        node = self.nodes.get(dst)
        if node is not None and dst not in self.down:
            node.deliver(batch)
