"""Balance, movement and lookup speed of the shuffle's consistent-hash ring (framework/shuffle/ring.py).

    python benchmarks/ring_balance.py            # prints one JSON line per configuration
    python benchmarks/ring_balance.py --seeds 50 # average movement over more store-name sets

Balance records ("ring_balance"): partitions per store (max, mean, max/mean) for 4, 16 and 64 stores named
paxflow-store-i, with plain consistent hashing (eps null) and bounded loads (eps 0.25), and the fraction of
partitions that move when one store joins (ideal 1/(S+1)) or one leaves (ideal 1/S), both for those names and
averaged over `--seeds` other name sets (one ring's share is noisy). Lookup records ("ring_lookup"): seconds to
look up 1M partition ids. Modulo placement (`partition % N`) is listed for comparison.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from framework.shuffle.ring import HashRing, load_stats, moved_fraction


def _modulo_moved(num_stores: int, new_stores: int, num_partitions: int) -> float:
    p = np.arange(num_partitions)
    return float(np.mean(p % num_stores != p % new_stores))


def _movement(names: list[str], eps: float | None, num_partitions: int) -> tuple[float, float]:
    ring = HashRing(names, eps=eps)
    join = moved_fraction(ring, ring.with_store(names[0] + "-joined"), num_partitions)
    leave = moved_fraction(ring, ring.without_store(names[-1]), num_partitions) if len(names) > 1 else 1.0
    return join, leave


def balance(num_stores: int, eps: float | None, num_partitions: int, seeds: int) -> dict:
    names = [f"paxflow-store-{i}" for i in range(num_stores)]
    stats = load_stats(HashRing(names, eps=eps), num_partitions)
    join, leave = _movement(names, eps, num_partitions)
    runs = np.array([_movement([f"seed{k}-store-{i}" for i in range(num_stores)], eps, num_partitions)
                     for k in range(seeds)])
    return {"benchmark": "ring_balance", "stores": num_stores, "partitions": num_partitions, "eps": eps,
            "max": stats["max"], "mean": stats["mean"], "max_over_mean": round(stats["max_over_mean"], 3),
            "moved_join": round(join, 4), "moved_leave": round(leave, 4),
            "moved_join_mean": round(float(runs[:, 0].mean()), 4),
            "moved_leave_mean": round(float(runs[:, 1].mean()), 4),
            "ideal_join": round(1 / (num_stores + 1), 4), "ideal_leave": round(1 / num_stores, 4),
            "modulo_moved_join": round(_modulo_moved(num_stores, num_stores + 1, num_partitions), 4)}


def lookup(num_stores: int, eps: float | None, num_partitions: int, n: int = 1_000_000) -> dict:
    ring = HashRing([f"paxflow-store-{i}" for i in range(num_stores)], eps=eps)
    ids = np.random.default_rng(0).integers(0, num_partitions, n)
    t0 = time.perf_counter()
    ring.owners(ids, num_partitions)  # builds and caches the placement table for this P
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        ring.owners(ids, num_partitions)
        best = min(best, time.perf_counter() - t0)
    return {"benchmark": "ring_lookup", "stores": num_stores, "partitions": num_partitions, "eps": eps,
            "ids": n, "first_s": round(first, 4), "cached_s": round(best, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20, help="name sets to average movement over (default 20)")
    args = parser.parse_args()
    for num_partitions in (256, 1024):
        for num_stores in (4, 16, 64):
            for eps in (None, 0.25):
                print(json.dumps(balance(num_stores, eps, num_partitions, args.seeds)), flush=True)
    for num_partitions in (1024, 1 << 20):
        for eps in (None, 0.25):
            print(json.dumps(lookup(64, eps, num_partitions)), flush=True)


if __name__ == "__main__":
    main()
