"""argparse that reports a bad option as a UsageError (one line, exit code 2) instead of printing and exiting.

Shared by the job API (a job's own options), the `paxflow` commands and `paxflow run`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from framework.errors import PaxflowError, UsageError


class UsageParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)


def run_command(body: Callable[[], int]) -> int:
    """Run a `paxflow` subcommand: a PaxflowError it raises is one line on stderr and its exit code (2 for a
    usage error, 1 otherwise), never a traceback."""
    try:
        return body()
    except PaxflowError as e:
        print(f"paxflow: error: {e}", file=sys.stderr)
        return e.exit_code
