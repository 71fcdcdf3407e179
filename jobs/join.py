"""Join: a generic equi-join of two inputs, `left` and `right`, with SQL semantics.

    paxflow run jobs/join.py --input left=a.parquet --input right=b.csv --on id -o out/j
    paxflow run jobs/join.py --input left=x/ --input right=y/ --on id=user_id --on day --how left

--on COL joins on a column both sides have (it appears once in the output); --on LCOL=RCOL on differently named
columns (both kept); repeat --on for a multi-column key. --how: inner (default), left, right, full, semi, anti.
Null keys never match; duplicate keys give every pair; other clashing column names get _left / _right.
Inputs may be Parquet, CSV, JSON Lines or text files, chosen by extension.
"""

from framework import Auto, Job, Join, Option, Step
from framework.errors import UsageError
from framework.job import JOIN_HOWS


def parse_on(specs: list[str]) -> tuple[list[str], list[str]]:
    """--on values -> (left key columns, right key columns)."""
    left, right = [], []
    for spec in specs:
        for part in spec.split(","):
            lcol, _, rcol = part.partition("=")
            if not lcol.strip() or (_ and not rcol.strip()):
                raise UsageError(f"--on wants COL or LCOL=RCOL, got {spec!r}")
            left.append(lcol.strip())
            right.append((rcol or lcol).strip())
    return left, right


class JoinJob(Job):
    """Equi-join of two inputs on one or more key columns."""

    inputs = {"left": Auto(), "right": Auto()}
    options = [
        Option("--on", action="append", required=True, metavar="COL|LCOL=RCOL",
               help="key column(s); repeat for a multi-column key"),
        Option("--how", default="inner", choices=JOIN_HOWS, help="join type"),
    ]

    def validate(self) -> None:
        if not self.args.on:
            raise UsageError("give the join key with --on COL or --on LCOL=RCOL")
        parse_on(self.args.on)

    def steps(self) -> list[Step]:
        left_on, right_on = parse_on(self.args.on)
        return [Step(join=Join(left_on, right_on, how=self.args.how), name="join")]


if __name__ == "__main__":
    JoinJob.main()
