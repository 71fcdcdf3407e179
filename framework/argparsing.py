"""argparse that reports a bad option as a UsageError (one line, exit code 2) instead of printing and exiting.

Shared by the job API (a job's own options), the `paxflow` commands and `paxflow run`.
"""

from __future__ import annotations

import argparse
from typing import Any

from framework.errors import UsageError


class UsageParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)
