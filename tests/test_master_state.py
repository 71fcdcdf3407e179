"""The master's state machine: deterministic, fenced, first-commit-wins, and rebuilt exactly from its log."""

import json
import random

from framework.master.state import (
    COMMITTED,
    JobCommitted,
    JobSubmitted,
    MasterState,
    StageDone,
    TaskDone,
    TaskFailed,
    TaskLaunched,
    command_from_dict,
    exhausted_task,
)
from framework.plan import InputSplits, StepShape, build_plan


class FakeSplit:
    def __init__(self, i):
        self.size = 100
        self.i = i

    def to_dict(self):
        return {"path": f"f{self.i}", "start": 0, "end": -1, "row_groups": [], "size": 100}


def make_spec(maps=3, steps=1, partitions=2):
    shapes = [StepShape(f"step {i}", ["input"] if i == 0 else [f"step:{i-1}"], True, partitions) for i in range(steps)]
    plan = build_plan(shapes, {"input": InputSplits("input", [FakeSplit(i) for i in range(maps)])}, cpus=2)
    return {"plan": plan.to_dict(), "max_attempts": 2, "output": {}}


def run_to_end(state, job_id, rng, fail_rate=0.0):
    """Drive a job with random interleavings, failures and stale duplicates, as a leader would."""
    log = []

    def apply(cmd):
        log.append(cmd.to_dict())
        state.apply(cmd)

    job = state.jobs[job_id]
    stale = []
    while job.status == "running":
        if job.stage < len(job.plan.stages) and job.stage_complete(job.stage):
            apply(StageDone(job_id, job.stage))
            continue
        if job.stage >= len(job.plan.stages):
            apply(JobCommitted(job_id, []))
            break
        assert exhausted_task(job) is None
        for t in job.runnable():
            apply(TaskLaunched(job_id, t, job.tasks[t].launched))
        running = [(t, a) for t, r in job.tasks.items() for a in r.running]
        t, a = rng.choice(running)
        if rng.random() < fail_rate and len(job.tasks[t].failures) < job.max_attempts - 1:
            apply(TaskFailed(job_id, t, a, "boom"))
        else:
            apply(TaskDone(job_id, t, a, {"counters": {"c": 1}, "rows": 1}))
        if stale and rng.random() < 0.3:
            apply(stale.pop())  # a late duplicate must change nothing
        stale.append(TaskDone(job_id, t, a, {"counters": {"c": 100}}))
    return log


def test_job_runs_to_commit_and_counts_each_task_once():
    for seed in range(200):
        rng = random.Random(seed)
        state = MasterState()
        state.apply(JobSubmitted("j", make_spec(maps=rng.randint(1, 6), steps=rng.randint(1, 3))))
        log = run_to_end(state, "j", rng, fail_rate=0.3)
        job = state.jobs["j"]
        assert job.status == COMMITTED
        assert job.counters() == {"c": len(job.tasks)}  # stale duplicates and failed attempts never count
        # replaying the log (through JSON, as a WAL would) rebuilds the same state
        replica = MasterState()
        replica.apply(command_from_dict(json.loads(json.dumps(JobSubmitted("j", job.spec).to_dict()))))
        for entry in log:
            replica.apply(command_from_dict(json.loads(json.dumps(entry))))
        assert replica.jobs["j"].progress() == job.progress()
        assert {t: r.done_attempt for t, r in replica.jobs["j"].tasks.items()} == {t: r.done_attempt for t, r in job.tasks.items()}


def test_reduces_wait_for_all_maps_and_stages_run_in_order():
    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=2, steps=2)))
    job = state.jobs["j"]
    assert job.runnable() == ["s0m00000", "s0m00001"]
    state.apply(TaskLaunched("j", "s0m00000", 0))
    state.apply(TaskDone("j", "s0m00000", 0, {}))
    assert job.runnable() == ["s0m00001"]  # reduces not yet
    state.apply(TaskLaunched("j", "s0m00001", 0))
    state.apply(TaskDone("j", "s0m00001", 0, {}))
    assert job.runnable() == ["s0r00000", "s0r00001"]
    assert job.committed_maps(0) == {"s0m00000": 0, "s0m00001": 0}


