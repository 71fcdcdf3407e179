"""Vectorised text helpers for job modules (pyarrow.compute kernels; no Python loop per line or word)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from framework.shuffle.partition import compact_strings

#: what separates words: anything that is not a Unicode letter or digit (RE2 syntax)
NOT_WORD = r"[^\p{L}\p{N}]+"


def words(lines: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Every word of every line, lowercased with Unicode rules, as one flat string array.

    A word is a maximal run of Unicode letters and digits (RE2 `[\\p{L}\\p{N}]+`).
    """
    # 32-bit offsets where they fit: Arrow's hash kernels downstream are much faster on string than large_string
    tokens = pc.list_flatten(pc.split_pattern_regex(pc.utf8_lower(compact_strings(lines)), NOT_WORD))
    return tokens.filter(pc.not_equal(tokens, ""))
