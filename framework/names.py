"""The names Paxflow's actors live under on a Ray cluster, so any process (and `paxflow status`) finds them.

Every actor is in the Ray namespace `paxflow`: master replicas are `paxflow-master-0 .. N-1`, shuffle stores
`paxflow-store-0 ..`, and a service's keeper (the long-lived driver that owns them) is `paxflow-keeper`.

A named service (`paxflow up --name NAME`, default `default`) runs the master group `svc-NAME`: the name of its
state folder (WALs) and of its stores' folders, which outlive any Ray session.
"""

NAMESPACE = "paxflow"
STORE_PREFIX = "paxflow-store-"
REPLICA_PREFIX = "paxflow-master-"
KEEPER_NAME = "paxflow-keeper"
DEFAULT_SERVICE = "default"


def service_group(service: str) -> str:
    """The group id of the named service: also the folder of its WALs and the scope of its stores' files."""
    return f"svc-{service}"


def is_service_group(group: str) -> bool:
    return group.startswith("svc-")


def store_scope(group: str) -> str:
    """The folder (under the spill root) of the stores a group uses: a service's own, so a one-shot run never
    clears the pieces a service left to resume; "" (the spill root itself) for any other group."""
    return group if is_service_group(group) else ""
