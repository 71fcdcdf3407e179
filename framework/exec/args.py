"""What one task attempt needs to know, read off the master's state (the leader builds it at each launch)."""

from __future__ import annotations

from framework.master.state import JobState
from framework.plan import is_reduce, partition_of, stage_of


def task_args(job: JobState, task_id: str, attempt: int) -> dict:
    """What one attempt needs to know, read off the master's state."""
    stage = stage_of(task_id)
    plan = job.plan.stages[stage]
    rec = job.tasks[task_id]
    args = {"job_id": job.job_id, "task_id": task_id, "attempt": attempt, "stage": stage,
            "num_partitions": plan.num_partitions, "rings": [job.ring(i) for i in range(len(job.rings) + 1)],
            "ring_at_launch": rec.ring_at.get(attempt, 0), "dead_at_launch": rec.dead_at.get(attempt, []),
            "dead_now": list(job.dead_stores), "chain": list(plan.chain), "stage_name": plan.name}
    if is_reduce(task_id):
        schemas: dict[str, str] = {}
        for t in job.committed_maps(stage):
            result = job.tasks[t].result or {}
            if result.get("schema") and result["input"] not in schemas:
                schemas[result["input"]] = result["schema"]
        partition = partition_of(task_id)
        args.update(partition=partition, sources=job.map_sources(stage, partition), schemas=schemas,
                    final=plan.final, output=job.spec["output"])
    else:
        task = job.plan.map_task(task_id)
        # a redo re-sends only the partitions whose pieces died with a store
        args.update(input=task.input, split=task.split, describe=task.describe(),
                    only=list(rec.redo) if rec.done else None, index=task.index)
        versions = job.spec.get("input_files") or {}
        if task.split is not None:  # the file's version the job was planned on (attempt.check_unchanged)
            args["planned"] = versions.get(task.split["path"])
            args["skip_bad_records"] = job.skip_limit
        broadcast = plan.broadcast
        if broadcast is not None and task.input == broadcast["stream"]:
            args["broadcast"] = {**broadcast, "planned": {s["path"]: versions.get(s["path"]) for s in broadcast["splits"]}}
        if plan.skew is not None:  # a skewed join: this side's hot-key rows are split, or copied to each split
            mode = "split" if task.input == plan.skew["split"] else "replicate"
            args["skew"] = {k: plan.skew[k] for k in ("hashes", "base", "fanout")} | {"mode": mode}
        if plan.num_partitions == 0:  # no shuffle: the map writes the output part
            args.update(final=plan.final, output=job.spec["output"])
        if task.source_partition is not None:
            source = task.source_stage if task.source_stage is not None else int(task.input.split(":", 1)[1])
            args.update(source_stage=source, source_partition=task.source_partition,
                        source_partitions=job.plan.stages[source].num_partitions,
                        sources=job.reduce_sources(source, task.source_partition))
    return args
