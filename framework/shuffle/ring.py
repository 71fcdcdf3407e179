"""The consistent-hash ring that places shuffle partitions on shuffle store actors.

This module owns the mapping partition -> store ("paxflow-store-0", ...). It replaces the modulo placement of
`framework.shuffle.store.store_index` (also Ray Data's and Spark's `partition % N`), under which adding or losing
one store moves almost every partition: on this ring a join moves only about 1/(S+1) of them, a leave only the
lost store's share.

Pure and deterministic (no Ray): a ring is fully described by the JSON-safe dict of `HashRing.to_dict()`; it
travels in the replicated log (`RingChanged(version, stores)`) and every process rebuilds the identical ring
with `HashRing.from_dict()`. Nothing here uses Python's randomised `hash()`:

* store `s` gets `round(vnodes * weight)` virtual nodes; vnode `i` sits at the i-th output of a splitmix64 stream
  seeded by the 64-bit BLAKE2b of the store's name (so raising a weight only adds vnodes, it never moves any);
* partition `p` sits at the p-th output of a splitmix64 stream with a fixed seed (a bijection: distinct
  partitions never collide); its natural store owns the first vnode at or clockwise after it (`np.searchsorted`).

Bounded loads (`eps` not None), after V. Mirrokni, M. Thorup, M. Zadimoghaddam, "Consistent Hashing with Bounded
Loads", SODA 2018 (arXiv:1608.01350): no store holds more than `ceil((1 + eps) * P * weight / total_weight)`
of the P partitions; a partition whose store is full walks clockwise to the first store that is not. The paper
inserts balls one at a time in any order; here the greedy runs in synchronous rounds so that it vectorises:
in each round every unplaced partition proposes to the first non-full store clockwise of its position, and each
store accepts, up to its remaining capacity, the proposers nearest (counter-clockwise) to their natural vnode.
That is the paper's greedy for one particular insertion order, so its load bound holds; "nearest first" means a
joining store takes exactly the partitions its old owner would have shed first, which keeps the cascade of
extra moves small (measured in tests/test_ring.py and benchmarks/ring_balance.py).

The cascade is the price of the bound, and it grows as partitions per store shrink: every process computes
the placement afresh from the ring alone, so when capacities rise by one (a leave at ~4 partitions per store
takes ceil(1.25 * 4) = 5 to 6) the partitions that had overflowed go home. Measured (benchmarks/ring_balance.py,
eps 0.25): moved fraction / ideal share is ~1.0-1.1 at 64 partitions per store, 1.2-1.6 at 16, and at 4 about
1.2 on a join but 5 on a leave. Plain consistent hashing stays at ~1.0, but its busiest store holds 1.3x the mean
at 64 partitions per store, 1.4-1.6x at 16 and 2.3x at 4.

Lookups (numpy 2, one core): 1M partition ids of P = 1024 in ~2-3 ms (a gather from the cached placement table,
which takes a few ms to build); with P = 2**20 ~150 ms without bounded loads (a hash and a binary search per id),
and with them ~1 s to build the table once, then ~9 ms.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from fractions import Fraction
from typing import Any, Mapping, Sequence

import numpy as np

# Bumped whenever a change here would place any partition differently: rings of another scheme are refused.
SCHEME = "paxflow-ring/1"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PARTITION_SEED = np.uint64(0x5EED_F10_0000_0001)
_NAME_PERSON = b"paxflow-ring"
_TABLE_CACHE = 8  # placement tables kept per ring (one per num_partitions in use)


def _splitmix64(seeds: np.uint64 | np.ndarray, index: np.ndarray) -> np.ndarray:
    """Output number `index` (0-based) of the splitmix64 streams started at `seeds`, elementwise (uint64)."""
    with np.errstate(over="ignore"):
        z = index.astype(np.uint64)  # a fresh array: the mixing below works in place
        z += np.uint64(1)
        z *= _GOLDEN
        z += seeds
        z ^= z >> np.uint64(30)
        z *= _M1
        z ^= z >> np.uint64(27)
        z *= _M2
        z ^= z >> np.uint64(31)
        return z


def _name_seed(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8, person=_NAME_PERSON).digest(), "big")


def partition_positions(partitions: np.ndarray) -> np.ndarray:
    """Where partitions sit on the ring (uint64), the same in every process."""
    return _splitmix64(_PARTITION_SEED, np.asarray(partitions))


class HashRing:
    """An immutable consistent-hash ring of weighted stores; see the module docstring.

    `owners`/`placement` give indices into `stores` (insertion order: a join appends, so existing indices stay).
    """

    __slots__ = ("_stores", "_weights", "_vnodes", "_eps", "_replicas", "_version", "_pos", "_owner", "_tables",
                 "_succ")

    def __init__(self, stores: Mapping[str, float] | Sequence[str], vnodes: int = 64, eps: float | None = 0.25,
                 replicas: int = 1, version: int = 0) -> None:
        if isinstance(stores, str):
            raise TypeError("stores must be a mapping name -> weight or a sequence of names, not a str")
        pairs = list(stores.items()) if isinstance(stores, Mapping) else [(name, 1.0) for name in stores]
        names = [name for name, _ in pairs]
        if not names:
            raise ValueError("a ring needs at least one store")
        if any(not isinstance(n, str) or not n for n in names):
            raise ValueError(f"store names must be non-empty strings: {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate store names: {names!r}")
        weights = [float(w) for _, w in pairs]
        if any(not math.isfinite(w) or w <= 0 for w in weights):
            raise ValueError(f"store weights must be finite and > 0: {dict(pairs)!r}")
        if isinstance(vnodes, bool) or not isinstance(vnodes, int) or vnodes < 1:
            raise ValueError(f"vnodes must be an int >= 1, got {vnodes!r}")
        if eps is not None and (not math.isfinite(eps) or eps < 0):
            raise ValueError(f"eps must be None or a finite float >= 0, got {eps!r}")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be an int >= 1, got {replicas!r}")
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(f"version must be an int >= 0, got {version!r}")
        self._stores: tuple[str, ...] = tuple(names)
        self._weights: tuple[float, ...] = tuple(weights)
        self._vnodes = vnodes
        self._eps = None if eps is None else float(eps)
        self._replicas = replicas
        self._version = version
        self._tables: dict[int, np.ndarray] = {}
        self._succ: np.ndarray | None = None

        counts = np.array([max(1, round(vnodes * w)) for w in weights], dtype=np.int64)
        store_of = np.repeat(np.arange(len(names), dtype=np.int64), counts)
        index = np.arange(store_of.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        seeds = np.array([_name_seed(n) for n in names], dtype=np.uint64)[store_of]
        pos = _splitmix64(seeds, index)
        # Ties on a 64-bit position are broken by name then vnode number, never by insertion order, so a ring's
        # geometry depends only on its set of (name, weight).
        name_rank = np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"), kind="stable")[store_of]
        order = np.lexsort((index, name_rank, pos))
        self._pos = pos[order]
        self._owner = store_of[order]

    # ------------------------------------------------------------------------------------------ description

    @property
    def stores(self) -> tuple[str, ...]:
        return self._stores

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(self._stores, self._weights))

    @property
    def vnodes(self) -> int:
        return self._vnodes

    @property
    def eps(self) -> float | None:
        return self._eps

    @property
    def replicas(self) -> int:
        return self._replicas

    @property
    def version(self) -> int:
        return self._version

    def to_dict(self) -> dict[str, Any]:
        """The ring's whole state, JSON-safe: `HashRing.from_dict(json.loads(json.dumps(d)))` equals the ring."""
        return {"scheme": SCHEME, "version": self._version, "stores": dict(zip(self._stores, self._weights)),
                "vnodes": self._vnodes, "eps": self._eps, "replicas": self._replicas}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HashRing:
        """The ring `to_dict` described; missing settings take the constructor's defaults."""
        if d.get("scheme", SCHEME) != SCHEME:
            raise ValueError(f"ring scheme {d.get('scheme')!r} is not {SCHEME!r}: it places partitions differently")
        stores = d["stores"]
        return cls(dict(stores) if isinstance(stores, Mapping) else stores, vnodes=int(d.get("vnodes", 64)),
                   eps=d.get("eps", 0.25), replicas=int(d.get("replicas", 1)), version=int(d.get("version", 0)))

    def with_store(self, name: str, weight: float = 1.0) -> HashRing:
        """A new ring with `name` added (appended to `stores`), version + 1."""
        if name in self._stores:
            raise ValueError(f"store {name!r} is already on the ring")
        return self._changed({**self.weights, name: weight})

    def without_store(self, name: str) -> HashRing:
        """A new ring without `name`, version + 1."""
        if name not in self._stores:
            raise KeyError(f"store {name!r} is not on the ring")
        return self._changed({n: w for n, w in self.weights.items() if n != name})

    def _changed(self, stores: dict[str, float]) -> HashRing:
        return HashRing(stores, vnodes=self._vnodes, eps=self._eps, replicas=self._replicas,
                        version=self._version + 1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HashRing) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self._stores, self._weights, self._vnodes, self._eps, self._replicas, self._version))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its description: caches stay behind, and the receiver rebuilds the same ring.
        return (HashRing.from_dict, (self.to_dict(),))

    def __repr__(self) -> str:
        return (f"HashRing(version={self._version}, stores={len(self._stores)}, vnodes={self._vnodes}, "
                f"eps={self._eps}, replicas={self._replicas})")

    # ------------------------------------------------------------------------------------------ placement

    def capacities(self, num_partitions: int) -> np.ndarray | None:
        """The most partitions each store may hold, `ceil((1 + eps) * P * weight / total_weight)` computed exactly
        (no float rounding can differ between processes); None without bounded loads."""
        _check_num_partitions(num_partitions)
        if self._eps is None:
            return None
        total = sum(Fraction(w) for w in self._weights)
        scale = (1 + Fraction(self._eps)) * int(num_partitions) / total
        return np.array([math.ceil(scale * Fraction(w)) for w in self._weights], dtype=np.int64)

    def owners(self, partitions: np.ndarray | Sequence[int], num_partitions: int) -> np.ndarray:
        """The primary store (index into `stores`) of each partition id in `partitions` (any shape), int64."""
        p = _check_partitions(partitions, num_partitions)
        # With at least P ids the table is cheaper (it hashes each partition once, then the lookup is a gather);
        # bounded loads always need it, since a partition's store depends on all the others.
        if self._eps is None and p.size < num_partitions and num_partitions not in self._tables:
            return self._owner[self._natural_vnode(partition_positions(p))]
        return self.placement(num_partitions)[p]

    def owner(self, partition: int, num_partitions: int) -> str:
        """The name of the store that holds one partition."""
        return self._stores[int(self.owners(np.array([partition]), num_partitions)[0])]

    def placement(self, num_partitions: int) -> np.ndarray:
        """The primary store (index into `stores`) of partitions 0..P-1: a read-only int64 array, cached."""
        _check_num_partitions(num_partitions)
        num_partitions = int(num_partitions)
        table = self._tables.get(num_partitions)
        if table is None:
            if self._eps is None:
                table = self._owner[self._natural_vnode(partition_positions(np.arange(num_partitions)))]
            else:
                table = self._bounded_placement(num_partitions)
            table.flags.writeable = False
            for stale in list(self._tables)[: max(0, len(self._tables) - _TABLE_CACHE + 1)]:
                self._tables.pop(stale, None)  # tolerant: another thread may be trimming too
            self._tables[num_partitions] = table
        return table

    def replica_placement(self, num_partitions: int) -> np.ndarray:
        """Shape (P, min(replicas, len(stores))): the distinct stores (indices) holding each partition, primary first.

        The others are the first distinct stores clockwise of the partition's position that are not the primary:
        when bounded loads push a partition past its natural store, that store keeps a replica, so it already
        holds the data when the partition moves back.
        """
        return self._replicas_of(np.arange(num_partitions), num_partitions)

    def replicas_for(self, partitions: np.ndarray | Sequence[int], num_partitions: int) -> np.ndarray:
        """Shape (len(partitions), min(replicas, len(stores))): the stores (indices) holding each given partition."""
        return self._replicas_of(np.asarray(partitions, dtype=np.int64), num_partitions)

    def replicas_of(self, partition: int, num_partitions: int) -> list[str]:
        """The names of the distinct stores that hold one partition, primary (`owner`) first."""
        row = self._replicas_of(np.array([partition]), num_partitions)[0]
        return [self._stores[int(i)] for i in row]

    def _replicas_of(self, partitions: np.ndarray, num_partitions: int) -> np.ndarray:
        p = _check_partitions(partitions, num_partitions).reshape(-1)
        primary = self.owners(p, num_partitions)
        r = min(self._replicas, len(self._stores))
        if r == 1:
            return primary[:, None]
        candidates = self._successors()[self._natural_vnode(partition_positions(p))]
        # candidates hold r distinct stores, so at most one equals the primary: skip it, keep the first r - 1.
        keep = np.argsort(candidates == primary[:, None], axis=1, kind="stable")[:, : r - 1]
        return np.concatenate([primary[:, None], np.take_along_axis(candidates, keep, axis=1)], axis=1)

    def _natural_vnode(self, positions: np.ndarray) -> np.ndarray:
        """The first vnode at or clockwise after each position (wrapping past 2**64 - 1 to vnode 0)."""
        j = np.searchsorted(self._pos, positions, side="left")
        j[j == self._pos.size] = 0
        return j

    def _successors(self) -> np.ndarray:
        """(vnodes, r): for each vnode, the first r distinct stores from it clockwise. Built once per ring."""
        if self._succ is None:
            r = min(self._replicas, len(self._stores))
            n = self._owner.size
            succ = np.empty((n, r), dtype=np.int64)
            succ[:, 0] = self._owner
            at = np.arange(n, dtype=np.int64)  # where each vnode's walk has got to
            for col in range(1, r):
                rows = np.arange(n, dtype=np.int64)
                while rows.size:  # one step clockwise for every walk that has not found a new store yet
                    at[rows] = (at[rows] + 1) % n
                    store = self._owner[at[rows]]
                    new = ~(succ[rows, :col] == store[:, None]).any(axis=1)
                    succ[rows[new], col] = store[new]
                    rows = rows[~new]
            self._succ = succ
        return self._succ

    def _bounded_placement(self, num_partitions: int) -> np.ndarray:
        """The bounded-load greedy in synchronous rounds (see the module docstring)."""
        cap = self.capacities(num_partitions)
        assert cap is not None
        h = partition_positions(np.arange(num_partitions, dtype=np.int64))
        natural = self._natural_vnode(h)
        with np.errstate(over="ignore"):
            dist = self._pos[natural] - h  # clockwise distance to the natural vnode, modulo 2**64
        # The fixed priority: nearest to its natural vnode first, then by id (a stable sort of ids 0..P-1).
        pending = np.argsort(dist, kind="stable")
        at = natural[pending]
        load = np.zeros(len(self._stores), dtype=np.int64)
        out = np.empty(num_partitions, dtype=np.int64)
        while pending.size:
            if load.any():
                # Sum of capacities >= (1 + eps) * P >= P, so some store is open while partitions remain.
                open_vnodes = np.flatnonzero(load[self._owner] < cap[self._owner])
                k = np.searchsorted(open_vnodes, at)
                k[k == open_vnodes.size] = 0
                at = open_vnodes[k]
            store = self._owner[at]
            by_store = np.argsort(store, kind="stable")  # stable: priority order within each store
            sorted_store = store[by_store]
            per_store = np.bincount(store, minlength=load.size)
            rank = np.arange(sorted_store.size) - (np.cumsum(per_store) - per_store)[sorted_store]
            accept = rank < (cap - load)[sorted_store]
            taken = by_store[accept]
            out[pending[taken]] = store[taken]
            load += np.bincount(store[taken], minlength=load.size)
            # Every store that refused someone is now full, so each round fills a store or ends the loop.
            refused = np.sort(by_store[~accept])
            pending, at = pending[refused], at[refused]
        return out