def test_fencing_unlaunched_and_duplicate_attempts():
    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=1)))
    job = state.jobs["j"]
    state.apply(TaskDone("j", "s0m00000", 0, {}))  # never launched: ignored
    assert not job.tasks["s0m00000"].done
    state.apply(TaskLaunched("j", "s0m00000", 0))
    state.apply(TaskLaunched("j", "s0m00000", 0))  # duplicate launch: ignored
    assert job.tasks["s0m00000"].launched == 1
    state.apply(TaskFailed("j", "s0m00000", 0, "worker died"))
    state.apply(TaskLaunched("j", "s0m00000", 1))
    state.apply(TaskDone("j", "s0m00000", 1, {"counters": {"x": 1}}))
    state.apply(TaskDone("j", "s0m00000", 0, {"counters": {"x": 5}}))  # the failed attempt reports late: ignored
    assert job.tasks["s0m00000"].done_attempt == 1
    assert job.counters() == {"x": 1}


def test_attempts_run_out_and_fatal_errors_do_not_retry():
    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=2)))
    job = state.jobs["j"]
    for attempt in range(2):
        state.apply(TaskLaunched("j", "s0m00000", attempt))
        state.apply(TaskFailed("j", "s0m00000", attempt, "boom"))
    assert exhausted_task(job)[0] == "s0m00000"
    state.apply(TaskLaunched("j", "s0m00001", 0))
    state.apply(TaskFailed("j", "s0m00001", 0, "bad input", fatal=True, usage=True))
    assert "s0m00001" not in job.runnable()
    assert job.tasks["s0m00001"].usage


def test_resubmitting_a_job_id_is_a_no_op():
    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=1)))
    state.apply(TaskLaunched("j", "s0m00000", 0))
    state.apply(JobSubmitted("j", make_spec(maps=5)))
    assert len(state.jobs["j"].plan.stages[0].maps) == 1
    assert state.jobs["j"].tasks["s0m00000"].launched == 1


def test_a_new_leader_abandons_running_attempts_and_fences_them():
    from framework.master.state import LeaderElected

    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=2)))
    job = state.jobs["j"]
    state.apply(TaskLaunched("j", "s0m00000", 0))
    state.apply(TaskLaunched("j", "s0m00001", 0))
    state.apply(TaskDone("j", "s0m00001", 0, {"counters": {"c": 1}}))
    assert job.tasks["s0m00000"].running == {0}
    state.apply(LeaderElected("", 2, [5, 2], 0.0))
    assert job.runnable() == ["s0m00000"]  # runs again, and the abandoned attempt did not count as a failure
    assert job.tasks["s0m00000"].failures == []
    state.apply(TaskDone("j", "s0m00000", 0, {"counters": {"c": 100}}))  # the old attempt reports late: fenced
    assert not job.tasks["s0m00000"].done
    state.apply(TaskLaunched("j", "s0m00000", 1))
    state.apply(TaskDone("j", "s0m00000", 1, {"counters": {"c": 1}}))
    assert job.counters() == {"c": 2}


def test_snapshot_restore_round_trips_through_json():
    from framework.master.state import LeaderElected, restore, snapshot

    for seed in range(30):
        rng = random.Random(seed)
        state = MasterState()
        state.apply(LeaderElected("", 1, [1, 1], 0.5))
        state.apply(JobSubmitted("j", make_spec(maps=3, steps=2)))
        job = state.jobs["j"]
        for _ in range(rng.randint(0, 12)):  # stop somewhere mid-job
            runnable = job.runnable()
            if not runnable:
                break
            t = rng.choice(runnable)
            state.apply(TaskLaunched("j", t, job.tasks[t].launched))
            if rng.random() < 0.3:
                state.apply(TaskFailed("j", t, job.tasks[t].launched - 1, "boom", "tb"))
            else:
                state.apply(TaskDone("j", t, job.tasks[t].launched - 1, {"counters": {"c": 1}}))
            if job.stage_complete(job.stage):
                state.apply(StageDone("j", job.stage))
        copy = restore(json.loads(json.dumps(snapshot(state))))
        assert snapshot(copy) == json.loads(json.dumps(snapshot(state)))
        assert copy.jobs["j"].runnable() == job.runnable() and copy.leaders == state.leaders


# ---- a shuffle store dies -----------------------------------------------------------------------------------

from framework.master.state import FAILED, StoreLost, restore, snapshot  # noqa: E402
from framework.plan import reduce_task_id  # noqa: E402
from framework.shuffle.ring import HashRing  # noqa: E402
from framework.shuffle.ring import placements  # noqa: E402

STORES = [f"paxflow-store-{i}" for i in range(4)]


