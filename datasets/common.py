"""Helpers shared by the data generators: size and count parsing, seeded random streams, the cache folder.

This module owns the conventions every generator follows:

* sizes on the command line (`512MiB`, `64M`, `1G`, `1.5GB`) go through `parse_size`; row counts (`1e7`,
  `10M`) through `parse_count`;
* randomness comes from `rng(seed, *stream)`: a numpy PCG64 stream keyed by the seed and a tuple of small
  integers naming the part being generated, so each file or block has its own independent stream and the output
  does not depend on how work is split. Generators draw raw 64-bit words or plain uniforms from it (whose
  streams numpy keeps stable), rather than numpy's non-uniform distributions, whose algorithms may change;
* the sample-data cache lives in `$PAXFLOW_CACHE`, else `~/.cache/paxflow`.
"""

from __future__ import annotations

import argparse
import os
import re
import zlib

import numpy as np

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([a-zA-Z]*)\s*$")

# Binary multiples for bare letters and IEC suffixes (as `dd`, `head -c` and most tools read them); decimal
# multiples only when spelt with a B (`MB`, `GB`).
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "kb": 10**3,
    "m": 1 << 20, "mib": 1 << 20, "mb": 10**6,
    "g": 1 << 30, "gib": 1 << 30, "gb": 10**9,
    "t": 1 << 40, "tib": 1 << 40, "tb": 10**12,
}

_COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}


def parse_size(text: str | int) -> int:
    """Parse a byte size such as `512MiB`, `64M`, `1G`, `1.5GB`, `4096` into a number of bytes.

    `K`/`M`/`G`/`T` and `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024; `KB`/`MB`/`GB`/`TB` are powers of 1000;
    case does not matter. Raises `ValueError` for anything else or for a negative size.
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"size must not be negative: {text}")
        return int(text)
    match = _SIZE_RE.match(str(text))
    unit = match.group(3).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (expected e.g. 512MiB, 64M, 1G, 1.5GB or a byte count)")
    value = float(match.group(1)) * (10 ** int(match.group(2)) if match.group(2) else 1)
    return round(value * _SIZE_UNITS[unit])


def parse_count(text: str | int) -> int:
    """Parse a row count such as `1e7`, `10M`, `100k`, `5000000` (decimal multiples: k, M, G/B)."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"count must not be negative: {text}")
        return int(text)
    match = _SIZE_RE.match(str(text))
    unit = match.group(3).lower() if match else None
    if match is None or unit not in _COUNT_UNITS:
        raise ValueError(f"not a count: {text!r} (expected e.g. 1e7, 10M, 100k or an integer)")
    value = float(match.group(1)) * (10 ** int(match.group(2)) if match.group(2) else 1)
    return round(value * _COUNT_UNITS[unit])


def size_arg(text: str) -> int:
    """`parse_size` for argparse: a bad size becomes a usage error naming the option."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count_arg(text: str) -> int:
    """`parse_count` for argparse."""
    try:
        return parse_count(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_size(n: float) -> str:
    """Format a byte count for humans (`64.0 MiB`)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def stream_key(name: str) -> int:
    """A stable small integer naming a stream (`zlib.crc32`, unlike `hash()`, is the same in every process)."""
    return zlib.crc32(name.encode())


def rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent PCG64 generator for (`seed`, `*stream`); the same arguments give the same stream anywhere."""
    if seed < 0:
        raise ValueError(f"seed must not be negative: {seed}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *map(int, stream)])))


def raw_bits(gen: np.random.Generator, n: int) -> np.ndarray:
    """`n` raw 64-bit words (uint64) from `gen`: the cheapest draw, and one that numpy's version cannot change."""
    return gen.bit_generator.random_raw(n)


def uniform_ints(gen: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """`n` integers uniform in [low, high] (inclusive), as int64, from raw bits.

    Uses the high bits times the range (Lemire's multiply-shift without the rejection step): the bias is below
    range / 2**32, far below anything a benchmark can see, and the mapping is fixed arithmetic.
    """
    span = int(high) - int(low) + 1
    if span <= 0:
        raise ValueError(f"empty range [{low}, {high}]")
    if span > 1 << 32:
        raise ValueError(f"range too wide for uniform_ints: {span}")
    draws = raw_bits(gen, n)
    draws >>= np.uint64(32)
    draws *= np.uint64(span)
    draws >>= np.uint64(32)
    values = draws.view(np.int64)
    values += int(low)
    return values


def uniforms(gen: np.random.Generator, n: int) -> np.ndarray:
    """`n` float64 uniforms in [0, 1) built from the top 53 raw bits (exact, no rounding)."""
    return (raw_bits(gen, n) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def default_cache_dir() -> str:
    """`$PAXFLOW_CACHE` if set, else `~/.cache/paxflow`."""
    env = os.environ.get("PAXFLOW_CACHE")
    return os.path.abspath(os.path.expanduser(env)) if env else os.path.join(os.path.expanduser("~"), ".cache", "paxflow")
