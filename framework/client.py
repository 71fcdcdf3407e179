"""The public client API: turn a job plus inputs into a submitted, planned job and run it to the end.

`run()` is what `paxflow run`, `python jobs/NAME.py` and the tests call. Everything that can be checked before
work starts is checked here (job options, inputs, output directory), so bad input fails fast with a UsageError.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pyarrow as pa

from framework.errors import Interrupted, JobFailed, UsageError
from framework.io import check_output_dir, expand_paths, read_output
from framework.job import Job, Step, job_steps
from framework.loader import find_job_class, job_spec, load_job_file
from framework.plan import (BROADCAST_LIMIT, InputSplits, JobPlan, StepShape, build_plan, explain, shuffle_joins,
                            split_bytes)

OUTPUT_FORMATS = ("parquet", "csv", "jsonl")


@dataclass
class RunResult:
    """How a job ended: where its output is and what it measured."""

    job_id: str
    status: str
    output: str
    outputs: list = field(default_factory=list)
    output_rows: int | None = None
    input_bytes: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0
    counters: dict = field(default_factory=dict)
    skipped_records: list = field(default_factory=list)  # the first 10 skipped, "file:line: reason"
    tasks: int = 0
    temporary_output: bool = False
    leader_changes: list = field(default_factory=list)
    faults: list = field(default_factory=list)
    abandoned: int = 0  # attempts given up at leader changes (each ran again)
    service: bool = False  # it joined a running master group (a `paxflow up` service or a cluster's keeper)
    worker_pids: list = field(default_factory=list)  # the task worker processes that ran its committed attempts

    def read(self) -> pa.Table:
        """The committed output as one table."""
        return read_output(self.output)

    def summary(self) -> dict:
        mb_s = self.input_bytes / 1e6 / self.wall_s if self.wall_s else None
        return {
            "job_id": self.job_id,
            "status": self.status,
            "output": self.output,
            "wall_s": round(self.wall_s, 3),
            "startup_s": round(self.startup_s, 3),
            "input_bytes": self.input_bytes,
            "mb_per_s": round(mb_s, 2) if mb_s else None,
            "output_rows": self.output_rows,
            "tasks": self.tasks,
            "counters": self.counters,
            "skipped_records": self.skipped_records,
            "leader_changes": self.leader_changes,
            "faults": self.faults,
            "abandoned_attempts": self.abandoned,
            "service": self.service,
            "worker_pids": self.worker_pids,
        }


def resolve_job(job: type[Job] | str, class_name: str | None = None) -> type[Job]:
    """A job class from a class or a job module path."""
    if isinstance(job, str):
        return find_job_class(load_job_file(job), class_name)
    if isinstance(job, type) and issubclass(job, Job):
        return job
    raise UsageError(f"not a job: {job!r}")


def new_job_id(cls: type[Job]) -> str:
    return f"{cls.__name__.lower()}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _named_inputs(cls: type[Job], job: Job, inputs: Any) -> dict[str, list[str]]:
    formats = job.input_formats()
    if inputs is None or (isinstance(inputs, (list, tuple)) and not inputs) or inputs == {}:
        sample = cls.sample_input()
        if sample is None:
            names = ", ".join(formats)
            raise UsageError(f"{cls.__name__} needs input: give {'INPUT paths' if list(formats) == ['input'] else '--input NAME=PATH for ' + names}")
        inputs = dict(sample)
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [os.fspath(inputs)]
    if isinstance(inputs, (list, tuple)):
        if list(formats) != ["input"]:
            raise UsageError(f"{cls.__name__} has named inputs ({', '.join(formats)}): give --input NAME=PATH")
        inputs = {"input": list(inputs)}
    named: dict[str, list[str]] = {}
    for name, paths in dict(inputs).items():
        if name not in formats:
            raise UsageError(f"{cls.__name__} has no input named {name!r} (its inputs: {', '.join(formats)})")
        named[name] = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else [os.fspath(p) for p in paths]
    return named


def plan_job(
    job: type[Job] | str,
    inputs: Any = None,
    output: str | None = None,
    *,
    args: Mapping[str, Any] | argparse.Namespace | Sequence[str] | None = None,
    fmt: str = "parquet",
    overwrite: bool = False,
    cpus: int = 2,
    partitions: int | None = None,
    split_size: int | None = None,
    max_attempts: int = 3,
    job_id: str | None = None,
    skip_bad_records: int | None = None,
    broadcast_limit: int | None = None,
) -> tuple[str, dict]:
    """Check everything and plan the job; returns (job id, the spec the master runs). Raises UsageError.
    `skip_bad_records`: malformed input records the job may skip in all (None: the job's own setting).
    `broadcast_limit`: a join input of at most this many bytes is broadcast (None: plan.BROADCAST_LIMIT; 0: off);
    `spec["explain"]` describes the plan in words."""
    cls = resolve_job(job)
    if isinstance(args, (list, tuple)):
        args = cls.parse_args(args)
    instance = cls(args)
    instance.validate()
    steps = job_steps(instance)
    if fmt not in OUTPUT_FORMATS:
        raise UsageError(f"unknown output format {fmt!r}: choose {', '.join(OUTPUT_FORMATS)}")
    job_id = job_id or new_job_id(cls)
    named = _named_inputs(cls, instance, inputs)
    formats = instance.input_formats()
    used = {name for s in steps for name in s.inputs if not name.startswith("step:")}
    missing = sorted(used - set(named))
    if missing:
        raise UsageError(f"{cls.__name__} reads input {missing[0]!r}: give --input {missing[0]}=PATH")
    files = {name: expand_paths(paths) for name, paths in named.items()}
    total = sum(f.size for entries in files.values() for f in entries)
    target = split_size or split_bytes(total, cpus)
    if target <= 0:
        raise UsageError(f"the split size must be positive, not {target}")
    splits = {name: InputSplits(name, formats[name].plan(files[name], target)) for name in named}
    temporary = output is None
    if temporary:
        output = os.path.join(_results_dir(), job_id)
    output = os.fspath(output)
    check_output_dir(output, overwrite)
    created = not os.path.exists(output) if "://" not in output else False
    skip_limit = _skip_limit(cls, skip_bad_records)
    if broadcast_limit is None:
        broadcast_limit = BROADCAST_LIMIT
    if broadcast_limit < 0:
        raise UsageError(f"the broadcast limit must be a size >= 0 (0: never broadcast), not {broadcast_limit}")
    shapes = [step_shape(s, i, partitions, skip_limit) for i, s in enumerate(steps)]
    plan = build_plan(shapes, splits, cpus, broadcast_limit)
    skew = _skewed_joins(instance, steps, shapes, plan, formats, splits)
    if skew:
        plan = build_plan(shapes, splits, cpus, broadcast_limit, skew)
    spec = {
        "job": job_spec(cls, instance.args),
        "plan": plan.to_dict(),
        "output": {"path": output, "format": fmt, "overwrite": overwrite, "created": created, "temporary": temporary},
        "max_attempts": max_attempts,
        "skip_bad_records": skip_limit,
        "explain": explain(plan, shapes, cpus, broadcast_limit),
        # each input file's (size, mtime) as planned: a map task that finds another version refuses to read it,
        # so a job resumed after its inputs changed fails rather than mix two versions
        "input_files": {f.path: [f.size, f.mtime_ns] for entries in files.values() for f in entries},
    }
    return job_id, spec


def _skewed_joins(instance: Job, steps: Sequence[Step], shapes: Sequence[StepShape], plan: JobPlan,
                  formats: Mapping[str, Any], splits: Mapping[str, InputSplits]) -> dict[int, dict]:
    """{step: skew entry} for the plan's shuffle joins with hot keys, found by sampling (framework.skew)."""
    from framework.skew import hot_keys, skew_plan

    found = {}
    for i in shuffle_joins(plan, shapes, splits):
        step = steps[i]
        join = step.join
        sides = {"left": join.left, "right": join.right}

        def sample(name: str, step: Step = step):
            instance.current_input = name
            try:
                return hot_keys(step.mapper_for(name), formats[name], splits[name].splits, step.keys_for(name))
            except Exception:  # noqa: BLE001 - bad input or a failing map: the job's own task reports it
                return [], [], 0

        entry = skew_plan(join.how, sides, {n: splits[n].size for n in sides.values()}, sample)
        if entry is not None:
            found[i] = entry
    return found


def step_shape(step: Step, index: int, partitions: int | None, skip_limit: int) -> StepShape:
    """What planning needs of one job step. A join is broadcastable unless a user `reduce` needs whole partitions,
    or bad records may be skipped (each map task reads the broadcast side, so its skips would count many times)."""
    join = step.join
    keys = step.keys_for(step.inputs[0])
    return StepShape(
        step.name or f"step {index}", list(step.inputs), bool(keys) or join is not None, step.partitions or partitions,
        join={"how": join.how, "left": join.left, "right": join.right} if join is not None else None,
        broadcastable=join is not None and step.reduce is None and not skip_limit,
        keys=[a if a == b else f"{a} = {b}" for a, b in zip(join.left_on, join.right_on)] if join is not None else keys,
        aggregates=list(step.aggregate or ()))


def _skip_limit(cls: type[Job], given: int | None) -> int:
    limit = getattr(cls, "skip_bad_records", 0) if given is None else given
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        what = "--skip-bad-records" if given is not None else f"{cls.__name__}.skip_bad_records"
        raise UsageError(f"{what} must be a whole number >= 0, not {limit!r}")
    return limit


def _results_dir() -> str:
    from framework.cachedir import cache_dir

    path = cache_dir("results")
    os.makedirs(path, exist_ok=True)
    return path


def run(
    job: type[Job] | str,
    inputs: Any = None,
    output: str | None = None,
    *,
    args: Mapping[str, Any] | argparse.Namespace | Sequence[str] | None = None,
    executor: str = "ray",
    fmt: str = "parquet",
    overwrite: bool = False,
    address: str | None = None,
    partitions: int | None = None,
    split_size: int | None = None,
    stores: int | None = None,
    replicas: int = 1,
    store_memory: int | None = None,
    durable_stores: bool = True,
    masters: int | None = None,
    max_attempts: int = 3,
    job_id: str | None = None,
    on_progress: Callable[[dict], None] | None = None,
    on_step: Callable[..., None] | None = None,
    chaos: Sequence[str] = (),
    chaos_seed: int = 0,
    detach: bool = False,
    skip_bad_records: int | None = None,
    broadcast_limit: int | None = None,
) -> RunResult:
    """Run a job to the end and return its result; raises UsageError (bad input) or JobFailed.

    executor "inline" runs everything in this process and re-raises the user's own exception from map/reduce;
    executor "ray" starts a local Ray (or joins `address`) and runs tasks there. `stores` shuffle store actors
    hold the shuffle, each partition on `replicas` of them (placed by a consistent-hash ring), each spilling to
    disk past `store_memory` bytes. `durable_stores`: stores write each piece to local disk as it arrives, so one
    whose process dies comes back with its data (False: memory only, and its partitions are made again).
    """
    if replicas < 1:
        raise UsageError(f"--replicas must be at least 1, got {replicas}")
    if stores is not None and stores < 1:
        raise UsageError(f"--stores must be at least 1, got {stores}")
    if executor == "inline" and (chaos or detach):
        raise UsageError("--chaos and --detach need the Ray executor (there is no master group inline)")
    if executor == "inline":
        job_id, spec = plan_job(job, inputs, output, args=args, fmt=fmt, overwrite=overwrite, cpus=os.cpu_count() or 1,
                                partitions=partitions, split_size=split_size, max_attempts=1, job_id=job_id,
                                skip_bad_records=skip_bad_records, broadcast_limit=broadcast_limit)
        return _run_inline(job_id, spec)
    if executor != "ray":
        raise UsageError(f"unknown executor {executor!r}: choose ray or inline")
    cls = resolve_job(job)
    plan_args = dict(args=args, fmt=fmt, overwrite=overwrite, partitions=partitions, split_size=split_size,
                     max_attempts=max_attempts, job_id=job_id, skip_bad_records=skip_bad_records,
                     broadcast_limit=broadcast_limit)
    place = _connect(address, lambda cpus: plan_job(cls, inputs, output, cpus=cpus, **plan_args), on_step,
                     detach, masters)
    job_id, spec = place.planned
    return _run_on_ray(job_id, spec, place, stores, masters, on_progress, on_step, chaos, chaos_seed, detach,
                       replicas, store_memory, durable_stores)


@dataclass
class _Placement:
    """Where a job runs: the Ray it joined (and how), its plan, and the master group if one runs there."""

    planned: tuple[str, dict]
    startup: float
    one_shot: bool  # a local Ray started for this process alone (it ends with it)
    service: dict | None  # the service it joined (its record), or the running group's cluster
    group: Any = None


def _connect(address: str | None, plan: Callable[[int], tuple[str, dict]], on_step: Callable[..., None] | None,
             detach: bool, masters: int | None) -> _Placement:
    """Join the service, the cluster at `address`, or a one-shot local Ray; plan the job (before starting a Ray:
    bad input then fails in milliseconds)."""
    from framework import cluster, service
    from framework.master import group as master_group

    step = on_step or (lambda text, note=False: None)
    if _ray_connected():  # a caller (a test, a notebook) that set up Ray itself
        return _Placement(plan(cluster.cluster_cpus()), 0.0, False, None, master_group.find_master_group())
    address, record = service.resolve_address(address)
    if address is None:
        if detach:
            raise UsageError("--detach needs a Ray that outlives this process: `paxflow up` first, or --address")
        planned = plan(os.cpu_count() or 1)
        step("starting Ray")
        startup = cluster.ensure_ray(None)
        cluster.warm_workers()  # task workers start while the master group elects
        return _Placement(planned, startup, True, None, None)
    if record is not None:
        step(f"using the Paxflow service at {address} (paxflow down stops it)", True)
    else:
        step(f"joining Ray at {address}")
    try:
        startup = cluster.ensure_ray(address)
    except (ConnectionError, RuntimeError) as e:
        if record is not None:
            raise UsageError(f"the Paxflow service at {address} does not answer ({e}); `paxflow down` clears it")
        raise UsageError(f"cannot reach a Ray cluster at {address!r}: {e}") from None
    planned = plan(cluster.cluster_cpus())
    group = master_group.find_master_group()
    if group is None and record is not None:  # `down --address` from elsewhere: its keeper is about to exit
        raise UsageError(f"the Paxflow service at {address} has no master group any more (it is stopping); "
                         f"`paxflow up` starts a new one")
    if group is None:
        # A group this process made would run its tasks under this process's Ray job, whose workers Ray kills
        # once the process exits: the keeper of a service owns it instead, and stays.
        import ray

        step(f"starting a Paxflow service on the cluster ({masters or master_group.DEFAULT_MASTERS} master "
             f"replicas)")
        record, _ = service.up(ray.get_runtime_context().gcs_address, masters or master_group.DEFAULT_MASTERS,
                               record=service.record_path_for(address))
        step(f"no master group was on the cluster: started a Paxflow service there, owned by a keeper on this "
             f"machine (pid {record['keeper_pid']}), for this job and later ones; `paxflow down --address {address}` "
             f"stops it", True)
        group = master_group.find_master_group()
    return _Placement(planned, startup, False, record or {"address": address}, group)


def _ray_connected() -> bool:
    import ray

    return ray.is_initialized()


def _run_inline(job_id: str, spec: dict) -> RunResult:
    from framework.exec.inline import run_inline

    started = time.perf_counter()
    job, error = run_inline(job_id, spec)
    wall = time.perf_counter() - started
    if job.status != "committed":
        if error is not None and error.cause is not None:
            raise error.cause  # the user's own exception, with their traceback
        raise JobFailed(job.error or job.status, job.details, usage=job.usage_error)
    return _result(job_id, spec, job.progress(), job.outputs, wall, 0.0)


def _run_on_ray(job_id: str, spec: dict, place: _Placement, stores: int | None, masters: int | None,
                on_progress: Callable[[dict], None] | None, on_step: Callable[..., None] | None,
                chaos: Sequence[str] = (), chaos_seed: int = 0, detach: bool = False, replicas: int = 1,
                store_memory: int | None = None, durable_stores: bool = True) -> RunResult:
    import ray

    from framework.chaos import ChaosMonkey, parse_chaos
    from framework.master import group as master_group
    from framework.names import store_scope
    from framework.shuffle import fleet
    from framework.shuffle.ring import HashRing

    step = on_step or (lambda text: None)
    faults = parse_chaos(list(chaos))
    group = place.group
    info = group.call_any("info") if group is not None else None
    count = stores or master_group.default_store_count(group, info)
    if count < replicas:
        raise UsageError(f"--replicas {replicas} needs at least {replicas} stores (--stores)")
    if group is None:  # this process makes the group: replicas first, they are the longest on the path
        step(f"starting the master group ({masters or master_group.DEFAULT_MASTERS} replicas)")
        group = master_group.get_master_group(masters, [fleet.store_name(i) for i in range(count)])
    # a store this run adds to a service's ring keeps its files in the service's folder
    scope = store_scope(info["group"]) if info is not None else ""
    handles, configured = fleet.start_stores(count, store_memory, durable_stores, scope)
    spec = {**spec, "ring": HashRing(sorted(handles), replicas=replicas).to_dict()}
    step("waiting for a leader")
    ray.get(configured)
    started = time.perf_counter()
    submitted_at = time.time()
    monkey = ChaosMonkey(faults, group, chaos_seed, stores=sorted(handles))

    def observe(status: dict) -> None:
        monkey.observe(status)
        if on_progress is not None:
            on_progress(status)

    try:
        group.call_leader("submit", job_id, spec)
        if detach:
            return RunResult(job_id, "submitted", spec["output"]["path"], startup_s=place.startup,
                             input_bytes=spec["plan"].get("input_bytes", 0))
        status = group.wait(job_id, observe)
    except KeyboardInterrupt as e:  # the job would run on without its client: stop it, and clean up its output
        # (an interrupt during the submission too: the group may have taken the job; cancelling is idempotent)
        step(f"cancelling job {job_id}")
        group.call_leader("cancel", job_id, "interrupted by the user")
        raise Interrupted(job_id, getattr(e, "signum", 2)) from None
    wall = time.perf_counter() - started
    if status["status"] != "committed":
        raise JobFailed(f"job {job_id} {status['status']}: {status['error']}", status.get("details", ""),
                        usage=status.get("usage_error", False))
    result = _result(job_id, spec, status, status["outputs"], wall, place.startup)
    result.leader_changes = leader_changes(status.get("leaders", []), submitted_at)
    result.faults = monkey.fired
    result.abandoned = status.get("abandoned", 0)
    result.service = place.service is not None
    result.worker_pids = status.get("worker_pids", [])
    return result


def leader_changes(leaders: list[dict], since: float) -> list[dict]:
    """The leader changes during a job: seconds after submission, old and new replica (a new group's first
    election is not a change)."""
    changes = []
    for before, after in zip([None] + leaders[:-1], leaders):
        if after["time"] >= since and before is not None:
            changes.append({"t": round(after["time"] - since, 3), "old": before["replica"] if before else None,
                            "new": after["replica"]})
    return changes


def _result(job_id: str, spec: dict, progress: dict, outputs: list, wall: float, startup: float) -> RunResult:
    plan_tasks = sum(len(s["maps"]) + s["num_partitions"] for s in spec["plan"]["stages"])
    return RunResult(
        job_id=job_id,
        status="committed",
        output=spec["output"]["path"],
        outputs=list(outputs),
        output_rows=progress.get("output_rows"),
        input_bytes=spec["plan"].get("input_bytes", 0),
        wall_s=wall,
        startup_s=startup,
        counters=progress.get("counters", {}),
        skipped_records=progress.get("skipped", []),
        tasks=plan_tasks,
        temporary_output=spec["output"].get("temporary", False),
    )
