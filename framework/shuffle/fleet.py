"""Starting and finding the shuffle store actors (`paxflow-store-N` in the `paxflow` namespace).

A store is a detached, named actor, so it outlives the process that started it and any process finds it by name.
Stores are spread over the nodes with hard affinity (Ray's soft affinity was seen to stack them on one node).
"""

from __future__ import annotations


from framework.cluster import alive_nodes
from framework.names import NAMESPACE, STORE_PREFIX


def store_name(i: int) -> str:
    return f"{STORE_PREFIX}{i}"


def get_stores(count: int, memory: int | None = None, durable: bool = True) -> dict:
    """{name: handle} of the shuffle stores paxflow-store-0 .. count-1, created where missing (spread over the
    nodes), each with a memory budget of `memory` bytes (default `default_store_memory`) past which it spills, and
    `durable` (each piece written to local disk as it arrives); returns once every store has these settings."""
    import ray

    stores, configured = start_stores(count, memory, durable)
    ray.get(configured)
    return stores


def start_stores(count: int, memory: int | None = None, durable: bool = True, scope: str = "") -> tuple[dict, list]:
    """`get_stores` without the wait: the handles, and refs that resolve once each store (a new one or one that
    ran already) has this run's budget and durability. A caller that has other things to start waits later.
    `scope`: the folder of a service's stores (see `start_store`)."""
    budget = memory or default_store_memory(count)
    nodes = alive_nodes()
    stores = {store_name(i): start_store(store_name(i), nodes[i % len(nodes)] if len(nodes) > 1 else None, budget,
                                         durable=durable, scope=scope)  # one per node in turn
              for i in range(count)}
    return stores, [h.configure.remote(budget, durable) for h in stores.values()]


def start_store(name: str, node: str | None = None, budget: int | None = None, recover: bool = False,
                durable: bool = True, scope: str = ""):
    """The store `name`, started on `node` (hard affinity) with `budget` bytes of memory if it does not run yet;
    `recover`: take up the pieces its dead predecessor on that node left on disk. `scope`: the folder of the
    group's stores under the spill root (framework.names.store_scope: a service's own)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from framework.shuffle.actor import StoreActor

    options: dict = dict(name=name, namespace=NAMESPACE, get_if_exists=True, lifetime="detached")
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    return StoreActor.options(**options).remote(name, budget, None, recover, durable, scope)


def default_store_memory(count: int) -> int:
    """Half the cluster's object store memory, shared among `count` stores: the rest stays for task data."""
    import ray

    total = ray.cluster_resources().get("object_store_memory", 2 << 30)
    return max(64 << 20, int(total / 2 / max(1, count)))


def store_names() -> list[str]:
    """The names of the stores running on the cluster, sorted."""
    import ray

    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a.get("namespace") == NAMESPACE and a["name"].startswith(STORE_PREFIX))


def kill_stores(names: list[str] | None = None, keep_files: bool = False) -> list[str]:
    """Stop the named stores (default: every store on the cluster) for good; their memory and spill files with
    them (`keep_files`: the files stay, for a service started again to recover). Returns the names stopped."""
    import ray

    stopped = []
    for name in store_names() if names is None else names:
        try:
            handle = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            continue
        try:
            if not keep_files:
                ray.get(handle.destroy.remote(), timeout=10)  # its spill folder goes with it
        except Exception:  # noqa: BLE001 - a store that cannot answer is killed all the same
            pass
        ray.kill(handle, no_restart=True)
        stopped.append(name)
    return stopped


def store_folders(scope: str) -> list[str]:
    """The names of the stores that left files in a service's folder on this machine (see actor.store_dir)."""
    import os

    from framework.shuffle.actor import spill_root

    try:
        return sorted(n for n in os.listdir(os.path.join(spill_root(), scope)) if n.startswith(STORE_PREFIX))
    except OSError:
        return []


def forget_store_folders(scope: str) -> bool:
    """Remove a service's store folder on this machine; True if there was one."""
    import os
    import shutil

    from framework.shuffle.actor import spill_root

    folder = os.path.join(spill_root(), scope)
    existed = bool(scope) and os.path.isdir(folder)
    if existed:
        shutil.rmtree(folder, ignore_errors=True)
    return existed
