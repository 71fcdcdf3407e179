"""Paxflow: dataflow batch processing on Ray over Apache Arrow.

The public API a job module uses:

    from framework import Job, Step, Join, Option, Sum, Count, Min, Max, Mean, Text, Csv, JsonLines, Parquet, Auto
"""

from framework.aggregates import Aggregate, Count, Max, Mean, Min, Sum
from framework.errors import InputError, JobFailed, PaxflowError, UsageError
from framework.job import Job, Join, Option, Step

__version__ = "0.1.0"

_IO_NAMES = ("Text", "Csv", "JsonLines", "Parquet", "Auto")


def __getattr__(name: str):
    # the io formats and the client load lazily, so `import framework` stays cheap for Ray workers
    if name in _IO_NAMES:
        import framework.io as io

        return getattr(io, name)
    if name in ("run", "RunResult"):
        import framework.client as client

        return getattr(client, name)
    raise AttributeError(f"module 'framework' has no attribute {name!r}")


__all__ = [
    "Aggregate", "Auto", "Count", "Csv", "InputError", "Job", "JobFailed", "Join", "JsonLines", "Max", "Mean", "Min",
    "Option", "Parquet", "PaxflowError", "RunResult", "Step", "Sum", "Text", "UsageError", "run",
]
