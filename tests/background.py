"""Seed runs started beside the suite: the simulators' thousands of seeds, one run after another, in one process
at the lowest CPU priority.

The Ray tests mostly wait (on processes starting, elections, a node's heartbeat), so the seeds fill that idle
time; the tests that check them run last (`at_end`) and mostly find them done. One process at a time: two niced
processes slowed the Ray tests by a tenth (their wake-ups found both cores busy). Under xdist, or when the run
was not started (a single test chosen with -k), each test runs its command itself, at full speed.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BackgroundRuns:
    """Commands run in turn by a thread of the test process; each one's CompletedProcess on request."""

    def __init__(self, commands: dict[str, list[str]]) -> None:
        self.commands = dict(commands)
        self.results: dict[str, subprocess.CompletedProcess] = {}
        self.done = {name: threading.Event() for name in commands}
        self.current: subprocess.Popen | None = None
        self.stopped = False
        self.thread = threading.Thread(target=self._run_all, name="background-seeds", daemon=True)
        self.thread.start()

    def _run_all(self) -> None:
        for name, argv in self.commands.items():
            if self.stopped:
                break
            self.current = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True, preexec_fn=lambda: os.nice(19))
            out, err = self.current.communicate()
            self.results[name] = subprocess.CompletedProcess(argv, self.current.returncode, out, err)
            self.done[name].set()

    def result(self, name: str, timeout: float) -> subprocess.CompletedProcess:
        if not self.done[name].wait(timeout):
            raise TimeoutError(f"the background run {name!r} did not finish within {timeout:.0f} s")
        return self.results[name]

    def stop(self) -> None:
        """The session ended early: leave nothing running."""
        self.stopped = True
        proc = self.current
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def run_here(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """The same command, in the foreground at full speed (nothing started it in the background)."""
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def result_of(config, name: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """The background run `name` of this session if it was started, else `argv` run here."""
    runs: BackgroundRuns | None = getattr(config, "paxflow_background", None)
    if runs is not None and name in runs.commands:
        return runs.result(name, timeout)
    return run_here(argv, timeout)
