"""Deterministic simulation of a Paxos replica group: one seeded RNG drives the network, faults and clients.

Each seed draws its own fault profile. The network drops messages, delays and reorders them, delivers stale
duplicates up to 30 ticks late, and partitions (clean splits, or single cut links, one-way or both) and heals.
Replicas crash at random, right after a durable write (above all a new promise) went out, or between persisting
and sending; all of them at once (power loss); they restart from their `MemoryStorage` only (what was persisted
before sends), sometimes with a lost disk; a failure detector tells some of a crashed leader's followers at once
(`leader_lost`). The application compacts at random. Clients submit commands and retry with the same
`(client, seq)` wherever the leader seems to be.

After every step the oracle checks safety:
- no slot is ever chosen (accepted by a majority under one ballot, counted from persisted accepts) with two values;
- only submitted commands (with their exact content) or no-ops are chosen;
- every replica's applied sequence is a prefix of one common sequence (same commands, same slots);
- at most one leader per ballot; no `(client, seq)` applied twice;
- no acceptor votes (sends a Promise or an Accepted) under a ballot below one it persisted a promise for
  (Paxos Made Simple P1a), unless it lost that disk since.
Once faults stop, every submitted command must be applied on every replica within `settle_ticks` (liveness).

    python tests/paxos_sim.py --seeds 2000 --start 0                  # prints one line per failing seed
    python tests/paxos_sim.py --seeds 200 --start 0 --bug skip-phase1 # a planted bug the checker must catch
    python tests/paxos_sim.py --seeds 1 --start 42 --trace            # every event of one seed
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

if __package__ in (None, ""):  # run as a script: make `framework` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from framework.paxos import (CANDIDATE, ZERO_BALLOT, Accepted, Applied, Ballot, Config, ConsensusError,
                             DurableState, MemoryStorage, Message, Promise, Ready, Rejected, Replica)
from framework.paxos.phase1 import Campaign

BUGS = ("forget-promise", "skip-phase1")


class Violation(AssertionError):
    """The oracle saw a safety or liveness violation."""


# ---- parameters ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """One seed's fault profile (probabilities per message, or per tick for the replica-level faults)."""

    drop: float
    duplicate: float
    long_delay: float
    crash: float
    crash_mid_ready: float
    crash_after_sync: float
    crash_after_promise: float
    restart: float
    power_loss: float
    detect: float
    disk_loss: float
    partition: float
    heal: float
    compact: float

    @staticmethod
    def draw(rng: random.Random) -> "Faults":
        return Faults(drop=rng.choice((0.0, 0.05, 0.15)), duplicate=rng.choice((0.0, 0.05)),
                      long_delay=rng.choice((0.0, 0.03, 0.1)), crash=rng.choice((0.0, 0.01, 0.03)),
                      crash_mid_ready=rng.choice((0.0, 0.002)), crash_after_sync=rng.choice((0.0, 0.01, 0.03)),
                      crash_after_promise=rng.choice((0.0, 0.1, 0.3)),
                      restart=rng.choice((0.1, 0.3)), power_loss=rng.choice((0.0, 0.005, 0.01)),
                      detect=rng.choice((0.0, 0.5)),
                      disk_loss=rng.choice((0.0, 0.3)), partition=rng.choice((0.0, 0.01, 0.03)),
                      heal=rng.choice((0.05, 0.15)), compact=rng.choice((0.0, 0.05)))


@dataclass(frozen=True)
class Params:
    """The size of one simulation: small enough for thousands of seeds a minute."""

    clients: int = 5
    commands_per_client: int = 4
    fault_ticks: int = 100
    settle_ticks: int = 200
    max_delay: int = 2
    long_delay_max: int = 12
    stale_copy_max: int = 30
    client_retry_ticks: int = 6
    think_ticks: int = 6


def sim_config(ids: tuple[int, ...]) -> Config:
    """The defaults' election timeouts; heartbeats every 2 ticks (half the traffic, so twice the seeds a second);
    a window of 4 for 5 clients, so proposals queue and batch; small catch-up replies, so catching up takes rounds."""
    return Config(ids, election_ticks_min=10, election_ticks_max=20, heartbeat_ticks=2, lease_ticks=7, window=4,
                  max_batch=4, resend_ticks=3, max_catchup_entries=8)