def ring_spec(replicas=1, maps=3, steps=1, partitions=16):
    return {**make_spec(maps=maps, steps=steps, partitions=partitions),
            "ring": HashRing(STORES, replicas=replicas).to_dict()}


def finish_maps(state, job):
    for t in job.runnable():
        state.apply(TaskLaunched(job.job_id, t, job.tasks[t].launched))
        state.apply(TaskDone(job.job_id, t, job.tasks[t].launched - 1, {"counters": {"c": 1}, "rows": 5}))


def test_a_lost_store_reruns_only_the_maps_partitions_it_held():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec()))
    job = state.jobs["j"]
    finish_maps(state, job)
    assert job.maps_done(0)
    held = [p for p, stores in enumerate(placements(job.spec["ring"], [], range(16), 16)) if stores == [STORES[1]]]
    assert held  # the store owned some partitions
    # one reducer ran on a partition the store did not hold, one on a partition it held
    other = next(p for p in range(16) if p not in held)
    for p in (other, held[0]):
        state.apply(TaskLaunched("j", reduce_task_id(0, p), 0))
    state.apply(StoreLost("", STORES[1]))
    assert job.dead_stores == [STORES[1]]
    for t in [m.task_id for m in job.plan.stages[0].maps]:
        assert job.tasks[t].redo == held and job.tasks[t].done_attempt == 0
    assert job.tasks[reduce_task_id(0, other)].running == {0}  # unaffected: keeps running
    assert job.tasks[reduce_task_id(0, held[0])].running == set()  # its input is gone: given up, not failed
    assert job.abandoned == 1 and not job.maps_done(0)
    # the redo attempts re-send just those partitions, to the stores that are left
    redo = job.runnable()
    assert sorted(redo) == sorted(m.task_id for m in job.plan.stages[0].maps)
    for t in redo:
        state.apply(TaskLaunched("j", t, 1))
        assert job.tasks[t].dead_at == {1: [STORES[1]]}
        state.apply(TaskDone("j", t, 1, {"counters": {"c": 100}}))
    assert job.maps_done(0) and job.counters() == {"c": 3}  # a redo's counters do not count again
    sources = job.map_sources(0, held[0])
    assert sources == [{"ring": 0, "dead": [STORES[1]], "committed": {t: 1 for t in redo}, "wrote": []}]
    assert job.map_sources(0, other) == [{"ring": 0, "dead": [], "committed": {t: 0 for t in redo}, "wrote": []}]
    # the state survives a snapshot, as a replica's would
    again = restore(json.loads(json.dumps(snapshot(state))))
    assert again.jobs["j"].map_sources(0, held[0]) == sources and again.jobs["j"].dead_stores == [STORES[1]]


def test_with_two_replicas_one_lost_store_reruns_nothing():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(replicas=2)))
    job = state.jobs["j"]
    finish_maps(state, job)
    state.apply(StoreLost("", STORES[2]))
    assert job.maps_done(0) and not any(r.redo for r in job.tasks.values())
    state.apply(StoreLost("", STORES[0]))  # a second one: partitions whose both stores are gone run again
    both = [p for p, s in enumerate(placements(job.spec["ring"], [], range(16), 16)) if set(s) == {STORES[0], STORES[2]}]
    assert all(job.tasks[m.task_id].redo == both for m in job.plan.stages[0].maps)


def test_a_map_that_finishes_after_its_store_died_is_redone_at_once():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec()))
    job = state.jobs["j"]
    t = job.runnable()[0]
    state.apply(TaskLaunched("j", t, 0))
    state.apply(StoreLost("", STORES[3]))  # the running attempt is given up ...
    assert job.tasks[t].running == set()
    state.apply(TaskLaunched("j", t, 1))
    state.apply(TaskDone("j", t, 0, {}))  # ... so its late result is fenced out
    assert job.tasks[t].done_attempt is None
    state.apply(TaskDone("j", t, 1, {}))  # the attempt launched knowing the store dead put nothing there
    assert job.tasks[t].finished


def test_losing_the_only_copy_of_an_earlier_steps_output_fails_the_job_clearly():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(steps=2, partitions=8)))
    job = state.jobs["j"]
    while job.stage == 0:
        if job.stage_complete(0):
            state.apply(StageDone("j", 0))
        else:
            finish_maps(state, job)
    state.apply(StoreLost("", STORES[0]))
    assert job.status == FAILED and "--replicas 2" in job.error and STORES[0] in job.error


