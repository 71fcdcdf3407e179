"""Paxflow: dataflow batch processing on Ray over Apache Arrow.

The public API a job module uses:

    from framework import Job, Step, Join, Option, Sum, Count, Min, Max, Mean, Text, Csv, JsonLines, Parquet, Auto

Every name loads on first use (PEP 562), so a process that imports only part of the framework, a master replica
say, does not pay for pyarrow and pandas.
"""

from framework.errors import InputError, JobFailed, PaxflowError, UsageError

__version__ = "0.1.0"

_LAZY = {
    **{name: "framework.aggregates" for name in ("Aggregate", "Count", "Max", "Mean", "Min", "Sum")},
    **{name: "framework.job" for name in ("Job", "Join", "Option", "Step")},
    **{name: "framework.io" for name in ("Text", "Csv", "JsonLines", "Parquet", "Auto")},
    **{name: "framework.client" for name in ("run", "RunResult")},
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'framework' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Aggregate", "Auto", "Count", "Csv", "InputError", "Job", "JobFailed", "Join", "JsonLines", "Max", "Mean", "Min",
    "Option", "Parquet", "PaxflowError", "RunResult", "Step", "Sum", "Text", "UsageError", "run",
]
