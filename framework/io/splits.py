"""`Split`: one unit of input work (a byte range of a file, or some row groups of a Parquet file).

Splits are plain values: they travel to workers and into the replicated job log as `to_dict()` JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Split:
    """A piece of one input file that one task reads.

    `path` is a local path or a URI. Text-like formats use the byte range [start, end) (end -1: to the end of the
    file) and read the lines that *start* in it; Parquet uses `row_groups` (empty: the whole file). `size` is the
    number of bytes the split covers, for sizing and progress only.
    """

    path: str
    start: int = 0
    end: int = -1
    row_groups: tuple[int, ...] = ()
    size: int = 0

    def describe(self) -> str:
        """A short human description, e.g. "data/a.txt bytes 0-67108864" or "x.parquet row groups 2-3"."""
        groups = self.row_groups
        if groups:
            if len(groups) == 1:
                return f"{self.path} row group {groups[0]}"
            if list(groups) == list(range(groups[0], groups[-1] + 1)):
                return f"{self.path} row groups {groups[0]}-{groups[-1]}"
            return f"{self.path} row groups {','.join(map(str, groups))}"
        if self.start > 0 or self.end >= 0:
            return f"{self.path} bytes {self.start}-{self.end if self.end >= 0 else 'end'}"
        return self.path

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "start": self.start,
            "end": self.end,
            "row_groups": list(self.row_groups),
            "size": self.size,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        return cls(
            path=str(d["path"]),
            start=int(d.get("start", 0)),
            end=int(d.get("end", -1)),
            row_groups=tuple(int(g) for g in d.get("row_groups", ())),
            size=int(d.get("size", 0)),
        )
