"""The client's side of the master group: create it, find its leader, submit, wait, cancel, inspect.

Replicas are detached, named Ray actors (`paxflow-master-0` .. `-N-1`, namespace `paxflow`), so any process on
the cluster finds them. Calls go to the replica believed to lead; a replica that is not the leader answers with a
hint, and a dead one is skipped, so a client rides through a failover by retrying.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Callable

import ray
from ray.exceptions import RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from framework.errors import PaxflowError
from framework.cluster import NAMESPACE
from framework.master.replica import REPLICA_PREFIX, MasterReplica

DEFAULT_MASTERS = 3
#: how long a client keeps retrying when no replica answers as leader (an election takes well under a second)
LEADER_TIMEOUT = 30.0
#: how long one call may take before the client tries another replica (a restarting actor does not fail fast)
CALL_TIMEOUT = 2.0


def state_dir() -> str:
    base = os.environ.get("PAXFLOW_STATE") or os.path.join(
        os.environ.get("PAXFLOW_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paxflow"), "state")
    return base


def replica_names(n: int) -> list[str]:
    return [f"{REPLICA_PREFIX}{i}" for i in range(n)]


def existing_replicas() -> list:
    """Handles of the group's replicas that exist on this cluster, in id order."""
    handles = []
    for i in range(7):
        try:
            handles.append(ray.get_actor(f"{REPLICA_PREFIX}{i}", namespace=NAMESPACE))
        except ValueError:
            break
    return handles


def ensure_group(masters: int, stores: dict, fsync: bool = True) -> list:
    """The master group's replica handles; created (spread over the nodes) when there is none yet."""
    if masters not in (1, 3, 5):
        raise PaxflowError(f"--masters must be 1, 3 or 5, not {masters}")
    found = existing_replicas()
    if found:
        return found
    group = uuid.uuid4().hex[:12]
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    # one replica per node where possible; soft, so a lost node's replica restarts elsewhere
    return [start_replica(i, list(range(masters)), group, stores, fsync, nodes[i % len(nodes)] if len(nodes) > 1 else None)
            for i in range(masters)]


def start_replica(i: int, replica_ids: list[int], group: str, stores: dict, fsync: bool = True,
                  node: str | None = None):
    """Start replica `i` of `group` under its stable name (or return it if it runs); a replica started again after
    it died reloads its WAL when it lands on the node that has it."""
    options: dict[str, Any] = dict(name=f"{REPLICA_PREFIX}{i}", namespace=NAMESPACE, get_if_exists=True,
                                   lifetime="detached")
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
    return MasterReplica.options(**options).remote(i, replica_ids, group, stores, state_dir(), fsync)


class GroupClient:
    """Talks to whichever replica leads, following hints and skipping dead replicas."""

    def __init__(self, handles: list) -> None:
        self.handles = list(handles)
        self.leader = 0

    def _order(self) -> list[int]:
        return [self.leader] + [i for i in range(len(self.handles)) if i != self.leader]

    def _call(self, i: int, method: str, args: tuple, timeout: float) -> Any:
        try:
            return ray.get(getattr(self.handles[i], method).remote(*args), timeout=timeout)
        except RayError:
            if i == self.leader:  # try the others first next time
                self.leader = (i + 1) % len(self.handles)
            raise

    def call_leader(self, method: str, *args: Any, timeout: float = LEADER_TIMEOUT,
                    call_timeout: float = 60.0) -> Any:
        """Call `method` on the leader. Leader-only calls (submit, cancel) may run long: `call_timeout` each."""
        deadline = time.monotonic() + timeout
        while True:
            for i in self._order():
                try:
                    answer = self._call(i, method, args, call_timeout)
                except RayError:
                    continue
                if isinstance(answer, dict) and "leader" in answer and len(answer) == 1:
                    hint = answer["leader"]
                    if hint is not None and 0 <= hint < len(self.handles):
                        self.leader = hint
                    continue
                self.leader = i
                return answer
            if time.monotonic() > deadline:
                raise PaxflowError(f"no master replica answered as leader within {timeout:.0f} s "
                                   f"(is a majority of the {len(self.handles)} replicas alive?)")
            time.sleep(0.05)

    def call_any(self, method: str, *args: Any, timeout: float = LEADER_TIMEOUT) -> Any:
        """Ask the leader if it answers, else any live replica (reads may then lag by a few commands)."""
        deadline = time.monotonic() + timeout
        while True:
            for i in self._order():
                try:
                    return self._call(i, method, args, CALL_TIMEOUT + 1.0)
                except RayError:
                    continue
            if time.monotonic() > deadline:
                raise PaxflowError(f"no master replica answered within {timeout:.0f} s")
            time.sleep(0.05)

    def wait(self, job_id: str, on_progress: Callable[[dict], None] | None = None, poll: float = 0.25,
             timeout: float | None = None) -> dict:
        """Block until the job has ended (or `timeout` passed: PaxflowError); calls on_progress with each status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.call_any("wait", job_id, poll)
            if on_progress is not None and status:
                on_progress(status)
            if status.get("finished"):
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise PaxflowError(f"job {job_id} did not end within {timeout:.0f} s; last status: {status}")