# ---- planted bugs ----------------------------------------------------------------------------------------------


class SkipPhase1Replica(Replica):
    """Planted bug: takes over with a fresh ballot but no phase 1, proposing after the end of its own log."""

    def _campaign(self) -> None:
        ballot = self._highest_seen.successor(self.id)
        self._set_promised(ballot)
        votes = Campaign(ballot, self._log.max_slot() + 1, quorum=0)
        votes.echo = {peer: self._now for peer in self._peers}
        self._role = CANDIDATE
        self._become_leader(votes)


def forget_promise(durable: DurableState) -> DurableState:
    """Planted bug: an acceptor restarts without the ballot it promised."""
    if durable.hard_state is None:
        return durable
    return replace(durable, hard_state=replace(durable.hard_state, promised=ZERO_BALLOT))


# ---- the oracle ------------------------------------------------------------------------------------------------


class Oracle:
    """A god's-eye view of every replica's durable accepts and applied sequence."""

    def __init__(self, quorum: int) -> None:
        self.quorum = quorum
        self.accepted: dict[tuple[int, Ballot], tuple[Any, set[int]]] = {}
        self.chosen: dict[int, Any] = {}
        self.submitted: dict[tuple[str, int], Any] = {}
        self.sequence: list[tuple[int, str, int]] = []  # (slot, client, seq), the common applied sequence
        self.digests: list[int] = [0]  # digests[k]: digest of the first k applied commands
        self.applied_keys: set[tuple[str, int]] = set()
        self.position: dict[int, int] = {}  # replica -> how many commands its application has applied
        self.leaders: dict[Ballot, int] = {}
        self.promised: dict[int, Ballot] = {}  # replica -> highest promise it ever persisted (on this disk)

    def on_persist(self, rid: int, ready: Ready) -> None:
        self._check_votes(rid, ready)
        for entry in ready.entries:
            key = (entry.slot, entry.ballot)
            value, voters = self.accepted.setdefault(key, (entry.value, set()))
            if value != entry.value:
                raise Violation(f"slot {entry.slot} holds two values under ballot {entry.ballot}")
            voters.add(rid)
            if len(voters) >= self.quorum:
                self._chosen(entry.slot, value)

    def _check_votes(self, rid: int, ready: Ready) -> None:
        promised = self.promised.get(rid, ZERO_BALLOT)
        for msg in ready.messages:
            if type(msg) in _VOTES and msg.ballot < promised:
                raise Violation(f"replica {rid} sent {type(msg).__name__} at ballot {msg.ballot} after promising "
                                f"{promised}")
        if ready.hard_state is not None and ready.hard_state.promised > promised:
            self.promised[rid] = ready.hard_state.promised

    def on_disk_lost(self, rid: int) -> None:
        self.promised.pop(rid, None)

    def _chosen(self, slot: int, value: Any) -> None:
        prior = self.chosen.setdefault(slot, value)
        if prior != value:
            raise Violation(f"slot {slot} chosen twice: {_brief(prior)} and {_brief(value)}")
        for p in value or ():
            if self.submitted.get((p.client_id, p.seq), _MISSING) != p.command:
                raise Violation(f"slot {slot} chose a command nobody submitted: {p}")

    def on_apply(self, rid: int, ready: Ready) -> None:
        if ready.restore is not None:
            self._restore(rid, ready.restore.value)
        for c in ready.committed:
            self._apply(rid, (c.slot, c.client_id, c.seq))

    def _restore(self, rid: int, app: dict[str, int]) -> None:
        count = app["count"]
        if count > len(self.sequence) or self.digests[count] != app["digest"]:
            raise Violation(f"replica {rid} restored a snapshot of {count} commands that matches no prefix")
        self.position[rid] = count

    def _apply(self, rid: int, item: tuple[int, str, int]) -> None:
        pos = self.position.get(rid, 0)
        if pos < len(self.sequence):
            if self.sequence[pos] != item:
                raise Violation(f"replica {rid} applied {item} where others applied {self.sequence[pos]}")
        else:
            if item[1:] in self.applied_keys:
                raise Violation(f"command {item[1:]} applied twice (again at slot {item[0]})")
            self.applied_keys.add(item[1:])
            self.sequence.append(item)
            self.digests.append(hash((self.digests[-1], item)))
        value = self.chosen.get(item[0], _MISSING)
        if value is not _MISSING and not any((p.client_id, p.seq) == item[1:] for p in value or ()):
            raise Violation(f"replica {rid} applied {item}, not in the value chosen there: {_brief(value)}")
        self.position[rid] = pos + 1

    def on_leader(self, rid: int, ballot: Ballot) -> None:
        if self.leaders.setdefault(ballot, rid) != rid:
            raise Violation(f"two leaders at ballot {ballot}: {self.leaders[ballot]} and {rid}")

    def snapshot_value(self, rid: int) -> dict[str, int]:
        pos = self.position.get(rid, 0)
        return {"count": pos, "digest": self.digests[pos]}


