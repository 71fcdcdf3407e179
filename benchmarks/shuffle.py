"""Benchmarks of the shuffle's consistent-hash stores: balance, movement, throughput, a store killed mid-job, and a
shuffle bigger than the stores' memory.

    python benchmarks/shuffle.py                                   # everything, default sizes (~10 minutes)
    python benchmarks/shuffle.py --only balance,movement           # ring only: no Ray, a few seconds
    python benchmarks/shuffle.py --only throughput --bytes 64MiB --runs 3
    python benchmarks/shuffle.py --only store_killed --job-size 64MiB --runs 3
    python benchmarks/shuffle.py --only spill --job-size 64MiB --runs 3
    python benchmarks/shuffle.py > shuffle.jsonl                   # stdout carries only the JSON records

Prints ONE JSON line per measurement on stdout (progress on stderr); each record's `"bench"` says which:

* `shuffle_balance` (no Ray): for `--stores` stores (default 4, 16, 64) and P = `--partitions-per-store` x stores
  partitions (default 4x and 16x), with plain consistent hashing (`eps` null) and bounded loads (`eps` 0.25):
  partitions per store and bytes per store (`max`, `mean`, `max_over_mean`). The bytes are word count's real map
  output: a Zipf corpus (`--balance-size`, default 16 MiB, one map task per file) tokenised with
  `framework.text.words`, combined per map task as the job's combiner does (`aggregates.combine`, Count), hash
  partitioned with `framework.shuffle.partition.split_by_partition` and summed per owning store
  (`HashRing.owners`). `meets_target`: `bytes.max_over_mean` <= 1.25 (the issue's target, bounded loads only).
* `shuffle_movement` (no Ray): the fraction of partitions whose store changes when one store joins (`moved_join`,
  ideal `1/(S+1)`) and when one leaves (`moved_leave`, ideal `1/S`), for the stores named paxflow-store-i and
  averaged over `--seeds` other name sets (`*_mean`), against modulo placement (`partition % S`, `modulo_*`);
  computed by benchmarks/ring_balance.py. `join_over_ideal` = moved_join_mean / ideal; target <= 1.1.
* `shuffle_throughput` (local Ray, 2 stores from `framework.fleet.get_stores(2)`): `--maps` map tasks (8) each
  hold `--bytes`/maps of Arrow tables (word strings + int64 counts, made and `ray.put` before any timer), cut them
  into `--partitions` (16) pieces and put them to the owning stores as `run_task` does (grouped by store, one
  `put` per store, all awaited); then one reduce task per partition asks its store for the committed pieces
  (`get`), `ray.get`s the tables and concatenates them. Baseline `rayput`: the same map tasks `ray.put` each piece
  and return the refs; the same reduce tasks `ray.get` them. Paths alternate within each of `--runs` rounds;
  medians of `map_s` (map -> store), `reduce_s` (store -> reducer) and `total_s`; `mb_per_s` = bytes / 1e6 /
  total_s; `ratio_store_over_rayput` is store MB/s over ray.put/get MB/s (target >= 0.5). The store path runs
  twice: durable (the default: each piece also written to local disk before `put` returns) and `volatile` (memory
  only, `ratio_volatile_over_rayput`). Each store run uses a fresh job id and drops it (`drop_job`) afterwards.
* `shuffle_store_killed` (local Ray): word count (jobs/wordcount.py) on a `--job-size` corpus (64 MiB) without a
  fault and with `chaos=["kill-store@50%"]`, for `replicas` 1 and 2, with durable stores (the default: the killed
  store is started again on its node with its data) and with `--volatile-stores` (`durable` false: its partitions
  are re-made by re-running maps, or read from the other replica): medians of `RunResult.wall_s`, the ratio
  killed / no fault (targets <= 1.25 at R=1, <= 1.1 at R=2), map attempts beyond one per map task (`map_reruns`),
  and whether every output equals the first no-fault run's. With R=2 the ring has 2 stores, so every partition is
  on both.
* `shuffle_spill` (local Ray): word count on a `--job-size` corpus of mostly distinct words (vocabulary 5M, so the
  shuffle stays big after the combiner), first with no budget (its stores' peak bytes give the shuffle's size),
  then with `store_memory` = a quarter of each store's share: wall times, bytes spilled, and each run's largest
  per-store peak of bytes in memory (`peak_within_budget_plus_one_put`: the budget bounds it, give or take one
  map task's put).

Timing records carry `machine` (CPUs, memory, load, commit). The development machine is shared and noisy: compare
the ratios of one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from typing import Any, Callable, Mapping, Sequence

import common  # first: sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER before ray is imported
import numpy as np
import pyarrow as pa

import ring_balance
from framework.shuffle.ring import HashRing, load_stats

BENCHES = ("balance", "movement", "throughput", "store_killed", "spill")
BALANCE_TARGET = 1.25  # bytes max/mean with bounded loads
JOIN_TARGET = 1.1  # moved on a join / (1/(S+1))
THROUGHPUT_TARGET = 0.5  # store MB/s over ray.put/get MB/s
KILLED_TARGETS = {1: 1.25, 2: 1.1}  # wall killed / wall no fault, by replicas
DATASET = "s0"


# --------------------------------------------------------------------------------------------------- balance


def wordcount_map_outputs(corpus_dir: str) -> list[pa.Table]:
    """Word count's combined map output, one table (word, count) per corpus file, i.e. per map task."""
    from framework import Count
    from framework.aggregates import combine
    from framework.text import words

    outputs = []
    for path in common.files_under(corpus_dir, ".txt"):
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        # a word never spans a newline (not a letter or digit), so the whole file can be tokenised at once
        table = pa.table({"word": words(pa.array([text], pa.large_string()))})
        outputs.append(combine(table, ["word"], {"count": Count()}))
    return outputs


