"""`BadRecords`: the opt-in "skip bad records" mode of the input readers.

By default every reader is strict: the first malformed record raises `InputError`. A reader handed a `BadRecords`
(`fmt.read(split, bad)`) drops malformed records instead, reports each one to `bad.skip(...)`, and returns the
good rows. What counts as a malformed record is the format's business (a line that is not UTF-8, a CSV row with
the wrong number of fields or a value that does not convert, a line that is not a JSON object); what happens to one
is this class's. `find_bad` and `first_bad` are the readers' slow path: they find the bad rows of a block that
failed with a few vectorised tries (parses, conversions) of row ranges, never a Python loop over its good rows.
"""

from __future__ import annotations

from collections.abc import Callable

from framework.errors import InputError, UsageError


class BadRecords:
    """How many malformed records a reader may skip, and which ones it skipped.

    It owns the limit, the count and the kept descriptions: `count` is the number of records skipped so far (over
    every split read with this object), `records` describes the first `KEEP` of them in the order they were
    skipped (file order within a split), as "path:line: reason" ("path:byte N: reason" when only the byte offset is
    known). The record that takes `count` past `limit` is not skipped: `skip` raises the `InputError` that names
    it, so a job fails on it as it would in strict mode, with the limit in the message. `limit=0` is strict mode
    with that message.
    """

    KEEP = 100

    def __init__(self, limit: int):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise UsageError(f"the bad record limit must be a whole number >= 0, not {limit!r}")
        self.limit = limit
        self.count = 0
        self.records: list[str] = []

    def skip(self, path: str, reason: str, *, line: int | None = None, offset: int | None = None) -> None:
        """Count one malformed record of `path` (at `line`, 1-based, or byte `offset` where known); raise
        InputError if that is one more than `limit`."""
        self.count += 1
        if self.count > self.limit:
            problem = f"{reason} (bad record {self.count}; the job skips at most {self.limit})"
            raise InputError(path, problem, line=line, offset=offset)
        if len(self.records) < self.KEEP:
            if line is not None:
                self.records.append(f"{path}:{line}: {reason}")
            elif offset is not None:
                self.records.append(f"{path}:byte {offset}: {reason}")
            else:
                self.records.append(f"{path}: {reason}")

    @property
    def room(self) -> int:
        """How many more records `skip` takes before one raises, that one included: a reader that finds this many
        bad records in what it holds need not look for more."""
        return self.limit - self.count + 1

    def __repr__(self) -> str:
        return f"BadRecords(limit={self.limit}, count={self.count})"


Attempt = Callable[[int, int], "str | None"]  # rows [lo, hi) tried at once: None if they are good, else the error
Hint = Callable[[int, str], "int | None"]  # the row an error of a try starting at lo names, if it names one


def first_bad(
    lo: int, hi: int, error: str, attempt: Attempt, hint: Hint, *, context: bool
) -> tuple[int, str | None, str]:
    """The first row of [lo, hi) (which fails with `error`) at which the rows from lo stop being good, its own
    error (the row tried by itself), and the error of the rows from lo up to it.

    The parser's hint is tried first and checked: the rows before it must be good and, unless rows can fail in
    `context` only (a JSON value whose type conflicts with earlier lines'), the row bad by itself; that is two or
    three tries. A try without a hint, or with a wrong one, falls back to bisecting the prefix length (O(log rows)
    tries). With `context`, the error is None for a row that is good by itself.
    """
    while True:
        row = hint(lo, error)
        if row is None or not lo <= row < hi:
            break
        earlier = attempt(lo, row) if row > lo else None
        if earlier is not None:  # an earlier row fails (another column's, or the hint is off): look there
            hi, error = row, earlier
            continue
        own = attempt(row, row + 1)
        if own is not None or context:
            return row, own, error
        break  # the hint named a good row
    good, failing = lo, hi  # rows [lo, good) are good together, [lo, failing) fail
    while failing - good > 1:
        mid = (good + failing) // 2
        failed = attempt(lo, mid)
        if failed is None:
            good = mid
        else:
            failing, error = mid, failed
    own = attempt(good, good + 1)
    return good, (own if own is not None or context else error), error


def find_bad(
    n: int,
    attempt: Attempt,
    hint: Hint,
    *,
    error: str | None,
    context: bool,
    enough: Callable[[int, int], bool],
) -> tuple[list[tuple[int, str]], bool]:
    """The rows of [0, n) that fail, in order, with their errors, found with O(1) vectorised tries per bad row
    where the parser names the failing row (else O(log rows)); `error` is that of [0, n) if already known.

    The rows are tried in runs that double while they are good and halve past a bad row, so a try costs about
    the distance between bad rows. With `context`, a row that fails only after the rows before it (good by
    itself) is not reported, and the search goes on after it. `enough(row, found)` stops the search before `row`
    once `found` bad rows make it pointless (the limit is reached); the flag returned says it stopped so.
    """
    found: list[tuple[int, str]] = []
    pos, run = 0, 256
    while pos < n:
        if enough(pos, len(found)):
            return found, True
        hi = n if error is not None else min(n, pos + run)
        failed = error if error is not None else attempt(pos, hi)
        error = None
        if failed is None:
            pos, run = hi, run * 2
            continue
        row, why, _ = first_bad(pos, hi, failed, attempt, hint, context=context)
        if why is not None:
            found.append((row, why))
        pos, run = row + 1, max(16, run // 2)
    return found, False