_MISSING = object()
_VOTES = (Promise, Accepted)


def _describe(msg: Message) -> str:
    """A one-line message summary for traces."""
    parts = [f"{type(msg).__name__} {msg.src}->{msg.dst}"]
    for name in ("ballot", "promised", "first_open", "first", "commit", "slots"):
        if hasattr(msg, name):
            parts.append(f"{name}={getattr(msg, name)}")
    entries = getattr(msg, "entries", ())
    if entries:
        parts.append("entries=" + ",".join(f"{e.slot}@{e.ballot}:{_brief(e.value)}" for e in entries))
    return " ".join(parts)


def _brief(value: Any) -> str:
    return "no-op" if value is None else str([(p.client_id, p.seq) for p in value])


# ---- network and clients ---------------------------------------------------------------------------------------


class Network:
    """In-flight messages in delivery order; loss, duplication, delay and partitions drawn from the sim's RNG."""

    def __init__(self, rng: random.Random, faults: Faults, params: Params) -> None:
        self.rng, self.faults, self.params = rng, faults, params
        self.queue: list[tuple[int, float, int, Message]] = []
        self.cut: set[tuple[int, int]] = set()
        self.reliable = False
        self._sent = 0

    def send(self, msg: Message, now: int) -> None:
        rng, faults = self.rng, self.faults
        if not self.reliable:
            if rng.random() < faults.drop:
                return
            if rng.random() < faults.duplicate:  # a stale copy, delivered late (a retransmission from below)
                self._push(msg, now + rng.randint(1, self.params.stale_copy_max))
        self._push(msg, now + self._delay())

    def _push(self, msg: Message, at: int) -> None:
        self._sent += 1
        heapq.heappush(self.queue, (at, self.rng.random(), self._sent, msg))

    def _delay(self) -> int:
        if not self.reliable and self.rng.random() < self.faults.long_delay:
            return self.rng.randint(3, self.params.long_delay_max)
        return int(self.rng.random() * (2 if self.reliable else self.params.max_delay + 1))

    def pop_due(self, now: int) -> Message | None:
        if self.queue and self.queue[0][0] <= now:
            return heapq.heappop(self.queue)[3]
        return None

    def blocked(self, msg: Message) -> bool:
        return (msg.src, msg.dst) in self.cut

    def partition(self, ids: tuple[int, ...]) -> None:
        """A clean split in two, or one cut link (one-way or both): a non-transitive partition."""
        order = list(ids)
        self.rng.shuffle(order)
        if self.rng.random() < 0.5:
            split = self.rng.randint(1, len(order) - 1)
            left, right = order[:split], order[split:]
            self.cut = {(a, b) for a in left for b in right} | {(b, a) for a in left for b in right}
        else:
            a, b = order[:2]
            self.cut = {(a, b)} if self.rng.random() < 0.3 else {(a, b), (b, a)}


class Client:
    """Submits its commands one at a time; retries the same `(client, seq)` until it is applied."""

    def __init__(self, client_id: str, commands: list[Any]) -> None:
        self.id = client_id
        self.commands = commands
        self.seq = 1
        self.target: int | None = None
        self.next_try = 0

    def done(self) -> bool:
        return self.seq > len(self.commands)

    def on_result(self, result: Applied | Rejected, now: int, think: int) -> None:
        if result.seq != self.seq:
            return
        if isinstance(result, Applied):
            self.seq += 1
            self.next_try = now + think
        else:
            self.target = result.leader_hint
            self.next_try = now + (1 if result.leader_hint is not None else 3)


# ---- the simulation --------------------------------------------------------------------------------------------


