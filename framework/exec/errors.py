"""How a task attempt fails, as the master records it: light on imports, since the master replicas use them."""

from __future__ import annotations


class TaskError(Exception):
    """A task attempt failed. Carries what the master records: one line, the traceback, and whether retrying helps.

    `cause` keeps the user's own exception object when it pickles (the inline executor re-raises it). `infra`: the
    cluster failed, not the task (a worker or node died, a shuffle store was lost): such failures have a budget
    of their own, so a node's loss does not use up the attempts a user's bug is allowed.
    """

    def __init__(self, message: str, details: str = "", *, fatal: bool = False, usage: bool = False, cause=None,
                 infra: bool = False):
        super().__init__(message)
        self.details = details
        self.fatal = fatal
        self.usage = usage
        self.cause = cause
        self.infra = infra

    def __reduce__(self):
        return (_rebuild_task_error, (str(self), self.details, self.fatal, self.usage, self.cause, self.infra))


class InfraError(Exception):
    """Raised inside a task when the cluster, not the task, failed (e.g. no live store holds its input)."""


def _rebuild_task_error(message, details, fatal, usage, cause, infra=False):
    return TaskError(message, details, fatal=fatal, usage=usage, cause=cause, infra=infra)