def test_a_store_not_on_the_jobs_ring_changes_nothing():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec()))
    state.apply(StoreLost("", "paxflow-store-99"))
    assert state.jobs["j"].dead_stores == []


def test_a_ring_change_places_later_attempts_and_leaves_written_data_where_it_is():
    from framework.master.state import RingChanged

    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(maps=4)))
    job = state.jobs["j"]
    first = [m.task_id for m in job.plan.stages[0].maps]
    for t in first[:2]:  # two maps finish on the first ring
        state.apply(TaskLaunched("j", t, 0))
        state.apply(TaskDone("j", t, 0, {}))
    state.apply(RingChanged("", 1, STORES + ["paxflow-store-9"]))
    assert state.ring == {"version": 1, "stores": STORES + ["paxflow-store-9"], "auto": True}
    assert "paxflow-store-9" in job.ring()["stores"] and job.ring(0) == job.spec["ring"]
    finish_maps(state, job)  # the other two launch on the new ring
    assert job.tasks[first[3]].ring_at == {0: 1} and job.tasks[first[0]].ring_at == {}
    sources = job.map_sources(0, 5)
    assert sources == [{"ring": 0, "dead": [], "committed": {first[0]: 0, first[1]: 0}, "wrote": []},
                       {"ring": 1, "dead": [], "committed": {first[2]: 0, first[3]: 0}, "wrote": []}]
    # a store of either ring can be lost; a job's snapshot keeps its rings
    state.apply(StoreLost("", "paxflow-store-9"))
    assert job.dead_stores == ["paxflow-store-9"]
    again = restore(json.loads(json.dumps(snapshot(state))))
    assert again.jobs["j"].map_sources(0, 5) == job.map_sources(0, 5) and again.ring == state.ring


def test_a_store_taken_out_of_the_ring_retires_once_no_running_job_reads_from_it():
    """Scale-down drains: the store leaves the ring at once, but serves the jobs that wrote to it until they end."""
    from framework.master.state import RingChanged, StoresRetired

    state = MasterState()
    state.apply(RingChanged("", 1, STORES + ["paxflow-store-9"], auto=False))
    state.apply(JobSubmitted("j", ring_spec(maps=4)))  # its ring has STORES only
    state.apply(JobSubmitted("k", {**ring_spec(maps=2), "ring": {**ring_spec()["ring"],
                                                                  "stores": {"paxflow-store-9": 1.0}}}))
    state.apply(RingChanged("", 2, STORES[:1], auto=False))
    assert state.ring == {"version": 2, "stores": STORES[:1], "auto": False}
    assert state.retiring == sorted(STORES[1:] + ["paxflow-store-9"])
    assert state.retirable() == []  # j wrote to STORES[1:], k to store-9
    state.apply(JobCommitted("k", []))
    assert state.retirable() == ["paxflow-store-9"]
    state.apply(StoresRetired("", ["paxflow-store-9"]))
    assert "paxflow-store-9" not in state.retiring
    again = restore(json.loads(json.dumps(snapshot(state))))
    assert again.retiring == state.retiring and again.ring == state.ring
    # a job submitted with a retiring store (its client chose it) keeps it in service
    state.apply(JobSubmitted("l", ring_spec(maps=2)))
    assert state.retiring == []
    # a store that comes back into the ring is no longer retiring
    state.apply(RingChanged("", 3, ["paxflow-store-9"], auto=True))
    state.apply(RingChanged("", 4, STORES + ["paxflow-store-9"], auto=True))
    assert state.retiring == []


def test_readers_learn_which_tasks_wrote_their_partition_and_a_store_what_it_must_hold():
    """`wrote` lets a reducer refuse to read a partition short; `pieces_on` is what a restarted store must hold."""
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(maps=2, partitions=4)))
    job = state.jobs["j"]
    m0, m1 = [m.task_id for m in job.plan.stages[0].maps]
    for t, parts in ((m0, {"0": 5, "1": 2}), (m1, {"1": 3, "3": 1})):
        state.apply(TaskLaunched("j", t, 0))
        state.apply(TaskDone("j", t, 0, {"partitions": parts}))
    assert [s["wrote"] for s in job.map_sources(0, 1)] == [[m0, m1]]
    assert [s["wrote"] for s in job.map_sources(0, 2)] == [[]]
    owner = {p: job.ring(0) and HashRing.from_dict(job.ring(0)).replicas_of(p, 4)[0] for p in range(4)}
    for store in STORES:
        expected = {("s0", p, t, 0) for t, ps in ((m0, (0, 1)), (m1, (1, 3))) for p in ps if owner[p] == store}
        assert job.pieces_on(store) == expected


