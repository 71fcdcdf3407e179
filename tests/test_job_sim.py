"""The whole job coordinator under the deterministic simulator: hundreds of seeds, and planted bugs it must catch.

See `tests/job_sim.py` for what is simulated and checked. A failure prints the one command line that replays it.
Pure (no Ray): the replicas, workers, stores and files are simulated on one virtual-clock event loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.background import result_of
from tests.job_sim import BUGS, Simulation, first_violation, main

#: seeds the suite runs (`tests/background.py` runs them beside the other tests at the lowest CPU priority, in the
#: Ray tests' idle time: ~100 s of CPU at ~30 seeds/s, the seeds are small, the code they run is not: real Paxos
#: replicas, drivers and state); `PAXFLOW_SIM_SEEDS=N pytest ...` runs more, and
#: `python tests/job_sim.py --seeds 100000 --jobs 2` many more
SEEDS = int(os.environ.get("PAXFLOW_SIM_SEEDS", "3000"))
BUG_BUDGET = 1000
ROOT = Path(__file__).resolve().parent.parent
#: what every run of SEEDS seeds must have done at least once (or the faults are not what the docstring says)
EXERCISED = ("leader killed", "follower killed", "partition", "store lost", "store came back short", "ring change",
             "cancel", "lost disk", "attempt hang", "attempt infra", "attempt infra-late", "attempt user",
             "attempt doomed", "LeaderElected", "RingChanged", "StoreLost", "job committed", "job failed",
             "job cancelled", "StoreRestarted", "reducer redone", "cancel too late (committing)", "cleanup resumed")


def seeds_command(jobs: int) -> list[str]:
    """The simulator run the suite checks, in `jobs` processes: every failing seed, and a JSON summary line."""
    return [sys.executable, "-m", "tests.job_sim", "--seeds", str(SEEDS), "--all", "--jobs", str(jobs), "--json"]


@pytest.mark.at_end
@pytest.mark.timeout(1200)
def test_every_seed_is_safe_and_live(request: pytest.FixtureRequest) -> None:
    done = result_of(request.config, "job_sim", seeds_command(2), timeout=1150)
    assert done.stdout.strip(), f"the simulator printed no summary (exit {done.returncode}): {done.stderr[-2000:]}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    report = "\n".join(f"{line}  # {problem}" for line, (_, problem) in zip(summary["repro"], summary["failures"]))
    assert not summary["failures"], f"{len(summary['failures'])} of {SEEDS} seeds failed:\n{report}"
    assert done.returncode == 0, done.stderr[-2000:]
    stats = summary["events"]
    missing = [what for what in EXERCISED if not stats.get(what)]
    assert not missing, f"{SEEDS} seeds never did {missing}: {stats}"
    print(f"{SEEDS} seeds in {summary['seconds']}s ({summary['cpu_seconds']}s of CPU, "
          f"{SEEDS / max(summary['cpu_seconds'], 1e-9):.1f} seeds per CPU-second); events: {dict(sorted(stats.items()))}")


@pytest.mark.parametrize("bug", BUGS)
def test_the_checker_catches_a_planted_bug(bug: str) -> None:
    found = first_violation(bug, BUG_BUDGET)
    assert found is not None, f"no violation found for --bug {bug} in {BUG_BUDGET} seeds"
    seed, problem = found
    assert "Error(" not in problem, problem  # the checker caught it, not the patch breaking the code
    print(f"--bug {bug}: caught at seed {seed}: {problem}")


def test_a_seed_replays_exactly() -> None:
    runs = []
    for _ in range(2):
        lines: list[str] = []
        sim = Simulation(13, trace=True, lines=lines)
        sim.run()
        runs.append((lines, sim.oracle.log, sim.loop.time(), dict(sim.stats)))
    assert len(runs[0][0]) > 50
    assert runs[0] == runs[1]
    other: list[str] = []
    Simulation(14, trace=True, lines=other).run()
    assert other != runs[0][0]


def test_a_failing_seed_prints_one_line_that_reproduces_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "20", "--start", "0", "--bug", "commit-early"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    command, problem = line.split("  # ", 1)
    assert command.startswith("python tests/job_sim.py --seeds 1 --start ") and command.endswith("--bug commit-early")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another process, another string hash: the same run
    # `-m tests.job_sim` runs the same file as `tests/job_sim.py`, with the command's arguments
    replay = subprocess.run([sys.executable, "-m", "tests.job_sim", *command.split()[2:]], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert replay.returncode == 1 and replay.stdout.strip() == line, replay.stderr
