"""The names Paxflow's actors live under on a Ray cluster, so any process (and `paxflow status`) finds them.

Every actor is in the Ray namespace `paxflow`: master replicas are `paxflow-master-0 .. N-1`, shuffle stores
`paxflow-store-0 ..`, and a service's keeper (the long-lived driver that owns them) is `paxflow-keeper`.
"""

NAMESPACE = "paxflow"
STORE_PREFIX = "paxflow-store-"
REPLICA_PREFIX = "paxflow-master-"
KEEPER_NAME = "paxflow-keeper"