class Simulation:
    def __init__(self, seed: int, *, replicas: int | None = None, bug: str | None = None,
                 params: Params = Params(), trace: bool = False) -> None:
        if bug is not None and bug not in BUGS:
            raise ValueError(f"unknown bug {bug!r}; choose from {BUGS}")
        self.seed, self.bug, self.params, self.trace = seed, bug, params, trace
        self.rng = random.Random(seed)
        n = replicas if replicas is not None else self.rng.choice((3, 3, 5))
        self.ids = tuple(range(1, n + 1))
        self.config = sim_config(self.ids)
        self.faults = Faults.draw(self.rng)
        self.net = Network(self.rng, self.faults, params)
        self.oracle = Oracle(self.config.quorum)
        self.storage = {rid: MemoryStorage() for rid in self.ids}
        self.replicas: dict[int, Replica | None] = {rid: None for rid in self.ids}
        self.amnesiac: set[int] = set()  # lost their disk and have not finished recovering
        self.compacted: dict[int, int] = {}
        self.promised: dict[int, Ballot] = {}
        self.now = 0
        self.clients = self._make_clients()
        for rid in self.ids:
            self._start(rid, lost_disk=False)

    def _make_clients(self) -> dict[str, Client]:
        clients = {}
        for c in range(self.params.clients):
            cid = f"c{c}"
            commands = [{"type": "Put", "key": f"k{self.rng.randrange(5)}", "value": self.rng.randrange(1000),
                         "by": [cid, seq]} for seq in range(1, self.params.commands_per_client + 1)]
            for seq, cmd in enumerate(commands, 1):
                self.oracle.submitted[(cid, seq)] = cmd
            clients[cid] = Client(cid, commands)
        return clients

    # -- driving ---------------------------------------------------------------------------------------------------

    def run(self) -> None:
        """Run to completion; raises Violation on the first safety or liveness violation."""
        p = self.params
        for now in range(1, p.fault_ticks + p.settle_ticks + 1):
            self.now = now
            if now <= p.fault_ticks:
                self._inject_faults()
            elif now == p.fault_ticks + 1:
                self._stop_faults()
            self._clients_act()
            for rid in self.ids:
                self._call(rid, Replica.tick)
            self._deliver()
            if now > p.fault_ticks and self._settled():
                return
        raise Violation(f"liveness: not every command applied everywhere {p.settle_ticks} ticks after faults "
                        f"stopped ({self._progress()})")

    def _deliver(self) -> None:
        for _ in range(100_000):
            msg = self.net.pop_due(self.now)
            if msg is None:
                return
            if not self.net.blocked(msg):
                if self.trace and self.replicas[msg.dst] is not None:
                    self._say(f"deliver {_describe(msg)}")
                self._call(msg.dst, Replica.step, msg)
        raise Violation("message storm: over 100,000 deliveries in one tick")

    def _call(self, rid: int, method: Callable[..., None], *args: Any, drain: bool = True) -> None:
        replica = self.replicas[rid]
        if replica is None:
            return
        try:
            method(replica, *args)
        except ConsensusError as exc:
            raise Violation(f"replica {rid} raised {type(exc).__name__}: {exc}") from exc
        if drain:
            self._drain(rid)

    def _drain(self, rid: int) -> None:
        """Process Readies the way a real caller must: persist, send, apply, advance."""
        replica = self.replicas[rid]
        if replica is None:
            return
        while replica.has_ready():
            if not self._process(rid, replica, replica.ready()):
                return  # crashed half-way
        if replica.is_leader():
            self.oracle.on_leader(rid, replica.ballot())
        if rid in self.amnesiac and not replica.is_recovering():
            self.amnesiac.discard(rid)

    def _process(self, rid: int, replica: Replica, ready: Ready) -> bool:
        faulty = self.now <= self.params.fault_ticks
        self.storage[rid].persist(ready)
        self.oracle.on_persist(rid, ready)
        if faulty and self.faults.crash_mid_ready and self.rng.random() < self.faults.crash_mid_ready:
            self._crash(rid)  # persisted, but its messages never leave
            return False
        send, now = self.net.send, self.now
        for msg in ready.messages:
            send(msg, now)
        if faulty and ready.must_sync and self._crash_after_send(rid, ready):
            return False
        if ready.restore is not None or ready.committed:
            self.oracle.on_apply(rid, ready)
            if ready.restore is not None:
                self.compacted[rid] = ready.restore.index
        for result in ready.results:
            think = int(self.rng.random() * self.params.think_ticks)
            self.clients[result.client_id].on_result(result, now, think)
        replica.advance(ready)
        if self.faults.compact:
            self._maybe_compact(rid, replica)
        return True

    def _crash_after_send(self, rid: int, ready: Ready) -> bool:
        """Crash right after a durable write and its messages went out (a promise is the most delicate)."""
        promised = ready.hard_state.promised if ready.hard_state is not None else None
        chance = self.faults.crash_after_sync
        if promised is not None and promised != self.promised.get(rid):
            self.promised[rid] = promised
            chance = max(chance, self.faults.crash_after_promise)
        if self.rng.random() >= chance:
            return False
        self._crash(rid)  # sent, but never applied or advanced
        return True

    def _maybe_compact(self, rid: int, replica: Replica) -> None:
        applied = replica.last_applied()
        if applied > self.compacted.get(rid, 0) + 2 and self.rng.random() < self.faults.compact:
            replica.compact(applied, self.oracle.snapshot_value(rid))
            self.compacted[rid] = applied

    def _clients_act(self) -> None:
        """This tick's submissions reach their replicas before any Ready is taken: a leader batches them."""
        touched = set()
        for client in self.clients.values():
            if client.done() or self.now < client.next_try:
                continue
            if client.target is None or self.replicas.get(client.target) is None:
                client.target = self.rng.choice(self.ids)
            target = client.target
            if self.trace:
                self._say(f"client {client.id} submits seq {client.seq} to {target}")
            client.next_try = self.now + self.params.client_retry_ticks
            client.target = None  # unless an answer names a leader, the next try goes elsewhere
            self._call(target, Replica.propose, client.id, client.seq, client.commands[client.seq - 1], drain=False)
            touched.add(target)
        for rid in sorted(touched):
            self._drain(rid)

    # -- faults ----------------------------------------------------------------------------------------------------

    def _inject_faults(self) -> None:
        rng, f = self.rng, self.faults
        live = [r for r in self.ids if self.replicas[r] is not None]
        if live and rng.random() < f.power_loss:
            for rid in live:
                self._crash(rid)
        elif live and rng.random() < f.crash:
            self._crash(rng.choice(live))
        for rid in [r for r in self.ids if self.replicas[r] is None and r not in live]:
            if rng.random() < f.restart:
                lose = rng.random() < f.disk_loss and self.amnesiac <= {rid}
                self._start(rid, lost_disk=lose)
        if rng.random() < f.partition:
            self.net.partition(self.ids)
            self._say(f"partition: cut {sorted(self.net.cut)}")
        elif self.net.cut and rng.random() < f.heal:
            self.net.cut = set()
            self._say("heal")

    def _stop_faults(self) -> None:
        self.net.cut = set()
        self.net.reliable = True
        for rid in self.ids:
            if self.replicas[rid] is None:
                self._start(rid, lost_disk=False)

    def _crash(self, rid: int) -> None:
        self._say(f"crash {rid}")
        self.replicas[rid] = None
        for other in self.ids:  # a failure detector tells some of its followers at once (`leader_lost`)
            replica = self.replicas[other]
            if replica is not None and replica.leader_hint() == rid and self.rng.random() < self.faults.detect:
                self._call(other, Replica.leader_lost, rid)

    def _start(self, rid: int, *, lost_disk: bool) -> None:
        if lost_disk:
            self.storage[rid] = MemoryStorage()
            self.amnesiac.add(rid)
            self.oracle.on_disk_lost(rid)
        durable = self.storage[rid].load()
        self._say(f"start {rid}{' with a lost disk' if lost_disk else ''}: {durable.hard_state}")
        if self.bug == "forget-promise":
            durable = forget_promise(durable)
        cls = SkipPhase1Replica if self.bug == "skip-phase1" else Replica
        lost = rid in self.amnesiac and durable.is_empty()
        self.replicas[rid] = cls(self.config, rid, rng=random.Random(self.rng.random()), durable=durable,
                                 lost_disk=lost)
        self.oracle.position[rid] = 0  # the application restarts empty and replays from the Ready
        self.compacted[rid] = durable.snapshot.index if durable.snapshot else 0
        self._drain(rid)

    def _say(self, text: str) -> None:
        if self.trace:
            print(f"t={self.now:<4} {text}")

    # -- liveness ----------------------------------------------------------------------------------------------------

    def _settled(self) -> bool:
        total = len(self.oracle.submitted)
        if len(self.oracle.sequence) < total or not all(c.done() for c in self.clients.values()):
            return False
        return all(self.oracle.position.get(rid, 0) == total for rid in self.ids)

    def _progress(self) -> str:
        done = sum(c.seq - 1 for c in self.clients.values())
        positions = {rid: self.oracle.position.get(rid, 0) for rid in self.ids}
        roles = {rid: r.status()["role"] if r else "down" for rid, r in self.replicas.items()}
        return f"{done}/{len(self.oracle.submitted)} acknowledged, applied per replica {positions}, roles {roles}"


