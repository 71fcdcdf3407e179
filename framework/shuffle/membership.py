"""Which shuffle stores the cluster should have as nodes come and go: the pure rule the master's leader applies.

In automatic mode (the default until a user sets the count with `paxflow scale --stores N`) every live node holds at
least one live store of the ring, so a node that joins lends its memory and disk to the shuffle: the leader starts
a store there and records the bigger ring (`RingChanged`). Nothing here talks to Ray; the leader feeds it what it
sees and acts on the answer.
"""

from __future__ import annotations

from typing import Collection, Mapping, Sequence


def store_name(prefix: str, index: int) -> str:
    return f"{prefix}{index}"


def stores_to_add(ring: Sequence[str], store_nodes: Mapping[str, str | None], alive: Sequence[str],
                  prefix: str, running: Collection[str] = ()) -> list[tuple[str, str]]:
    """[(store name, node)] to start: one store for each live node that holds none of the ring's live stores.

    `store_nodes`: the node of each ring store that is alive (None or absent: dead). A dead ring store's name is
    used first (it is started again there, so the ring keeps its size), then the lowest indices no ring store
    uses, so the ring stays `prefix0 .. prefixN-1` as long as stores are only added this way and removed from the
    end (`paxflow scale --stores N`). `running`: stores that run outside the ring (a job's own `--stores`): their
    names are not new."""
    held = {node for node in store_nodes.values() if node is not None}
    bare = [node for node in alive if node not in held]
    dead = [name for name in ring if store_nodes.get(name) is None]
    taken = set(ring) | set(running)
    added: list[tuple[str, str]] = []
    index = 0
    for node in bare:
        if dead:
            added.append((dead.pop(0), node))
            continue
        while store_name(prefix, index) in taken:
            index += 1
        name = store_name(prefix, index)
        taken.add(name)
        added.append((name, node))
    return added