def test_a_store_lost_to_one_job_only_leaves_the_others_alone():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec()))
    state.apply(JobSubmitted("k", ring_spec()))
    state.apply(StoreLost("k", STORES[0]))
    assert state.jobs["j"].dead_stores == [] and state.jobs["k"].dead_stores == [STORES[0]]


def test_a_replica_a_map_could_not_write_is_not_counted_on():
    """At R=2 a map went on without one replica: neither a restarted store nor a later loss counts that copy."""
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(replicas=2, maps=1, partitions=4)))
    job = state.jobs["j"]
    (m0,) = [m.task_id for m in job.plan.stages[0].maps]
    ring = HashRing.from_dict(job.ring(0))
    first, second = ring.replicas_of(0, 4)
    state.apply(TaskLaunched("j", m0, 0))
    state.apply(TaskDone("j", m0, 0, {"partitions": {"0": 1}, "missed": [first]}))
    assert not any(p[1] == 0 for p in job.pieces_on(first)) and ("s0", 0, m0, 0) in job.pieces_on(second)
    state.apply(StoreLost("", second))  # the one copy it wrote is gone: partition 0 must be sent again
    assert 0 in job.tasks[m0].redo
    again = restore(json.loads(json.dumps(snapshot(state))))
    assert again.jobs["j"].tasks[m0].missed == {0: [first]}


# ---- what the whole-job simulator found (tests/job_sim.py): each rule on its own ---------------------------------

from framework.master.state import (  # noqa: E402
    CANCELLED,
    CommitStarted,
    JobCancelled,
    JobCleaned,
    JobFailed,
    StoreRestarted,
)


def _finish_steps(state, job, steps):
    """Run every task of the first `steps` steps (maps write partitions {"0": 1, ..}, reducers 5 rows)."""
    while job.stage < steps:
        if job.stage_complete(job.stage):
            state.apply(StageDone(job.job_id, job.stage))
            continue
        for t in job.runnable():
            attempt = job.tasks[t].launched
            state.apply(TaskLaunched(job.job_id, t, attempt))
            num = job.plan.stages[job.stage].num_partitions
            result = {"counters": {"c": 1}, "rows": 5, "partitions": {str(p): 1 for p in range(num)}}
            state.apply(TaskDone(job.job_id, t, attempt, result))


def test_a_cancel_after_the_commit_began_is_too_late():
    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=1)))
    job = state.jobs["j"]
    _finish_steps(state, job, 1)
    state.apply(CommitStarted("j", [3, 1]))
    assert job.commit == [3, 1]
    state.apply(JobCancelled("j", "cancelled by the user"))
    assert job.status == "running"  # the output is being moved: the job ends committed
    state.apply(JobCommitted("j", ["out/part-00000.parquet"]))
    assert job.status == COMMITTED
    other = MasterState()
    other.apply(JobSubmitted("k", make_spec(maps=1)))
    other.apply(CommitStarted("k", [1, 0]))  # before its last step is done: ignored
    other.apply(JobCancelled("k"))
    assert other.jobs["k"].commit is None and other.jobs["k"].status == CANCELLED


def test_an_ended_job_is_cleaned_once_and_old_snapshots_count_as_cleaned():
    state = MasterState()
    state.apply(JobSubmitted("j", make_spec(maps=1)))
    state.apply(JobCleaned("j"))  # a running job is not cleaned up
    job = state.jobs["j"]
    assert not job.cleaned
    state.apply(JobFailed("j", "boom"))
    assert not job.cleaned  # a new leader would finish its cleanup
    again = restore(json.loads(json.dumps(snapshot(state))))
    assert not again.jobs["j"].cleaned
    state.apply(JobCleaned("j"))
    assert job.cleaned and restore(json.loads(json.dumps(snapshot(state)))).jobs["j"].cleaned
    old = snapshot(state)
    for j in old["jobs"]:
        del j["cleaned"], j["commit"]  # a snapshot from before these existed: its ended jobs were cleaned then
    assert restore(json.loads(json.dumps(old))).jobs["j"].cleaned