# ---- running seeds ---------------------------------------------------------------------------------------------


def find_violation(seed: int, *, replicas: int | None = None, bug: str | None = None,
                   params: Params = Params()) -> str | None:
    """The violation one seed produces, as a message, or None when the run is clean."""
    try:
        Simulation(seed, replicas=replicas, bug=bug, params=params).run()
    except Violation as exc:
        return str(exc)
    return None


def first_safety_violation(bug: str, budget: int, *, start: int = 0) -> tuple[int, str] | None:
    """The first seed (and its message) at which the checker finds a safety violation, within `budget` seeds."""
    with _few_gc_passes():
        for seed in range(start, start + budget):
            problem = find_violation(seed, bug=bug)
            if problem is not None and not problem.startswith("liveness"):
                return seed, problem
    return None


def repro_line(seed: int, replicas: int | None, bug: str | None) -> str:
    line = f"python tests/paxos_sim.py --seeds 1 --start {seed}"
    if replicas is not None:
        line += f" --replicas {replicas}"
    if bug is not None:
        line += f" --bug {bug}"
    return line


def run_seeds(start: int, count: int, *, replicas: int | None = None, bug: str | None = None,
              stop_at_first: bool = True) -> list[tuple[int, str]]:
    """Failing seeds (with their violation) among `start .. start+count-1`."""
    failures = []
    with _few_gc_passes():
        for seed in range(start, start + count):
            problem = find_violation(seed, replicas=replicas, bug=bug)
            if problem is not None:
                failures.append((seed, problem))
                if stop_at_first:
                    break
    return failures


