"""The consensus core under the deterministic simulator: thousands of seeds, and planted bugs it must catch.

See `tests/paxos_sim.py` for what is simulated and checked. A failure prints the one command line that replays it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.background import result_of
from tests.paxos_sim import BUGS, Simulation, first_safety_violation, main

SEEDS = 2000
BUG_BUDGET = 2000
ROOT = Path(__file__).resolve().parent.parent


def seeds_command() -> list[str]:
    """The simulator run the suite checks: every failing seed (one repro line each on stdout)."""
    return [sys.executable, "-m", "tests.paxos_sim", "--seeds", str(SEEDS), "--all"]


@pytest.mark.at_end
@pytest.mark.timeout(600)
def test_every_seed_is_safe_and_live(request: pytest.FixtureRequest) -> None:
    """The SEEDS seeds, run beside the suite (tests/background.py) or here; each failing seed prints the one
    command line that replays it."""
    done = result_of(request.config, "paxos_sim", seeds_command(), timeout=550)
    failing = [line for line in done.stdout.splitlines() if line.strip()]
    assert not failing, f"{len(failing)} of {SEEDS} seeds failed:\n" + "\n".join(failing)
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stderr.strip().splitlines()[-1])  # "# N seeds, 0 failing, T s (R seeds/s)"


@pytest.mark.parametrize("bug", BUGS)
def test_the_checker_catches_a_planted_bug(bug: str) -> None:
    found = first_safety_violation(bug, BUG_BUDGET)
    assert found is not None, f"no safety violation found for --bug {bug} in {BUG_BUDGET} seeds"
    seed, problem = found
    print(f"--bug {bug}: caught at seed {seed}: {problem}")


def test_a_seed_replays_exactly() -> None:
    first, second = Simulation(7), Simulation(7)
    first.run()
    second.run()
    assert first.oracle.sequence == second.oracle.sequence and first.now == second.now
    assert first.net._sent == second.net._sent


def test_a_failing_seed_prints_one_line_that_reproduces_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seeds", "20", "--start", "0", "--bug", "skip-phase1"]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    command, problem = line.split("  # ", 1)
    assert command.startswith("python tests/paxos_sim.py --seeds 1 --start ") and command.endswith("--bug skip-phase1")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another process, another string hash: same run
    replay = subprocess.run([sys.executable, *command.split()[1:]], cwd=ROOT, env=env, capture_output=True,
                            text=True)
    assert replay.returncode == 1 and replay.stdout.strip() == line
