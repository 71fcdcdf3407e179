"""Planning: a job and its inputs -> stages of map and reduce tasks, sized to the data and the cluster.

Pure and JSON-safe: a `JobPlan` travels in the master's replicated log (`JobSubmitted`), so every replica derives
the same tasks. A stage's map tasks read input splits (or one partition each of an earlier stage's output); its
reduce tasks are one per partition. Usually one stage per job step, except for a **broadcast join**: a join step
one of whose inputs is a job input of at most `broadcast_limit` bytes (as planned: the uncompressed size of the
columns read) is not shuffled. Each map task of the other side reads that small side whole (once per worker
process) and joins its split with it. Such a step then has no reduce of its own: it is fused with the step after
it (which maps and combines the joined rows in the same task, then shuffles by its own key), or, as the job's last
step, its map tasks write the output parts themselves (a stage with 0 partitions). `explain` prints a plan.
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
#: default broadcast limit: a join side of at most this many bytes is sent whole to the other side's map tasks
BROADCAST_LIMIT = 64 * MiB
#: per join type, the sides that can be broadcast: the streamed side's rows may be kept unmatched, the broadcast
#: side's may not (every map task would emit them)
BROADCAST_SIDES = {"inner": ("right", "left"), "left": ("right",), "semi": ("right",), "anti": ("right",),
                   "right": ("left",)}


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
    source_stage: int | None = None  # the stage whose reduce output "step:N" is (None in plans before fusion: N)

    def describe(self) -> str:
        if self.split is not None:
            from framework.io import Split

            return f"input {self.input!r}, split {Split.from_dict(self.split).describe()}"
        return f"{self.input} partition {self.source_partition}"


@dataclass(frozen=True)
class StagePlan:
    """One stage. `steps`: the job steps it runs (two when a broadcast join is fused with the step after it; empty
    in plans from before fusion: the stage number). `broadcast`: the broadcast join its maps do, if any:
    {"step": the join step, "input": the broadcast input, "stream": the input whose maps join with it, "side":
    "left" or "right" (which side of the join is broadcast), "splits": its splits, "bytes": its planned size}.
    `num_partitions` 0: no shuffle; the (final) stage's map tasks write the output parts. `skew`: {"split": the
    input whose hot-key rows are spread, "hashes": the hot keys' hashes, "base": partitions for the other keys,
    "fanout": partitions per hot key (after the base ones), ...} (see framework.skew)."""

    stage: int
    name: str
    num_partitions: int
    maps: tuple[MapTask, ...]
    final: bool
    steps: tuple[int, ...] = ()
    broadcast: dict | None = None
    skew: dict | None = None  # a shuffle join's hot keys, split across extra partitions (framework.skew)

    def reduce_ids(self) -> list[str]:
        return [reduce_task_id(self.stage, p) for p in range(self.num_partitions)]

    def output_ids(self) -> list[str]:
        """The tasks that write this stage's output: its reducers, or its maps where it does not shuffle."""
        return self.reduce_ids() if self.num_partitions else [m.task_id for m in self.maps]

    @property
    def chain(self) -> tuple[int, ...]:
        """The job steps this stage runs (the last one's key shuffles its map output)."""
        return self.steps or (self.stage,)


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
                steps=tuple(s.get("steps", ())),
                broadcast=s.get("broadcast"),
                skew=s.get("skew"),
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
    join: dict | None = None  # {"how", "left", "right"} of a join step
    broadcastable: bool = False  # a join step whose result needs no whole partition (no user reduce)
    keys: Sequence[str] = ()  # for explain
    aggregates: Sequence[str] = ()  # for explain


@dataclass
class InputSplits:
    """The splits of one named job input, as the io layer cut them."""

    name: str
    splits: list = field(default_factory=list)  # framework.io.Split

    @property
    def size(self) -> int:
        return sum(s.size for s in self.splits)