def partition_bytes(outputs: Sequence[pa.Table], num_partitions: int) -> np.ndarray:
    """Bytes per partition (float64, length P) of the map outputs, hash partitioned by word as a map task does."""
    from framework.shuffle.partition import split_by_partition

    sizes = np.zeros(num_partitions)
    for table in outputs:
        parts = split_by_partition(table, ["word"], num_partitions)
        ids = np.fromiter(parts.keys(), dtype=np.int64, count=len(parts))
        sizes[ids] += np.fromiter((t.nbytes for t in parts.values()), dtype=np.float64, count=len(parts))
    return sizes


def spread(per_store: np.ndarray) -> dict:
    mean = float(per_store.mean())
    return {"max": round(float(per_store.max()), 1), "mean": round(mean, 1),
            "max_over_mean": round(float(per_store.max()) / mean, 3) if mean else None}


def balance_record(num_stores: int, eps: float | None, sizes: np.ndarray) -> dict:
    num_partitions = sizes.size
    ring = HashRing([f"paxflow-store-{i}" for i in range(num_stores)], eps=eps)
    owner = ring.owners(np.arange(num_partitions), num_partitions)
    by_store = np.bincount(owner, weights=sizes, minlength=num_stores)
    stats = load_stats(ring, num_partitions)
    byte_spread = spread(by_store)
    return {"bench": "shuffle_balance", "stores": num_stores, "eps": eps, "partitions": num_partitions,
            "partitions_per_store": {"max": stats["max"], "mean": round(stats["mean"], 2),
                                     "max_over_mean": round(stats["max_over_mean"], 3)},
            "bytes_per_store": byte_spread, "map_output_bytes": int(sizes.sum()),
            "partition_bytes_max_over_mean": round(float(sizes.max() / sizes.mean()), 3),
            "meets_target": (byte_spread["max_over_mean"] <= BALANCE_TARGET) if eps is not None else None}


