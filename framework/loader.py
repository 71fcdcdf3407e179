"""Loading job modules by path, and the JSON-safe job description that travels to workers and into the log.

A job module is loaded from its source text, never imported by name, so a Ray worker (or a new master leader)
needs no copy of the file: the source travels inside the job spec. The same loader serves the client, the
workers and `python jobs/NAME.py` (where the job class lives in `__main__`).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import linecache
import os
import sys
import types
from typing import Any, Mapping

from framework.errors import UsageError
from framework.job import Job, job_steps

_MODULES: dict[str, types.ModuleType] = {}


def load_job_source(source: str, path: str) -> types.ModuleType:
    """Execute a job module's source as a fresh module (cached per process by content)."""
    digest = hashlib.sha1(f"{path}\0{source}".encode()).hexdigest()[:16]
    name = f"paxflow_job_{digest}"
    module = _MODULES.get(name)
    if module is not None:
        return module
    try:
        code = compile(source, path, "exec")
    except SyntaxError as e:
        raise UsageError(f"{path}, line {e.lineno}: {e.msg}") from None
    module = types.ModuleType(name)
    module.__file__ = path
    # tracebacks show the user's lines even on a worker that has no copy of the file
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        exec(code, module.__dict__)
    except UsageError:
        raise
    except Exception as e:
        del sys.modules[name]
        raise UsageError(f"{path}: importing the job module failed: {type(e).__name__}: {e}") from None
    _MODULES[name] = module
    return module


def load_job_file(path: str) -> types.ModuleType:
    """Load a job module from a file path; a missing or unreadable file is a UsageError."""
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such job module") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the job module: {e}") from None
    return load_job_source(source, path)


def find_job_class(module: types.ModuleType, name: str | None = None) -> type[Job]:
    """The job class a module defines: the one named, the only one, or the one `JOB = ...` points at."""
    path = getattr(module, "__file__", module.__name__)
    if name is not None:
        cls = getattr(module, name, None)
        if not (isinstance(cls, type) and issubclass(cls, Job)):
            raise UsageError(f"{path}: no Job subclass named {name!r}")
        return cls
    if isinstance(getattr(module, "JOB", None), type) and issubclass(module.JOB, Job):
        return module.JOB
    found = [
        v for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Job) and v is not Job and v.__module__ == module.__name__
    ]
    if not found:
        raise UsageError(f"{path}: defines no job (a subclass of framework.Job)")
    if len(found) > 1:
        names = ", ".join(sorted(c.__name__ for c in found))
        raise UsageError(f"{path}: defines several jobs ({names}); set JOB = <the one to run>")
    return found[0]


def job_spec(cls: type[Job], args: argparse.Namespace | Mapping[str, Any]) -> dict:
    """The JSON-safe description of a job: its module source, class name and option values."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    source = None
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            source = f.read()
    if source is None:
        try:
            source = inspect.getsource(module)  # type: ignore[arg-type]
        except (OSError, TypeError):
            raise UsageError(f"cannot find the source of job {cls.__name__}: define it in a module file") from None
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    return {"path": path or f"<{cls.__module__}>", "source": source, "class": cls.__name__, "args": values}


def instantiate(spec: Mapping[str, Any]) -> Job:
    """A job instance from a job spec (on a worker, a master, or the client)."""
    module = load_job_source(spec["source"], spec["path"])
    cls = find_job_class(module, spec["class"])
    return cls(spec.get("args") or {})


class JobContext:
    """A loaded job with its steps resolved: what task bodies need. Cached per process by job id."""

    def __init__(self, spec: Mapping[str, Any]):
        self.job = instantiate(spec)
        self.steps = job_steps(self.job)
        self.formats = self.job.input_formats()


_CONTEXTS: dict[str, JobContext] = {}


def context_for(job_id: str, spec: Mapping[str, Any]) -> JobContext:
    ctx = _CONTEXTS.get(job_id)
    if ctx is None:
        if len(_CONTEXTS) > 64:
            _CONTEXTS.clear()
        ctx = _CONTEXTS[job_id] = JobContext(spec)
    return ctx