def _check_num_partitions(num_partitions: int) -> None:
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, (int, np.integer)) or num_partitions < 1:
        raise ValueError(f"num_partitions must be an int >= 1, got {num_partitions!r}")


def _check_partitions(partitions: np.ndarray | Sequence[int], num_partitions: int) -> np.ndarray:
    _check_num_partitions(num_partitions)
    p = np.asarray(partitions)
    if p.size == 0:
        return p.astype(np.int64)
    if p.dtype.kind not in "iu":
        raise TypeError(f"partition ids must be integers, got dtype {p.dtype}")
    if p.min() < 0 or p.max() >= num_partitions:
        raise ValueError(f"partition ids must lie in [0, {num_partitions})")
    return p.astype(np.int64, copy=False)


def moved_fraction(old: HashRing, new: HashRing, num_partitions: int) -> float:
    """The fraction of partitions 0..P-1 whose primary store (by name) differs between two rings."""
    a = np.array(old.stores)[old.placement(num_partitions)]
    b = np.array(new.stores)[new.placement(num_partitions)]
    return float(np.mean(a != b))


def load_stats(ring: HashRing, num_partitions: int) -> dict[str, Any]:
    """Partitions per store: max, mean (P / stores), max/mean, and the count per store name."""
    counts = np.bincount(ring.placement(num_partitions), minlength=len(ring.stores))
    mean = num_partitions / len(ring.stores)
    return {"max": int(counts.max()), "mean": mean, "max_over_mean": float(counts.max() / mean),
            "per_store": {name: int(c) for name, c in zip(ring.stores, counts)}}


