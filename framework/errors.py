"""The errors Paxflow raises on purpose, and the exit code each one maps to.

Every error a user can cause (a bad path, a malformed file, an unknown option) is a `UsageError`: the CLI prints
its one-line message and exits with status 2 before any work starts where possible. A job whose own code fails
after retries is a `JobFailed`: exit status 1, with the user's traceback, the step and the input split.
"""

from __future__ import annotations


class PaxflowError(Exception):
    """Base of all errors Paxflow raises on purpose."""

    exit_code = 1


class UsageError(PaxflowError):
    """The user asked for something that cannot be done (bad option, bad job module, refused output dir)."""

    exit_code = 2


class InputError(UsageError):
    """An input path or file is missing, unreadable or malformed.

    The message always names the file, and the line or byte offset where known, so one line tells the user
    what to fix.
    """

    def __init__(self, path: str, problem: str, *, line: int | None = None, offset: int | None = None):
        self.path = path
        self.problem = problem
        self.line = line
        self.offset = offset
        where = path
        if line is not None:
            where += f", line {line}"
        if offset is not None:
            where += f", byte offset {offset}"
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # keep the keyword arguments when Ray pickles the error across processes
        return (_rebuild_input_error, (self.path, self.problem, self.line, self.offset))


def _rebuild_input_error(path: str, problem: str, line: int | None, offset: int | None) -> InputError:
    return InputError(path, problem, line=line, offset=offset)


class JobFailed(PaxflowError):
    """A job failed after its retries ran out, or was cancelled.

    `cause` is the one-line reason; `details` the user's traceback (with the step and input split named).
    """

    def __init__(self, message: str, details: str = "", *, usage: bool = False):
        self.details = details
        self.usage = usage  # True when the failure was bad input discovered mid-job (exit code 2)
        super().__init__(message)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 2 if self.usage else 1

    def __reduce__(self):
        return (_rebuild_job_failed, (str(self), self.details, self.usage))


def _rebuild_job_failed(message: str, details: str, usage: bool) -> JobFailed:
    return JobFailed(message, details, usage=usage)


class Interrupted(PaxflowError):
    """The user interrupted a running job (Ctrl-C or SIGTERM): it was cancelled, and its output directory left as
    it was. Exit status 128 + the signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, job_id: str | None, signum: int, cancelled: bool = True):
        self.job_id = job_id
        self.signum = signum
        self.exit_code = 128 + signum
        self.cancelled = cancelled
        super().__init__(f"job {job_id} cancelled" if job_id else "interrupted")