def test_a_restarted_store_fences_out_the_attempts_in_flight():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(maps=2)))
    state.apply(JobSubmitted("k", {**make_spec(maps=1), "ring": HashRing(["elsewhere"]).to_dict()}))
    job = state.jobs["j"]
    m0, m1 = [m.task_id for m in job.plan.stages[0].maps]
    (k0,) = [m.task_id for m in state.jobs["k"].plan.stages[0].maps]
    state.apply(TaskLaunched("j", m0, 0))
    state.apply(TaskLaunched("j", m1, 0))
    state.apply(TaskLaunched("k", k0, 0))
    state.apply(TaskDone("j", m0, 0, {"partitions": {"0": 1}}))  # done before the restart: counts
    state.apply(StoreRestarted("", STORES[1]))
    assert job.tasks[m1].running == set() and job.abandoned == 1
    assert state.jobs["k"].tasks[k0].running == {0}  # a job that does not use the store goes on
    state.apply(TaskDone("j", m1, 0, {"partitions": {"0": 1}}))  # it may have written to the dead process
    assert not job.tasks[m1].done and job.tasks[m0].done_attempt == 0 and job.dead_stores == []


def test_a_done_map_is_not_redone_for_a_partition_it_wrote_nothing_to():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(maps=1, partitions=16)))
    job = state.jobs["j"]
    (m0,) = [m.task_id for m in job.plan.stages[0].maps]
    state.apply(TaskLaunched("j", m0, 0))
    state.apply(TaskDone("j", m0, 0, {"partitions": {"0": 4}}))  # every row went to partition 0
    owner = HashRing.from_dict(job.ring(0)).replicas_of(0, 16)[0]
    state.apply(StoreLost("", next(s for s in STORES if s != owner)))
    assert job.tasks[m0].finished
    state.apply(StoreLost("", owner))
    assert job.tasks[m0].redo == [0]


def test_a_lost_reduce_output_of_the_current_step_is_made_again_counting_once():
    """A reducer of a step before the last wrote its output to a store that died while the step still runs: it runs
    again (its input is at hand), its result and counters are the first attempt's, the next step reads the new one."""
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(maps=2, steps=2, partitions=4)))
    job = state.jobs["j"]
    stage0 = job.plan.stages[0]
    for m in stage0.maps:
        state.apply(TaskLaunched("j", m.task_id, 0))
        state.apply(TaskDone("j", m.task_id, 0, {"counters": {"c": 1}, "partitions": {"0": 1}}))
    r0 = reduce_task_id(0, 0)
    state.apply(TaskLaunched("j", r0, 0))
    state.apply(TaskDone("j", r0, 0, {"counters": {"c": 1}, "rows": 5}))
    # the maps' pieces of partition 0 and the reducer's output partition 0 lie on the same store (one ring)
    state.apply(StoreLost("", HashRing.from_dict(job.ring(0)).replicas_of(0, 4)[0]))
    assert job.tasks[r0].redo == [0]
    assert all(job.tasks[m.task_id].redo == [0] for m in stage0.maps)
    assert job.current_tasks() == [m.task_id for m in stage0.maps]  # the maps' lost pieces first
    for m in stage0.maps:
        state.apply(TaskLaunched("j", m.task_id, 1))
        state.apply(TaskDone("j", m.task_id, 1, {"counters": {"c": 1}, "partitions": {"0": 1}}))
    assert r0 in job.runnable()
    state.apply(TaskLaunched("j", r0, 1))
    state.apply(TaskDone("j", r0, 1, {"counters": {"c": 100}, "rows": 5}))
    assert job.tasks[r0].finished and job.tasks[r0].attempt_for(0) == 1 and job.tasks[r0].result["counters"] == {"c": 1}
    assert job.reduce_sources(0, 0)[0]["committed"] == {r0: 1} and job.status == "running"


def test_a_next_step_map_that_must_run_again_fails_the_job_when_its_input_is_gone():
    state = MasterState()
    state.apply(JobSubmitted("j", ring_spec(steps=2, partitions=8)))
    job = state.jobs["j"]
    _finish_steps(state, job, 1)
    first = job.plan.stages[1].maps[0]
    q = first.source_partition
    state.apply(TaskLaunched("j", first.task_id, 0))
    state.apply(TaskDone("j", first.task_id, 0, {"partitions": {"0": 1}}))
    # the reducer that made partition q: its only store dies, and with it the map's own output
    holder = HashRing.from_dict(job.ring(0)).replicas_of(q, 8)[0]
    state.apply(StoreLost("", holder))
    assert job.status == FAILED and holder in job.error and f"(partition {q})" in job.error
