"""The client's side of the master group: create it, find its leader, submit, wait, cancel, inspect.

Replicas are detached, named Ray actors (`paxflow-master-0` .. `-N-1`, namespace `paxflow`), so any process on
the cluster finds them. Calls go to the replica believed to lead; a replica that is not the leader answers with a
hint, and a dead one is skipped (and looked up again by name, as its peers start it again), so a client rides
through a failover by retrying.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, Callable, Sequence

import ray
from ray.exceptions import ActorDiedError, RayError

from framework.cachedir import cache_dir
from framework.cluster import alive_nodes
from framework.errors import PaxflowError
from framework.master.peers import lookup_replica, replica_name
from framework.master.replica import spawn_replica
from framework.names import service_group

DEFAULT_MASTERS = 3
#: how long a client keeps retrying when no replica answers as leader (an election takes well under a second)
LEADER_TIMEOUT = 30.0
#: how long one call may take before the client tries another replica (a restarting actor does not fail fast)
CALL_TIMEOUT = 2.0


def state_dir() -> str:
    return os.environ.get("PAXFLOW_STATE") or cache_dir("state")


def replica_names(n: int) -> list[str]:
    return [replica_name(i) for i in range(n)]


#: the most replicas a group has (--masters 1, 3 or 5)
MAX_MASTERS = 5




def existing_replicas(timeout: float = LEADER_TIMEOUT) -> list:
    """Handles of the running group's replicas in id order (None for one that is down), or [] without a group.

    The group's size is asked of a live replica; while none answers (a failover on a loaded machine) the names
    found stand for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [lookup_replica(i) for i in range(MAX_MASTERS)]
        if not any(found):
            return []
        for handle in found:
            if handle is None:
                continue
            try:
                ids = ray.get(handle.info.remote(), timeout=CALL_TIMEOUT)["replica_ids"]
            except RayError:
                continue
            return [found[i] for i in ids]
        if time.monotonic() > deadline:
            last = max(i for i, h in enumerate(found) if h is not None)
            return found[: last + 1]
        time.sleep(0.2)


def ensure_group(masters: int, stores: Sequence[str], fsync: bool = True, service: str | None = None) -> list:
    """The master group's replica handles; created (spread over the nodes) when there is none yet. `stores`: the
    names of the shuffle stores it starts with.

    `service`: the group of the named service (`paxflow up --name`), whose WALs live under
    `state_dir()/svc-NAME/`, so a group started again after every Ray process died reloads its log and resumes
    its jobs (see `saved_service`). Without one the group's id is fresh, and its state ends with its Ray."""
    if masters not in (1, 3, 5):
        raise PaxflowError(f"--masters must be 1, 3 or 5, not {masters}")
    found = existing_replicas()
    if found:
        return found
    if service is not None:
        group = service_group(service)
        os.makedirs(os.path.join(state_dir(), group), exist_ok=True)
        _write_json(os.path.join(state_dir(), group, GROUP_FILE), {"masters": masters, "stores": sorted(stores)})
    else:
        group = uuid.uuid4().hex[:12]
        created_groups.append(group)
    alive = alive_nodes()
    # one replica per node where possible
    nodes = {i: alive[i % len(alive)] for i in range(masters)} if len(alive) > 1 else {}
    handles = [start_replica(i, list(range(masters)), group, stores, fsync, nodes.get(i), nodes=nodes)
               for i in range(masters)]
    for handle in handles:  # start ticking (electing) as soon as each is up, before any client asks
        handle.hold.remote(0)
    return handles


#: what a service's state folder records of its group: its size and the stores it started with
GROUP_FILE = "group.json"
#: which jobs were still running when the service last stopped cleanly
STOPPED_FILE = "stopped.json"


def saved_service(service: str) -> dict | None:
    """What the state folder of `service` holds from an earlier incarnation: {"masters", "stores"} and the WAL
    folders found, or None when there is nothing to resume."""
    folder = os.path.join(state_dir(), service_group(service))
    try:
        with open(os.path.join(folder, GROUP_FILE)) as f:
            saved = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    wals = [name for name in sorted(os.listdir(folder)) if name.startswith("replica-")]
    return {**saved, "wals": wals} if wals else None


def record_stop(service: str, running: Sequence[str]) -> None:
    """Note in the service's state folder which jobs were still running when it stopped (`stopped.json`)."""
    folder = os.path.join(state_dir(), service_group(service))
    if os.path.isdir(folder):
        _write_json(os.path.join(folder, STOPPED_FILE), {"running": list(running), "time": time.time()})


def stopped_with(service: str) -> list[str]:
    """The jobs the service's last clean stop kept for a later `paxflow up` to resume."""
    try:
        with open(os.path.join(state_dir(), service_group(service), STOPPED_FILE)) as f:
            return list(json.load(f).get("running", []))
    except (FileNotFoundError, ValueError):
        return []