def bench_balance(stores: Sequence[int], per_store: Sequence[int], corpus_size: int) -> None:
    corpus = common.corpus(corpus_size)
    started = time.perf_counter()
    outputs = wordcount_map_outputs(corpus)
    common.log(f"balance: {len(outputs)} map outputs, {sum(t.num_rows for t in outputs):,} rows, "
               f"{sum(t.nbytes for t in outputs) / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
    for num_stores in stores:
        for k in per_store:
            sizes = partition_bytes(outputs, k * num_stores)
            for eps in (None, 0.25):
                common.emit({**balance_record(num_stores, eps, sizes), "corpus_bytes": corpus_size})


# --------------------------------------------------------------------------------------------------- movement


def movement_record(num_stores: int, eps: float | None, num_partitions: int, seeds: int) -> dict:
    r = ring_balance.balance(num_stores, eps, num_partitions, seeds)
    ideal_join, ideal_leave = 1 / (num_stores + 1), 1 / num_stores
    return {"bench": "shuffle_movement", "stores": num_stores, "eps": eps, "partitions": num_partitions,
            "seeds": seeds, "moved_join": r["moved_join"], "moved_leave": r["moved_leave"],
            "moved_join_mean": r["moved_join_mean"], "moved_leave_mean": r["moved_leave_mean"],
            "ideal_join": r["ideal_join"], "ideal_leave": r["ideal_leave"],
            "join_over_ideal": round(r["moved_join_mean"] / ideal_join, 3),
            "leave_over_ideal": round(r["moved_leave_mean"] / ideal_leave, 3),
            "modulo_moved_join": r["modulo_moved_join"],
            "modulo_moved_leave": round(ring_balance._modulo_moved(num_stores, num_stores - 1, num_partitions), 4),
            "meets_target": r["moved_join_mean"] <= JOIN_TARGET * ideal_join}


def bench_movement(stores: Sequence[int], per_store: Sequence[int], seeds: int) -> None:
    for num_stores in stores:
        for k in per_store:
            for eps in (None, 0.25):
                common.emit(movement_record(num_stores, eps, k * num_stores, seeds))


# --------------------------------------------------------------------------------------------------- throughput


def make_table(nbytes: int, seed: int, vocabulary: int = 100_000) -> pa.Table:
    """About `nbytes` of word-count-like rows: (word string of a few digits, int64 count), built vectorised."""
    rng = np.random.default_rng(seed)
    vocab = pa.array(np.arange(vocabulary, dtype=np.int64)).cast(pa.string())
    rows = max(1, nbytes // 17)  # ~5 characters + 4 offset bytes + 8 count bytes per row
    return pa.table({"word": vocab.take(pa.array(rng.integers(0, vocabulary, rows))),
                     "count": pa.array(rng.integers(1, 1000, rows))})


def pieces_of(table: pa.Table, num_partitions: int) -> list[pa.Table]:
    """The table cut into `num_partitions` contiguous slices (zero-copy): one piece per partition."""
    bounds = np.linspace(0, table.num_rows, num_partitions + 1).astype(np.int64)
    return [table.slice(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]


def define_tasks() -> dict[str, Any]:
    """The Ray tasks of the throughput benchmark (defined after Ray is imported, only when it runs)."""
    import ray

    from framework.shuffle.ring import owners

    @ray.remote
    def map_to_stores(table: pa.Table, stores: Mapping[str, Any], ring: dict, job: str, task: str,
                      num_partitions: int) -> int:
        """Put the pieces to their stores as `run_task`'s `put` does: grouped by store, one call per store."""
        pieces = pieces_of(table, num_partitions)
        names = owners(ring, list(range(num_partitions)), num_partitions)
        by_store: dict[str, list] = {}
        for name, partition, piece in zip(names, range(num_partitions), pieces):
            by_store.setdefault(name, []).append((partition, "input", piece))
        return sum(ray.get([stores[n].put.remote(job, DATASET, task, 0, batch) for n, batch in by_store.items()]))

    @ray.remote
    def reduce_from_store(store: Any, job: str, partition: int, committed: dict) -> tuple[int, int]:
        """Fetch one partition as `run_task`'s `fetch` does, and concatenate its pieces."""
        listed = ray.get(store.get.remote(job, DATASET, partition, committed))
        table = pa.concat_tables(ray.get([refs[0] for _, refs, _, _, _ in listed]))
        return table.num_rows, table.nbytes

    @ray.remote
    def map_to_objects(table: pa.Table, num_partitions: int) -> list:
        return [ray.put(piece) for piece in pieces_of(table, num_partitions)]

    @ray.remote
    def reduce_from_objects(refs: list) -> tuple[int, int]:
        table = pa.concat_tables(ray.get(refs))
        return table.num_rows, table.nbytes

    return {"map_to_stores": map_to_stores, "reduce_from_store": reduce_from_store,
            "map_to_objects": map_to_objects, "reduce_from_objects": reduce_from_objects}


def windowed(submit: Callable[[int], Any], count: int, limit: int) -> list:
    """Results of tasks 0..count-1, `submit(i)` giving each one's ObjectRef, with at most `limit` in flight, as the
    master launches attempts (`RayBackend.slots()`: twice the CPUs). Unbounded, every task blocked in `ray.get`
    frees its CPU and Ray starts yet another worker process mid-measurement."""
    import ray

    results: list = [None] * count
    pending: dict = {}
    submitted = 0
    while submitted < count or pending:
        while submitted < count and len(pending) < limit:
            pending[submit(submitted)] = submitted
            submitted += 1
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            results[pending.pop(ref)] = ray.get(ref)
    return results


def store_round(tasks: dict, inputs: list, stores: dict, num_partitions: int, limit: int) -> dict:
    """One map -> store -> reduce round trip; seconds per phase, and the rows the reducers got."""
    import ray

    from framework.shuffle.ring import owners

    ring = HashRing(sorted(stores)).to_dict()  # the ring RayBackend gives a job (bounded loads, eps 0.25)
    job = f"bench-shuffle-{uuid.uuid4().hex[:12]}"
    task_ids = [f"s0m{i}" for i in range(len(inputs))]
    try:
        t0 = time.perf_counter()
        windowed(lambda i: tasks["map_to_stores"].remote(inputs[i], stores, ring, job, task_ids[i], num_partitions),
                 len(inputs), limit)
        t1 = time.perf_counter()
        committed = {tid: 0 for tid in task_ids}
        names = owners(ring, list(range(num_partitions)), num_partitions)
        got = windowed(lambda p: tasks["reduce_from_store"].remote(stores[names[p]], job, p, committed),
                       num_partitions, limit)
        t2 = time.perf_counter()
    finally:
        ray.get([s.drop_job.remote(job) for s in stores.values()])
    return {"map_s": t1 - t0, "reduce_s": t2 - t1, "total_s": t2 - t0, "rows": sum(r for r, _ in got)}


def rayput_round(tasks: dict, inputs: list, num_partitions: int, limit: int) -> dict:
    """The baseline: the same maps `ray.put` their pieces and return the refs; reducers `ray.get` them."""
    t0 = time.perf_counter()
    refs = windowed(lambda i: tasks["map_to_objects"].remote(inputs[i], num_partitions), len(inputs), limit)
    t1 = time.perf_counter()
    got = windowed(lambda p: tasks["reduce_from_objects"].remote([per_map[p] for per_map in refs]),
                   num_partitions, limit)
    t2 = time.perf_counter()
    return {"map_s": t1 - t0, "reduce_s": t2 - t1, "total_s": t2 - t0, "rows": sum(r for r, _ in got)}


def summarize(rounds: list[dict], nbytes: int) -> dict:
    median = {k: statistics.median(r[k] for r in rounds) for k in ("map_s", "reduce_s", "total_s")}
    return {**{k: round(v, 3) for k, v in median.items()},
            "total_s_runs": [round(r["total_s"], 3) for r in rounds],
            "mb_per_s": round(nbytes / 1e6 / median["total_s"], 1),
            "map_mb_per_s": round(nbytes / 1e6 / median["map_s"], 1),
            "reduce_mb_per_s": round(nbytes / 1e6 / median["reduce_s"], 1)}


def bench_throughput(total: int, maps: int, num_partitions: int, runs: int, in_flight: int | None) -> None:
    import ray

    from framework import cluster
    from framework.shuffle import fleet

    common.init_ray()
    stores = fleet.get_stores(2)
    ray.get([s.ping.remote() for s in stores.values()])
    tasks = define_tasks()
    limit = in_flight or 2 * cluster.cluster_cpus()
    tables = [make_table(total // maps, seed) for seed in range(maps)]
    rows, nbytes = sum(t.num_rows for t in tables), sum(t.nbytes for t in tables)
    inputs = [ray.put(t) for t in tables]
    del tables
    # untimed, the same shape at 1 MiB: as many workers as the rounds use are started and have imported pyarrow
    # and the framework (a task blocked in ray.get frees its CPU, so Ray starts more than 2 workers)
    warm = [ray.put(make_table((1 << 20) // maps, 0))] * maps
    for _ in range(2):
        store_round(tasks, warm, stores, num_partitions, limit)
        rayput_round(tasks, warm, num_partitions, limit)
    del warm
    budget = fleet.default_store_memory(len(stores))
    results: dict[str, list[dict]] = {"store": [], "volatile": [], "rayput": []}
    for r in range(runs):
        for path in ("store", "volatile", "rayput"):
            load = os.getloadavg()[0]
            if path != "rayput":  # durable stores (the default) write each piece to disk; volatile ones do not
                ray.get([h.configure.remote(budget, path == "store") for h in stores.values()])
            got = store_round(tasks, inputs, stores, num_partitions, limit) if path != "rayput" else \
                rayput_round(tasks, inputs, num_partitions, limit)
            if got["rows"] != rows:
                raise AssertionError(f"{path}: reducers got {got['rows']} rows of {rows}")
            results[path].append({**got, "load": load})
            common.log(f"round {r + 1}/{runs} {path}: map {got['map_s']:.2f} s, reduce {got['reduce_s']:.2f} s, "
                       f"{nbytes / 1e6 / got['total_s']:.0f} MB/s (load {load:.1f})")
    store, base = summarize(results["store"], nbytes), summarize(results["rayput"], nbytes)
    volatile = summarize(results["volatile"], nbytes)
    ray.get([h.configure.remote(budget, True) for h in stores.values()])
    ratio = round(store["mb_per_s"] / base["mb_per_s"], 3)
    per_round = [round(b["total_s"] / s["total_s"], 3) for s, b in zip(results["store"], results["rayput"])]
    common.emit({"bench": "shuffle_throughput", "bytes": nbytes, "rows": rows, "maps": maps,
                 "partitions": num_partitions, "stores": len(stores), "in_flight": limit, "runs": runs, "store": store,
                 "rayput": base, "ratio_store_over_rayput": ratio, "ratio_runs": per_round,
                 "volatile": volatile, "ratio_volatile_over_rayput": round(volatile["mb_per_s"] / base["mb_per_s"], 3),
                 "meets_target": ratio >= THROUGHPUT_TARGET,
                 "load_1m_runs": [round(x["load"], 2) for path in results.values() for x in path],
                 "machine": common.machine()})


# --------------------------------------------------------------------------------------------------- store killed


def run_wordcount(corpus: str, out: str, chaos: list[str], replicas: int, **kwargs: Any) -> Any:
    from framework.client import run

    return run(os.path.join(common.JOBS, "wordcount.py"), [corpus], out, overwrite=True, chaos=chaos,
               replicas=replicas, stores=max(2, replicas), **kwargs)


def map_reruns(job_id: str) -> int:
    """Map attempts launched beyond one per map task."""
    from framework.master import group as master_group

    tasks = master_group.find_master_group().call_any("commands_of", job_id)
    return sum(t["launched"] - 1 for task, t in tasks.items() if "m" in task.split("s", 1)[1])


def sorted_output(out: str) -> pa.Table:
    from framework.io.output import read_output

    return read_output(out).sort_by([("word", "ascending")])


def bench_store_killed(size: int, runs: int) -> None:
    os.environ.setdefault("PAXFLOW_STATE", tempfile.mkdtemp(prefix="paxflow-bench-state-"))
    common.init_ray()
    corpus = common.corpus(size)
    out = tempfile.mkdtemp(prefix="paxflow-bench-shuffle-out-")
    try:
        for durable in (True, False):
            for replicas in (1, 2):
                common.emit(store_killed_record(corpus, out, size, replicas, runs, durable))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def store_killed_record(corpus: str, out: str, size: int, replicas: int, runs: int, durable: bool = True) -> dict:
    run_wordcount(common.corpus(8 << 20), out, [], replicas, durable_stores=durable)  # untimed warm-up
    walls: dict[str, list[float]] = {"no_fault": [], "killed": []}
    faults, reruns, identical, reference = [], [], True, None
    for r in range(runs):
        for case, chaos in (("no_fault", []), ("killed", ["kill-store@50%"])):
            result = run_wordcount(corpus, out, chaos, replicas, durable_stores=durable)
            walls[case].append(round(result.wall_s, 3))
            if chaos:
                faults.append(len(getattr(result, "faults", []) or []))
                reruns.append(map_reruns(result.job_id))
            table = sorted_output(out)
            reference = table if reference is None else reference
            identical = identical and table.equals(reference)
            common.log(f"round {r + 1}/{runs} R={replicas} durable={durable} {case}: {result.wall_s:.2f} s")
    no_fault, killed = statistics.median(walls["no_fault"]), statistics.median(walls["killed"])
    ratio = round(killed / no_fault, 3)
    return {"bench": "shuffle_store_killed", "replicas": replicas, "durable": durable, "size_bytes": size,
            "runs": runs, "wall_s_no_fault": walls["no_fault"], "wall_s_killed": walls["killed"],
            "median_no_fault_s": round(no_fault, 3), "median_killed_s": round(killed, 3),
            "ratio_killed_over_no_fault": ratio, "target": KILLED_TARGETS[replicas],
            "meets_target": ratio <= KILLED_TARGETS[replicas], "faults_fired": faults, "map_reruns": reruns,
            "every_fault_fired": all(faults),
            "outputs_identical": identical, "machine": common.machine()}


# --------------------------------------------------------------------------------------------------- spill


def bench_spill(size: int, runs: int) -> None:
    """Word count whose shuffle is about 4x the stores' memory budget (a corpus of mostly distinct words) against
    the same job with no budget: wall time, bytes spilled, and each store's peak bytes in memory (sampled by
    the store itself), which the budget must bound."""
    from framework.datagen.zipf import generate_corpus
    from framework.jobctl import store_stats

    os.environ.setdefault("PAXFLOW_STATE", tempfile.mkdtemp(prefix="paxflow-bench-state-"))
    common.init_ray()
    corpus = common._generate_once(f"distinct-{size >> 20}MiB", lambda tmp: generate_corpus(
        tmp, size, vocabulary=5_000_000, exponent=1.01, files=4, seed=1))
    out = tempfile.mkdtemp(prefix="paxflow-bench-spill-out-")
    try:
        run_wordcount(corpus, out, [], 1)  # untimed warm-up, and the shuffle's size without a budget
        unbounded = sum(s["peak_bytes_in_memory"] for s in store_stats() if "error" not in s)
        budget = max(1 << 20, unbounded // 2 // 4)  # two stores: each may hold a quarter of its share
        walls: dict[str, list[float]] = {"no_budget": [], "budget": []}
        peaks, spilled = [], []
        for _ in range(runs):
            walls["no_budget"].append(round(run_wordcount(corpus, out, [], 1).wall_s, 3))
            walls["budget"].append(round(run_wordcount(corpus, out, [], 1, store_memory=budget).wall_s, 3))
            stats = [s for s in store_stats() if "error" not in s]
            peaks.append(max(s["peak_bytes_in_memory"] for s in stats))
            spilled.append(sum(s["bytes_spilled_total"] for s in stats))
        common.emit({"bench": "shuffle_spill", "size_bytes": size, "runs": runs, "shuffle_bytes": unbounded,
                     "budget_per_store": budget, "shuffle_over_budget": round(unbounded / budget, 2),
                     "wall_s_no_budget": walls["no_budget"], "wall_s_budget": walls["budget"],
                     "ratio_budget_over_no_budget": round(statistics.median(walls["budget"])
                                                          / statistics.median(walls["no_budget"]), 3),
                     "peak_bytes_in_memory_per_store": peaks, "bytes_spilled": spilled,
                     "peak_within_budget_plus_one_put": all(p <= budget + (8 << 20) for p in peaks),
                     "machine": common.machine()})
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --------------------------------------------------------------------------------------------------- CLI


def bench_list(text: str) -> list[str]:
    names = [n.strip().lower().replace("-", "_") for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown benchmark(s) {', '.join(unknown)}: choose from {', '.join(BENCHES)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=bench_list, default=list(BENCHES),
                        help=f"comma-separated benchmarks to run (default all: {','.join(BENCHES)})")
    parser.add_argument("--stores", type=int, nargs="+", default=[4, 16, 64],
                        help="store counts for balance and movement (default 4 16 64)")
    parser.add_argument("--partitions-per-store", type=int, nargs="+", default=[4, 16],
                        help="P = this x stores, for balance and movement (default 4 16)")
    parser.add_argument("--seeds", type=int, default=20, help="movement: name sets to average over (default 20)")
    parser.add_argument("--balance-size", type=common.size_arg, default=16 << 20,
                        help="balance: corpus size whose word count map output is placed (default 16MiB)")
    parser.add_argument("--bytes", type=common.size_arg, default=256 << 20,
                        help="throughput: total bytes shuffled (default 256MiB)")
    parser.add_argument("--maps", type=int, default=8, help="throughput: map tasks (default 8)")
    parser.add_argument("--partitions", type=int, default=16, help="throughput: partitions (default 16)")
    parser.add_argument("--in-flight", type=int, default=None,
                        help="throughput: tasks in flight at once (default twice the CPUs, as the master launches)")
    parser.add_argument("--runs", type=int, default=3,
                        help="throughput and store_killed: timed runs per case, the median is reported (default 3)")
    parser.add_argument("--job-size", type=common.size_arg, default=64 << 20,
                        help="store_killed: word count corpus size (default 64MiB)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.begin()
    steps: dict[str, Callable[[], None]] = {
        "balance": lambda: bench_balance(args.stores, args.partitions_per_store, args.balance_size),
        "movement": lambda: bench_movement(args.stores, args.partitions_per_store, args.seeds),
        "throughput": lambda: bench_throughput(args.bytes, args.maps, args.partitions, args.runs, args.in_flight),
        "store_killed": lambda: bench_store_killed(args.job_size, args.runs),
        "spill": lambda: bench_spill(args.job_size, args.runs),
    }
    for name in BENCHES:
        if name in args.only:
            started = time.perf_counter()
            common.log(f"--- {name}")
            steps[name]()
            common.log(f"--- {name}: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