@contextmanager
def _few_gc_passes() -> Iterator[None]:
    """Thousands of small simulations allocate millions of short-lived objects: the default collector thresholds
    make the cyclic GC take a third of the run time (measured), for garbage that reference counting frees anyway."""
    old = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*old)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="the first seed")
    parser.add_argument("--replicas", type=int, choices=(3, 5), help="group size (default: drawn per seed)")
    parser.add_argument("--bug", choices=BUGS, help="plant a bug the checker must catch")
    parser.add_argument("--all", action="store_true", help="keep going after the first failing seed")
    parser.add_argument("--trace", action="store_true", help="print every event of each seed (use with --seeds 1)")
    args = parser.parse_args(argv)
    if args.trace:
        return _trace_one(args.start, args.replicas, args.bug)
    began = time.perf_counter()
    failures = run_seeds(args.start, args.seeds, replicas=args.replicas, bug=args.bug, stop_at_first=not args.all)
    elapsed = time.perf_counter() - began
    for seed, problem in failures:
        print(f"{repro_line(seed, args.replicas, args.bug)}  # {problem}")
    ran = (failures[-1][0] - args.start + 1) if failures and not args.all else args.seeds
    print(f"# {ran} seeds, {len(failures)} failing, {elapsed:.1f}s ({ran / max(elapsed, 1e-9):.0f} seeds/s)",
          file=sys.stderr)
    return 1 if failures else 0


def _trace_one(seed: int, replicas: int | None, bug: str | None) -> int:
    import logging

    logging.basicConfig(level=logging.INFO, format="       %(message)s", stream=sys.stdout)
    try:
        Simulation(seed, replicas=replicas, bug=bug, trace=True).run()
    except Violation as exc:
        print(f"VIOLATION: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
