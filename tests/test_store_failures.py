"""Shuffle stores on a real Ray: a store killed mid-shuffle (one copy of each partition, and two), and a shuffle
four times bigger than the stores' memory budget. The output always equals the fault-free run's (Counter oracle).
"""

from __future__ import annotations

import pytest

from framework import cluster
from framework.client import run
from framework.jobctl import store_stats
from tests.oracles import as_counter, word_counts_of_files

pytestmark = pytest.mark.ray


@pytest.fixture
def corpus(tmp_path):
    files = []
    for i in range(4):
        path = tmp_path / f"in{i}.txt"
        path.write_text("".join(f"kappa{j % 101} lambda{(i * j) % 37} Ünï{j % 7}\n" for j in range(3000)))
        files.append(str(path))
    return files


def map_reruns(job_id: str) -> int:
    tasks = cluster.find_master_group().call_any("commands_of", job_id)
    return sum(t["launched"] - 1 for task, t in tasks.items() if "m" in task.split("s", 1)[1])


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_store_killed_mid_shuffle(ray_session, job_file, corpus, tmp_path, replicas):
    """Killed once the maps are done and reducers run: with one copy, the maps re-send only the dead store's
    partitions; with two, the reducers read the other copy and no map runs again."""
    out = tmp_path / "out"
    result = run(job_file, corpus, str(out), args=["--map-sleep", "0.1", "--reduce-sleep", "0.3"], stores=3,
                 replicas=replicas, partitions=8, split_size=20_000, chaos=["kill-store@60%"], chaos_seed=replicas)
    assert [f["fault"] for f in result.faults] == ["kill-store"]
    assert as_counter(result.read()) == word_counts_of_files(corpus)
    maps = len(corpus) * 3  # about 60 KB per file at 20 kB per split
    if replicas == 1:
        assert 0 < map_reruns(result.job_id) <= maps + 4  # each map once more at most (+ attempts cut off mid-put)
    else:
        assert map_reruns(result.job_id) == 0


def test_a_shuffle_four_times_the_memory_budget_spills_and_completes(ray_session, tmp_path):
    files = []
    for i in range(3):  # many distinct words, so the shuffle is big after the combiner
        path = tmp_path / f"in{i}.txt"
        path.write_text("".join(f"w{i}x{j} common{j % 5}\n" for j in range(40_000)))
        files.append(str(path))
    budget = 256 << 10
    seen: list[dict] = []

    def watch(status: dict) -> None:
        seen.extend(s for s in store_stats() if "error" not in s)

    result = run("jobs/wordcount.py", files, str(tmp_path / "out"), stores=2, store_memory=budget,
                 split_size=300_000, partitions=4, on_progress=watch)
    assert as_counter(result.read()) == word_counts_of_files(files)
    stats = [s for s in store_stats() if s["name"] in ("paxflow-store-0", "paxflow-store-1")]
    spilled = sum(s["bytes_spilled_total"] for s in stats)
    shuffled = spilled + max(s["peak_bytes_in_memory"] for s in stats)
    assert spilled > 0 and shuffled >= 4 * budget, stats
    assert all(s["peak_bytes_in_memory"] <= budget + (1 << 20) for s in stats), stats  # budget + one put
    assert all(s["bytes_in_memory"] == 0 and s["bytes_spilled"] == 0 for s in stats), "freed at commit"
    assert any(s["bytes_spilled"] > 0 for s in seen), "paxflow status shows spilled bytes while the job runs"