def forget_service(service: str) -> bool:
    """Remove the state of `service` (its WALs: its jobs can no longer be resumed); True if there was any."""
    import shutil

    folder = os.path.join(state_dir(), service_group(service))
    existed = os.path.isdir(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return existed


def _write_json(path: str, value: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


#: ids of the groups this process created (a one-shot run removes their WALs when it ends)
created_groups: list[str] = []


def forget_created_groups() -> None:
    """Remove the WALs of the groups this process created: a one-shot run's group ends with its local Ray, and
    nothing can resume it."""
    import shutil

    for group in created_groups:
        shutil.rmtree(os.path.join(state_dir(), group), ignore_errors=True)
    created_groups.clear()


def start_replica(i: int, replica_ids: list[int], group: str, stores: Sequence[str], fsync: bool = True,
                  node: str | None = None, recreated: bool = False, nodes: dict | None = None):
    """Start replica `i` of `group` under its stable name (or return it if it runs); see `spawn_replica`."""
    return spawn_replica(i, replica_ids, group, stores, state_dir(), fsync, node, recreated, nodes)


def shutdown_group() -> None:
    """Stop the master group for good: replicas stop restarting each other, then all are killed."""
    handles = [h for h in existing_replicas() if h is not None]
    for handle in handles:
        try:
            ray.get(handle.set_healing.remote(False), timeout=CALL_TIMEOUT)
        except RayError:
            pass
    for handle in handles:
        ray.kill(handle, no_restart=True)
    deadline = time.monotonic() + 10
    while any(lookup_replica(i) is not None for i in range(MAX_MASTERS)) and time.monotonic() < deadline:
        time.sleep(0.05)


class GroupClient:
    """Talks to whichever replica leads, following hints and skipping dead replicas."""

    def __init__(self, handles: list) -> None:
        self._handles = list(handles)
        self.leader = 0

    @property
    def handles(self) -> list:
        """The replicas' current handles, looked up by name (None for one that is down): a replica that died and
        was started again is a new actor under the same name."""
        self._handles = [lookup_replica(i) for i in range(len(self._handles))]
        return list(self._handles)

    def handle(self, i: int):
        if self._handles[i] is None:
            self._handles[i] = lookup_replica(i)
        return self._handles[i]

    def _order(self) -> list[int]:
        return [self.leader] + [i for i in range(len(self._handles)) if i != self.leader]

    def _call(self, i: int, method: str, args: tuple, timeout: float) -> Any:
        handle = self.handle(i)
        try:
            if handle is None:
                raise ActorDiedError()
            return ray.get(getattr(handle, method).remote(*args), timeout=timeout)
        except RayError as e:
            if isinstance(e, ActorDiedError):
                self._handles[i] = None  # look it up by name next time: its peers start it again
            if i == self.leader:  # try the others first next time
                self.leader = (i + 1) % len(self._handles)
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
                    if hint is not None and 0 <= hint < len(self._handles):
                        self.leader = hint
                    continue
                self.leader = i
                return answer
            if time.monotonic() > deadline:
                raise PaxflowError(f"no master replica answered as leader within {timeout:.0f} s "
                                   f"(is a majority of the {len(self._handles)} replicas alive?)")
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

    def call_job(self, method: str, job_id: str, *args: Any) -> dict:
        """`status` or `wait` of one job: from any replica, or from the leader when the one asked has not heard of
        the job (it may not have applied the submission yet); {} when there is no such job."""
        answer = self.call_any(method, job_id, *args)
        if isinstance(answer, dict) and (not answer or set(answer) == {"leader"}):
            answer = self.call_leader(method, job_id, *args)
        return answer

    def wait(self, job_id: str, on_progress: Callable[[dict], None] | None = None, poll: float = 0.25,
             timeout: float | None = None) -> dict:
        """Block until the job has ended (or `timeout` passed: PaxflowError); calls on_progress with each status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.call_job("wait", job_id, poll)
            if on_progress is not None and status:
                on_progress(status)
            if status.get("finished"):
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise PaxflowError(f"job {job_id} did not end within {timeout:.0f} s; last status: {status}")


def find_master_group() -> GroupClient | None:
    """A client of the running master group, or None when there is none on this cluster."""
    handles = existing_replicas()
    return GroupClient(handles) if handles else None


def get_master_group(masters: int | None = None, stores: Sequence[str] | None = None,
                     fsync: bool = True, service: str | None = None) -> GroupClient:
    """A client of the master group, created (with the given stores, default: `default_store_count` of them) if
    it does not exist yet; `service`: see `ensure_group`."""
    from framework.shuffle.fleet import get_stores

    stores = stores if stores is not None else get_stores(default_store_count())
    return GroupClient(ensure_group(masters or DEFAULT_MASTERS, sorted(stores), fsync, service))


def default_store_count(group: GroupClient | None = None, info: dict | None = None) -> int:
    """The stores of the master group's ring when it has one (set by `paxflow scale`, or grown as nodes joined);
    else one store per node, or as many as exist if that is more. (Not two on a single node: a durable store whose
    process dies comes back with its data, and on 2 cores one store ran a 128 MiB word count in 2.6-3.2 s against
    3.6-4.1 s with two, a process less to start.)"""
    from framework.shuffle.fleet import store_names

    group = group or find_master_group()
    if group is not None:
        ring = (info or group.call_any("info")).get("ring") or {}
        if ring.get("version"):
            return max(1, len(ring["stores"]))
    return max(1, len(alive_nodes()), len(store_names()))
