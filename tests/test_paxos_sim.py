"""The consensus core under the deterministic simulator: thousands of seeds, and planted bugs it must catch.

See `tests/paxos_sim.py` for what is simulated and checked. A failure prints the one command line that replays it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.paxos_sim import BUGS, Simulation, first_safety_violation, main, repro_line, run_seeds

SEEDS = 2000
BUG_BUDGET = 2000
ROOT = Path(__file__).resolve().parent.parent


def test_every_seed_is_safe_and_live() -> None:
    began = time.perf_counter()
    failures = run_seeds(0, SEEDS, stop_at_first=False)
    elapsed = time.perf_counter() - began
    report = "\n".join(f"{repro_line(seed, None, None)}  # {problem}" for seed, problem in failures)
    assert not failures, f"{len(failures)} of {SEEDS} seeds failed:\n{report}"
    print(f"{SEEDS} seeds in {elapsed:.1f}s ({SEEDS / elapsed:.0f} seeds/s)")


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
