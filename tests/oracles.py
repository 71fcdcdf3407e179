"""Independent oracles the jobs are checked against (plain Python, pandas, DuckDB; never the framework)."""

from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa

# a maximal run of Unicode letters and digits: Python's alphanumerics, without the underscore \w also matches
WORD = re.compile(r"[^\W_]+")


def simple_lower(text: str) -> str:
    """Per-character lowercase (Unicode simple case mapping, as Arrow's utf8_lower)."""
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def word_counts_of_text(text: str) -> Counter:
    return Counter(WORD.findall(simple_lower(text)))


def word_counts_of_files(paths) -> Counter:
    total = Counter()
    for p in paths:
        with open(p, "rb") as f:
            total += word_counts_of_text(f.read().decode("utf-8"))
    return total


def as_counter(table: pa.Table) -> Counter:
    return Counter(dict(zip(table["word"].to_pylist(), table["count"].to_pylist())))