def build_plan(steps: Sequence[StepShape], inputs: Mapping[str, InputSplits], cpus: int,
               broadcast_limit: int = BROADCAST_LIMIT, skew: Mapping[int, dict] | None = None) -> JobPlan:
    """Stages and tasks for `steps` over `inputs`, sized for a cluster with `cpus` CPUs; joins with a side of at most
    `broadcast_limit` bytes are broadcast (0: never). `skew`: {step: framework.skew.skew_plan(...)} for shuffle
    joins with hot keys, each of which gets `skew_fanout(cpus)` partitions of its own."""
    stages: list[StagePlan] = []
    stage_bytes: list[int] = []
    produced: dict[int, int] = {}  # step -> the stage whose reduce output is that step's output
    total_input = sum(i.size for i in inputs.values())
    i = 0
    while i < len(steps):
        number = len(stages)
        choice = _broadcast_choice(steps, i, inputs, broadcast_limit)
        if choice is None:
            chain, names, broadcast = (i,), list(steps[i].inputs), None
        else:
            small, stream, side = choice
            broadcast = {"step": i, "input": small, "stream": stream, "side": side,
                         "splits": [split.to_dict() for split in inputs[small].splits], "bytes": inputs[small].size}
            fused = i + 1 < len(steps)
            chain = (i, i + 1) if fused else (i,)
            names = [stream] + ([n for n in steps[i + 1].inputs if n != f"step:{i}"] if fused else [])
        maps: list[MapTask] = []
        size = 0
        for name in names:
            if name.startswith("step:"):
                source = produced[int(name.split(":", 1)[1])]
                per_partition = stage_bytes[source] // max(1, stages[source].num_partitions)
                for p in range(stages[source].num_partitions):
                    maps.append(MapTask(map_task_id(number, len(maps)), number, len(maps), name, None, p,
                                        per_partition, source))
                size += stage_bytes[source]
            else:
                for split in inputs[name].splits:
                    maps.append(MapTask(map_task_id(number, len(maps)), number, len(maps), name, split.to_dict(), None,
                                        split.size))
                size += inputs[name].size
        last = steps[chain[-1]]
        final = chain[-1] == len(steps) - 1
        if broadcast is not None and len(chain) == 1:
            partitions = 0  # the last step, a broadcast join: its maps write the output
        else:
            partitions = partition_count(size, cpus, last.keyed, last.partitions)
        hot = (skew or {}).get(i) if broadcast is None else None
        if hot is not None:
            fanout = skew_fanout(cpus)
            hot = {**hot, "base": partitions, "fanout": fanout}
            partitions += fanout * len(hot["hashes"])
        name = " + ".join(steps[s].name for s in chain)
        stages.append(StagePlan(number, name, partitions, tuple(maps), final=final, steps=chain, broadcast=broadcast,
                                skew=hot))
        stage_bytes.append(size)
        produced[chain[-1]] = number
        i = chain[-1] + 1
    return JobPlan(tuple(stages), total_input)


def skew_fanout(cpus: int) -> int:
    """Partitions a hot join key is spread over: one per CPU (at least 2, at most 16)."""
    return max(2, min(16, cpus))


def shuffle_joins(plan: JobPlan, steps: Sequence[StepShape], inputs: Mapping[str, InputSplits]) -> list[int]:
    """The steps the plan joins by shuffling both sides, both of them job inputs: where skew is looked for."""
    out = []
    for stage in plan.stages:
        step = steps[stage.chain[-1]]
        if (stage.broadcast is None and step.join is not None and step.broadcastable
                and all(step.join[s] in inputs for s in ("left", "right"))):
            out.append(stage.chain[-1])
    return out