@functools.lru_cache(maxsize=64)
def _ring(ring_json: str, dead: tuple[str, ...]) -> HashRing:
    ring = HashRing.from_dict(json.loads(ring_json))
    for name in dead:
        if name in ring.stores and len(ring.stores) > 1:
            ring = ring.without_store(name)
    return ring


def ring_from(ring: Mapping[str, Any], dead: Sequence[str] = ()) -> HashRing:
    """The HashRing a job's ring dict describes, less the `dead` stores (cached: tasks look placements up often)."""
    return _ring(json.dumps(ring, sort_keys=True), tuple(sorted(set(dead))))


def placements(ring: Mapping[str, Any], dead: Sequence[str], partitions: Sequence[int],
               num_partitions: int) -> list[list[str]]:
    """For each partition, the stores that hold it (primary first, `replicas` of them) on the job's ring once the
    `dead` stores are taken out: where an attempt launched while those were known dead puts its pieces. Taking
    a store out moves its own partitions to their successors (bounded loads may shift a few more); readers look
    each committed attempt's pieces up on the placement it was launched with, so that costs no correctness."""
    r = ring_from(ring, dead)
    rows = r.replicas_for(partitions, num_partitions)
    return [[r.stores[int(i)] for i in row] for row in rows]


def owners(ring: Mapping[str, Any], partitions: Sequence[int], num_partitions: int) -> list[str]:
    """The primary store of each partition, by the consistent-hash ring of the job."""
    return [stores[0] for stores in placements(ring, (), partitions, num_partitions)]
