"""The replica's peer room: finding the other replicas, sending them messages, noticing their death, healing them.

Death is detected, not timed out: every replica keeps a call parked on each peer (`hold`), and Ray fails it within
milliseconds of the peer's death. Replicas are therefore actors Ray does not restart (a restarting actor's callers
hear of it only ~1.1 s later, measured here); instead the replica that sees a peer die starts it again under its
name, on its old node where that lives (so it reloads its WAL), elsewhere as a non-voting member until it has
caught up. The election timeout is left for what a dead process does not show: a hung or partitioned leader.

Looking a peer up by name is a GCS call that can take long on a loaded machine; it runs in a thread, never on the
event loop that also drives Paxos.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

import ray
from ray.exceptions import ActorDiedError, RayError

from framework.cluster import alive_nodes
from framework.names import NAMESPACE, REPLICA_PREFIX

log = logging.getLogger(__name__)

#: how long a parked `hold` call waits before it is renewed
HOLD_SECONDS = 2.0
#: the least time between two restarts of the same peer (a replica that crashes at start must not spin)
HEAL_BACKOFF_S = 2.0


def replica_name(i: int) -> str:
    return f"{REPLICA_PREFIX}{i}"


def lookup_replica(i: int):
    """The live actor under replica `i`'s name, or None (blocking: a GCS call)."""
    try:
        return ray.get_actor(replica_name(i), namespace=NAMESPACE)
    except ValueError:
        return None


class PeerDirectory:
    """Handles of the peers by id, looked up by name off the event loop and forgotten when a call fails (a peer
    started again is a new actor under the old name)."""

    def __init__(self) -> None:
        self.handles: dict[int, Any] = {}

    async def get(self, peer: int):
        handle = self.handles.get(peer)
        if handle is None:
            handle = await asyncio.to_thread(lookup_replica, peer)
            if handle is not None:
                self.handles[peer] = handle
        return handle

    def forget(self, peer: int) -> None:
        self.handles.pop(peer, None)


class RayTransport:
    """Paxos messages as batched `deliver` calls on the peers' actors."""

    def __init__(self, directory: PeerDirectory) -> None:
        self.directory = directory

    async def send(self, dst: int, batch: list) -> None:
        try:
            peer = await self.directory.get(dst)
            if peer is not None:
                await peer.deliver.remote(batch)
        except RayError:
            self.directory.forget(dst)  # dead or not there yet: Paxos resends; look it up again next time


class PeerWatch:
    """Keeps one `hold` call parked on every peer; on a peer's death tells the consensus room (which campaigns at
    once if the peer led) and starts the peer again through `restart(peer, node)`."""

    def __init__(self, me: int, ids: list[int], directory: PeerDirectory, on_death: Callable[[int], None],
                 restart: Callable[[int, str | None, dict], None], node: str,
                 nodes: dict[int, str] | None = None, on_up: Callable[[int], None] | None = None) -> None:
        self.me, self.ids, self.directory = me, ids, directory
        self.on_death, self.restart = on_death, restart
        self.on_up = on_up or (lambda peer: None)
        self.watched: set[int] = set()
        self.reached: set[int] = set()  # peers that answered since they were last seen dead
        self.healing = True  # restart peers that die (off once the group is being shut down)
        self.healed: dict[int, float] = {}  # peer -> when this replica last restarted it
        self.restarts: list[dict] = []  # the peers this replica restarted
        # where each replica last ran (a restart goes there, to find its WAL)
        self.nodes: dict[int, str] = {int(k): v for k, v in (nodes or {}).items()}
        self.nodes[me] = node

    def watch(self) -> None:
        """Park a call on every peer not watched yet (called on each tick)."""
        for peer in self.ids:
            if peer != self.me and peer not in self.watched:
                self.watched.add(peer)
                asyncio.ensure_future(self._watch(peer))

    async def _watch(self, peer: int) -> None:
        try:
            while True:
                handle = await self.directory.get(peer)
                if handle is None:
                    raise ValueError(f"no actor named {replica_name(peer)}")
                if peer not in self.reached:  # a first call that answers at once: the peer is up
                    self.nodes[peer] = await handle.hold.remote(0)
                    self.reached.add(peer)
                    self.on_up(peer)
                self.nodes[peer] = await handle.hold.remote(HOLD_SECONDS)
        except (ActorDiedError, ValueError):  # dead, or (ValueError) no actor under its name any more
            self.directory.forget(peer)
            self.reached.discard(peer)
            self.on_death(peer)
            await self._heal(peer)
        except RayError:  # unreachable for now (a node that stopped answering): Paxos' timeouts cover it
            self.directory.forget(peer)
            await asyncio.sleep(HOLD_SECONDS / 4)
        finally:
            self.watched.discard(peer)

    async def _heal(self, peer: int) -> None:
        """Start a dead peer again under its name, on its old node if that is still there (so it finds its WAL).
        Several replicas may try at once: the name makes it one actor."""
        now = time.monotonic()
        if not self.healing or now - self.healed.get(peer, -1e9) < HEAL_BACKOFF_S:
            return
        self.healed[peer] = now
        node = self.nodes.get(peer)
        try:
            alive = await asyncio.to_thread(alive_nodes)
            if node not in alive:  # its node is gone (and its WAL with it): a node that holds no replica yet, if any
                taken = {n for p, n in self.nodes.items() if p != peer}
                free = [n for n in alive if n not in taken]
                node = free[0] if free else None
            await asyncio.to_thread(self.restart, peer, node, dict(self.nodes))
        except Exception:  # a failed restart is retried on the next failed hold
            log.exception("replica %s could not restart replica %s", self.me, peer)
            return
        self.restarts.append({"replica": peer, "time": time.time(), "node": node})
        log.warning("replica %s restarted replica %s", self.me, peer)
