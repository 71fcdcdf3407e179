"""Shared fixtures: one local Ray for the whole test session, on loopback, and a private cache directory."""

from __future__ import annotations

import os

import pytest

# Local Ray binds to 127.0.0.1 with this set (measured; see shared/RAY-NOTES.md): test traffic stays on loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


#: modules whose tests start Ray processes of their own (through the CLI or a keeper), not via a fixture
RAY_PROCESS_MODULES = {"test_cli", "test_cluster", "test_node_loss", "test_resume", "test_service"}


def pytest_collection_modifyitems(config, items):
    """Every test that runs Ray goes to one xdist group, so they run one after another in one worker (one Ray
    session, as starting Ray costs seconds and two Rays on two cores make each other's timings lie), while the
    pure tests (Paxos, the simulators, io, the state machine) run beside them in the other worker. Tests marked
    `at_end` (they collect work started beside the suite) run last."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if {"ray_session", "cluster"} & set(item.fixturenames) or module in RAY_PROCESS_MODULES:
            item.add_marker(pytest.mark.xdist_group("ray"))
    items.sort(key=lambda item: item.get_closest_marker("at_end") is not None)  # stable: the rest keep their order


#: the seed runs started beside the suite (tests/background.py): (test module, test name) -> (run name, command)
BACKGROUND = {
    ("test_job_sim", "test_every_seed_is_safe_and_live"): "job_sim",
    ("test_paxos_sim", "test_every_seed_is_safe_and_live"): "paxos_sim",
}


def pytest_collection_finish(session):
    """The simulators' thousands of seeds start now, beside the other tests, in one process at a time at the lowest
    CPU priority (tests/background.py): the tests that check them run last and find them done. Under xdist each
    worker runs its own tests, so there each test runs its seeds itself."""
    if os.environ.get("PYTEST_XDIST_WORKER") or session.config.getoption("collectonly"):
        return
    from tests.background import BackgroundRuns
    from tests.test_job_sim import seeds_command as job_sim_command
    from tests.test_paxos_sim import seeds_command as paxos_sim_command

    wanted = {BACKGROUND.get((item.module.__name__.rsplit(".", 1)[-1], item.name)) for item in session.items}
    commands = {"job_sim": job_sim_command(1), "paxos_sim": paxos_sim_command()}
    chosen = {name: argv for name, argv in commands.items() if name in wanted}
    if chosen:
        session.config.paxflow_background = BackgroundRuns(chosen)


def pytest_unconfigure(config):
    runs = getattr(config, "paxflow_background", None)
    if runs is not None:  # the session may have ended early: do not leave the seeds running
        runs.stop()


@pytest.fixture(scope="session", autouse=True)
def paxflow_cache(tmp_path_factory):
    """Results and sample corpora of this test session go to a temporary cache, not ~/.cache/paxflow."""
    path = tmp_path_factory.mktemp("paxflow-cache")
    old = os.environ.get("PAXFLOW_CACHE")
    os.environ["PAXFLOW_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PAXFLOW_CACHE", None)
    else:
        os.environ["PAXFLOW_CACHE"] = old


@pytest.fixture(scope="session")
def ray_session():
    """The one Ray of this test session (starting Ray costs seconds: never start one per test)."""
    import ray

    from framework.cluster import local_system_config

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="paxflow",
             configure_logging=False, _system_config=local_system_config(2))
    try:
        addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
        assert addresses == {"127.0.0.1"}, f"Ray must bind to loopback in tests, got {addresses}"
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def cluster():
    """A real 3-node Ray cluster on this machine (ray.cluster_utils.Cluster: a head and two nodes, one CPU each),
    for one test module; its tests talk to it from other processes (`--address`)."""
    from ray.cluster_utils import Cluster

    from framework.cluster import local_system_config

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                      "_system_config": local_system_config(1)})
    try:
        for _ in range(2):
            c.add_node(num_cpus=1)
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()


@pytest.fixture
def job_file(tmp_path):
    """The slow word count job module (tests.test_master_failover.SLOW_WORDCOUNT), written to a temporary file."""
    import textwrap

    from tests.test_master_failover import SLOW_WORDCOUNT

    path = tmp_path / "slow_wordcount.py"
    path.write_text(textwrap.dedent(SLOW_WORDCOUNT))
    return str(path)


def text_files(tmp_path, count: int, lines: int, line) -> list[str]:
    """`count` files in tmp_path, in0.txt .. in{count-1}.txt, each of `lines` lines `line(i, j)`."""
    files = []
    for i in range(count):
        path = tmp_path / f"in{i}.txt"
        path.write_text("".join(line(i, j) for j in range(lines)))
        files.append(str(path))
    return files


def slow_job_and_corpus(tmp_path, line) -> tuple[str, list[str]]:
    """The slow word count job module (tests.test_master_failover.SLOW_WORDCOUNT) and 3 files of `line(i, j)`."""
    import textwrap

    from tests.test_master_failover import SLOW_WORDCOUNT

    job = tmp_path / "slow_wordcount.py"
    job.write_text(textwrap.dedent(SLOW_WORDCOUNT))
    return str(job), text_files(tmp_path, 3, 4000, line)


def plain_run(*args, **kwargs):
    """`framework.run` for a job that injects no fault: a leader change during it (the master group's leader may
    change only on a fault) fails the test, as does an attempt abandoned by one."""
    from framework.client import run

    result = run(*args, **kwargs)
    assert result.leader_changes == [], f"the master leader changed during a plain job: {result.leader_changes}"
    assert result.abandoned == 0, f"{result.abandoned} attempts abandoned at a leader change"
    return result
