"""Planning: a job and its inputs -> stages of map and reduce tasks, sized to the data and the cluster.

Pure and JSON-safe: a `JobPlan` travels in the master's replicated log (`JobSubmitted`), so every replica derives
the same tasks. One stage per job step. A stage's map tasks read input splits (or, after the first step, one
partition each of an earlier step's output); its reduce tasks are one per partition.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

MiB = 1024 * 1024

#: a map task reads at least this much unless the input is smaller (per-task overhead is a few ms)
MIN_SPLIT_BYTES = 8 * MiB
#: and at most this much, so memory stays bounded and work spreads over the cluster
MAX_SPLIT_BYTES = 64 * MiB
#: a reduce partition is sized to about this much of the stage's input
PARTITION_BYTES = 128 * MiB
MAX_PARTITIONS = 4096


@dataclass(frozen=True)
class MapTask:
    """One map task: a split of a job input, or one partition of an earlier stage's output."""

    task_id: str
    stage: int
    index: int
    input: str  # the input name ("left", "input", or "step:N")
    split: dict | None = None  # framework.io.Split.to_dict() for job inputs
    source_partition: int | None = None  # for "step:N" inputs
    size: int = 0

    def describe(self) -> str:
        if self.split is not None:
            from framework.io import Split

            return f"input {self.input!r}, split {Split.from_dict(self.split).describe()}"
        return f"{self.input} partition {self.source_partition}"


@dataclass(frozen=True)
class StagePlan:
    stage: int
    name: str
    num_partitions: int
    maps: tuple[MapTask, ...]
    final: bool

    def reduce_ids(self) -> list[str]:
        return [reduce_task_id(self.stage, p) for p in range(self.num_partitions)]


@dataclass(frozen=True)
class JobPlan:
    stages: tuple[StagePlan, ...]
    input_bytes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "JobPlan":
        stages = tuple(
            StagePlan(
                stage=s["stage"],
                name=s["name"],
                num_partitions=s["num_partitions"],
                maps=tuple(MapTask(**m) for m in s["maps"]),
                final=s["final"],
            )
            for s in d["stages"]
        )
        return cls(stages=stages, input_bytes=d.get("input_bytes", 0))

    def map_task(self, task_id: str) -> MapTask:
        stage = self.stages[stage_of(task_id)]
        return stage.maps[int(task_id.split("m", 1)[1])]

    def num_tasks(self) -> int:
        return sum(len(s.maps) + s.num_partitions for s in self.stages)


def map_task_id(stage: int, index: int) -> str:
    return f"s{stage}m{index:05d}"


def reduce_task_id(stage: int, partition: int) -> str:
    return f"s{stage}r{partition:05d}"


def shuffle_dataset(stage: int) -> str:
    """The stores' name for a stage's map output."""
    return f"s{stage}"


def output_dataset(stage: int) -> str:
    """The stores' name for a (non-final) stage's reduce output, which the next stage reads."""
    return f"s{stage}.out"


def stage_of(task_id: str) -> int:
    return int(task_id[1:].split("m" if "m" in task_id else "r", 1)[0])


def is_reduce(task_id: str) -> bool:
    return "r" in task_id[1:]


def partition_of(task_id: str) -> int:
    return int(task_id.split("r", 1)[1])


def split_bytes(total_bytes: int, cpus: int) -> int:
    """Target bytes per map task: about four tasks per CPU, clamped to [MIN_SPLIT_BYTES, MAX_SPLIT_BYTES]."""
    per_task = total_bytes // max(1, 4 * cpus)
    return max(MIN_SPLIT_BYTES, min(MAX_SPLIT_BYTES, per_task))


def partition_count(stage_bytes: int, cpus: int, keyed: bool, requested: int | None = None) -> int:
    """Reduce partitions for a stage: one when there is no key, else from the data size, at least one per CPU."""
    if not keyed:
        return 1
    if requested:
        return max(1, min(MAX_PARTITIONS, int(requested)))
    return max(1, min(MAX_PARTITIONS, max(cpus, math.ceil(stage_bytes / PARTITION_BYTES))))


@dataclass
class StepShape:
    """What planning needs to know of a job step (see framework.job.Step)."""

    name: str
    inputs: Sequence[str]
    keyed: bool
    partitions: int | None = None


@dataclass
class InputSplits:
    """The splits of one named job input, as the io layer cut them."""

    name: str
    splits: list = field(default_factory=list)  # framework.io.Split

    @property
    def size(self) -> int:
        return sum(s.size for s in self.splits)


def build_plan(steps: Sequence[StepShape], inputs: Mapping[str, InputSplits], cpus: int) -> JobPlan:
    """Stages and tasks for `steps` over `inputs`, sized for a cluster with `cpus` CPUs."""
    stages: list[StagePlan] = []
    stage_bytes: list[int] = []
    total_input = sum(i.size for i in inputs.values())
    for number, step in enumerate(steps):
        maps: list[MapTask] = []
        size = 0
        for name in step.inputs:
            if name.startswith("step:"):
                source = int(name.split(":", 1)[1])
                per_partition = stage_bytes[source] // max(1, stages[source].num_partitions)
                for p in range(stages[source].num_partitions):
                    maps.append(MapTask(map_task_id(number, len(maps)), number, len(maps), name, None, p, per_partition))
                size += stage_bytes[source]
            else:
                for split in inputs[name].splits:
                    maps.append(MapTask(map_task_id(number, len(maps)), number, len(maps), name, split.to_dict(), None, split.size))
                size += inputs[name].size
        partitions = partition_count(size, cpus, step.keyed, step.partitions)
        stages.append(StagePlan(number, step.name, partitions, tuple(maps), final=number == len(steps) - 1))
        stage_bytes.append(size)
    return JobPlan(tuple(stages), total_input)