def _broadcast_choice(steps: Sequence[StepShape], i: int, inputs: Mapping[str, InputSplits],
                      limit: int) -> tuple[str, str, str] | None:
    """(broadcast input, streamed input, its side) for step `i`, or None to shuffle it. A side is broadcast when it
    is a job input of at most `limit` bytes that the join type lets go unstreamed (the smaller, if both may), and
    the step's result needs no shuffle of its own: it is the last step, or the next step is the only one to read it
    (and reads none of its inputs under the same name, so the fused tasks know which rows are which)."""
    step = steps[i]
    if not limit or step.join is None or not step.broadcastable:
        return None
    if i + 1 < len(steps):
        label = f"step:{i}"
        nxt = steps[i + 1]
        readers = [s for s in steps[i + 1:] if label in s.inputs]
        if label not in nxt.inputs or len(readers) != 1 or nxt.inputs.count(label) != 1 or \
                set(step.inputs) & set(nxt.inputs):
            return None
    join = step.join
    candidates = []
    for side in BROADCAST_SIDES.get(join["how"], ()):
        name = join[side]
        other = join["right" if side == "left" else "left"]
        if name.startswith("step:") or name not in inputs or name == other or inputs[name].size > limit:
            continue
        candidates.append((inputs[name].size, side != "right", name, other, side))
    if not candidates:
        return None
    _, _, small, stream, side = min(candidates)
    return small, stream, side


def explain(plan: JobPlan, steps: Sequence[StepShape], cpus: int, broadcast_limit: int) -> str:
    """The plan in words: per stage the steps it runs, what its map tasks read (and join, for a broadcast join),
    how it shuffles and what its reducers do."""
    from framework.datagen.common import format_size  # here: replicas load plans, never explain them

    limit = "off" if not broadcast_limit else f"{format_size(broadcast_limit)}"
    lines = [f"{len(steps)} step(s) in {len(plan.stages)} stage(s) over {format_size(plan.input_bytes)} of input, planned "
             f"for {cpus} CPU(s); broadcast limit {limit}"]
    for stage in plan.stages:
        lines.append(f"stage {stage.stage}: {stage.name}")
        counts: dict[str, list[int]] = {}
        for m in stage.maps:
            entry = counts.setdefault(m.input, [0, 0])
            entry[0] += 1
            entry[1] += m.size
        for name, (n, size) in counts.items():
            what = (f"{n} partition(s) of {name} ({format_size(size)})" if name.startswith("step:")
                    else f"{n} split(s) of input {name!r} ({format_size(size)})")
            lines.append(f"  map: {what}")
        b = stage.broadcast
        if b is not None:
            join = steps[b["step"]].join or {}
            lines.append(f"    broadcast {join.get('how', '')} join: each map over {b['stream']!r} joins with the "
                         f"whole of {b['input']!r} ({format_size(b['bytes'])}, {len(b['splits'])} split(s), read once "
                         f"per worker), on {', '.join(steps[b['step']].keys) or 'its keys'}")
            if len(stage.chain) > 1:
                lines.append(f"    fused: {steps[stage.chain[1]].name}'s map and combiner run on the joined rows "
                             f"in the same task")
        last = steps[stage.chain[-1]]
        if stage.num_partitions == 0:
            lines.append("  no shuffle: each map task writes its output part")
            continue
        if last.join is not None and b is None:
            how = f"shuffle {last.join['how']} join"
            if stage.skew:
                k = stage.skew
                shares = ", ".join(f"{share:.0%}" for share in k["shares"])
                how += (f" (skew: {len(k['hashes'])} hot key(s) holding {shares} of a {k['sampled_rows']:,}-row "
                        f"sample of {k['split']!r}, each spread over {k['fanout']} partitions; the other side's "
                        f"rows of those keys go to each of them)")
        elif last.aggregates:
            how = f"aggregate {', '.join(last.aggregates)}"
        else:
            how = "reduce"
        by = ", ".join(last.keys) if last.keys else "(no key: one partition)"
        lines.append(f"  shuffle by {by} into {stage.num_partitions} partition(s); reduce: {how}; "
                     f"{'write the output' if stage.final else 'keep for the next stage'}")
    return "\n".join(lines)
