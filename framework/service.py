"""A Paxflow service that stays up between jobs: `paxflow up`, `paxflow down`, and how `paxflow run` finds it.

`up` starts the keeper (`framework.keeper`) as a background process of its own session. The keeper owns the
master group, the shuffle stores and the task workers, and without `--address` a local Ray head too. It writes
the service record, a small JSON file (`$PAXFLOW_CACHE/service.json`, default `~/.cache/paxflow/service.json`),
once the group has a leader; `paxflow run` reads it to join the service instead of starting a Ray of its own.
`down` signals the keeper, which stops the group and the stores (their memory and spill files with them) and,
if it started one, the local Ray; what is still running after that is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from framework.cachedir import cache_dir
from framework.errors import PaxflowError
from framework.names import DEFAULT_SERVICE

#: how long `paxflow up` waits for the keeper to have a leader and warm workers
UP_TIMEOUT_S = 120.0
#: in a service's state folder: its keeper, as it stops, drops the stores' files and the state
FORGET_FILE = "forget"
#: how long `paxflow down` waits for the keeper to stop everything before it kills what is left
DOWN_TIMEOUT_S = 30.0


def record_path() -> str:
    return os.path.join(cache_dir(), "service.json")


def log_path() -> str:
    return os.path.join(cache_dir(), "service.log")


def write_record(path: str, record: dict) -> None:
    """Write the record atomically (a reader never sees half of it)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)


def remove_record(path: str, keeper_pid: int) -> None:
    """Remove the record if it is this keeper's (a newer service's record stays)."""
    record = read_record(path)
    if record is not None and record.get("keeper_pid") == keeper_pid:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def read_record(path: str | None = None) -> dict | None:
    try:
        with open(path or record_path()) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child that exited) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def running_service() -> dict | None:
    """The record of the service `paxflow up` started on this machine, if its keeper still runs (a stale record,
    left by a keeper that was killed, is removed)."""
    record = read_record()
    if record is None:
        return None
    if not _alive(int(record.get("keeper_pid", -1))) or not reachable(record.get("address", "")):
        # its keeper was killed, or its cluster went away (the keeper follows it out soon)
        remove_record(record_path(), record.get("keeper_pid"))
        return None
    return record


def reachable(address: str, timeout: float = 1.0) -> bool:
    """Whether the GCS at host:port accepts a connection (a cluster that was stopped refuses at once)."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def record_path_for(address: str) -> str:
    """Where the keeper of a service on the cluster at `address` keeps its record: the machine's service record
    when no other service is up here, else a record of its own (`paxflow down --address` stops it)."""
    if running_service() is None:
        return record_path()
    slug = "".join(c if c.isalnum() else "-" for c in address)
    return os.path.join(cache_dir(), f"service-{slug}.json")


def up(address: str | None = None, masters: int = 3, stores: int | None = None, store_memory: int | None = None,
       cpus: int | None = None, on_step=None, record: str | None = None,
       name: str = DEFAULT_SERVICE) -> tuple[dict, bool]:
    """Start the service (or find the one that runs); returns (its record, whether it was started now).
    `record`: where its keeper writes its record (default: the machine's service record). `name`: the service's
    state folder; a service started again under the same name resumes the jobs its last incarnation ran."""
    path = record or record_path()
    found = running_service() if path == record_path() else read_record(path)
    if found is not None and _alive(int(found.get("keeper_pid", -1))):
        return found, False
    if masters not in (1, 3, 5):
        raise PaxflowError(f"--masters must be 1, 3 or 5, not {masters}")
    os.makedirs(cache_dir(), exist_ok=True)
    argv = [sys.executable, "-m", "framework.keeper", "--record", path, "--masters", str(masters), "--service", name]
    for flag, value in (("--address", address), ("--stores", stores), ("--store-memory", store_memory),
                        ("--cpus", cpus)):
        if value is not None:
            argv += [flag, str(value)]
    env = dict(os.environ)
    env.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    log = open(log_path(), "ab")
    keeper = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                              start_new_session=True)  # not in the terminal's process group: Ctrl-C there spares it
    log.close()
    if on_step is not None:
        on_step("starting Ray" if address is None else f"joining Ray at {address}")
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        found = read_record(path)
        if found is not None and found.get("keeper_pid") == keeper.pid:
            return found, True
        if keeper.poll() is not None:
            raise PaxflowError(f"the Paxflow service did not start (exit {keeper.returncode}); "
                               f"its log: {log_path()}\n{_tail(log_path())}")
        time.sleep(0.05)
    keeper.terminate()
    raise PaxflowError(f"the Paxflow service did not come up within {UP_TIMEOUT_S:.0f} s; its log: {log_path()}")


def _tail(path: str, lines: int = 12) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def down(timeout: float = DOWN_TIMEOUT_S, forget: bool = False) -> dict | None:
    """Stop the service this machine runs; returns its record, or None when none was up. `forget`: its stores
    drop their files and its state folder goes, so nothing of its jobs can be resumed."""
    record = read_record()
    if record is None:
        return None
    pid = int(record.get("keeper_pid", -1))
    if forget and _alive(pid):
        request_forget(record.get("service", DEFAULT_SERVICE))
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if record.get("started_ray"):  # what a keeper that was killed could not stop
        from framework.cluster import kill_session

        kill_session(record.get("session_dir"))
    remove_record(record_path(), pid)
    return record


def forget(name: str) -> bool:
    """Remove what the stopped service `name` left on this machine: its WALs and its stores' files; True if there
    was anything."""
    from framework.master.group import forget_service
    from framework.names import service_group, store_scope
    from framework.shuffle.fleet import forget_store_folders

    state = forget_service(name)
    files = forget_store_folders(store_scope(service_group(name)))
    return state or files


def request_forget(name: str) -> None:
    """Ask the running keeper of `name` to drop its stores' files (on every node) and its state as it stops."""
    from framework.master.group import state_dir
    from framework.names import service_group

    folder = os.path.join(state_dir(), service_group(name))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, FORGET_FILE), "w"):
        pass


def forget_requested(name: str) -> bool:
    from framework.master.group import state_dir
    from framework.names import service_group

    return os.path.exists(os.path.join(state_dir(), service_group(name), FORGET_FILE))


def lock_service(name: str) -> Any:
    """Hold the state folder of service `name` for this process (its keeper) while it lives: two keepers of one
    name would write the same WALs. PaxflowError when another process holds it."""
    import fcntl

    from framework.master.group import state_dir
    from framework.names import service_group

    folder = os.path.join(state_dir(), service_group(name))
    os.makedirs(folder, exist_ok=True)
    handle = open(os.path.join(folder, "keeper.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise PaxflowError(f"the Paxflow service {name!r} already runs here (keeper pid {holder}); "
                           f"`paxflow up --name OTHER` starts another one") from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    _held_locks.append(handle)  # the lock lasts as long as the file stays open
    return handle


_held_locks: list = []


def stop_actors() -> dict[str, Any]:
    """Stop the master group and every shuffle store on the connected cluster, data and spill files with them."""
    from framework.master.group import shutdown_group
    from framework.shuffle.fleet import kill_stores

    shutdown_group()
    return {"stores": kill_stores()}


def resolve_address(address: str | None) -> tuple[str | None, dict | None]:
    """Where `paxflow run` should run: (address, the service's record when it joins a `paxflow up` service).

    An explicit `--address` wins; then `RAY_ADDRESS`, as Ray itself honours it; then a service this machine runs;
    else None: a one-shot local Ray."""
    if address:
        return address, None
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"], None
    record = running_service()
    if record is not None:
        return record["address"], record
    return None, None
