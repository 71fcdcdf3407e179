"""Zipf-distributed text corpora: the input of the word-count job and its benchmarks.

This module owns the synthetic vocabulary, the bounded-Zipf rank sampler and the corpus writer:

* `build_vocabulary(n, seed)` makes `n` distinct lower-case words, word `r` being the one of rank `r` (0 is the
  most frequent). About 94.5% are ASCII words built from syllables, 0.5% are numbers, and 5% are non-ASCII:
  accented Latin, Greek, Cyrillic and CJK. Words of low rank are short, as in natural language. Every word is one
  maximal run of `[\\p{L}\\p{N}]`, so a tokenizer that splits on such runs and lower-cases recovers exactly the
  word drawn.
* `generate_corpus(...)` writes `part-NNN.txt` files of lines whose words are drawn i.i.d. from the bounded Zipf
  law P(rank r) ~ (r + 1) ** -exponent. Some words carry punctuation (`word,` `word.` `word;`), lines start with
  a capital, words after a full stop are capitalised and a few are ALL CAPS (ASCII words only: the case of other
  scripts is left alone so that lower-casing maps every token back to its vocabulary word).
* `sample_corpus()` makes the ~64 MiB default corpus once in the cache and returns its folder.

Speed comes from never touching a word in Python. Ranks come from a Walker alias table (one 64-bit draw, one
gather and one comparison per word). The vocabulary is held as Arrow string views ("word ", inline when short),
so a chunk of text is a numpy gather of 16-byte views, a few vectorised byte edits (punctuation, newlines,
capitals) and one cast to a plain string array, whose data buffer *is* the text and is written straight to the
file. Roughly 40-70 ns per word (about 6 bytes with its separator) on one core.

Output is a function of the arguments only: every file has its own PCG64 stream, files are cut at fixed byte
targets and all arithmetic on random draws is integer, so the same seed gives the same bytes on every run. The
only floating-point steps build tables (the Zipf weights `(r + 1) ** -exponent`, the line-length distribution)
that are rounded to integers before use; a platform whose `pow` or `exp` differs in the last bit could shift an
entry by one unit (a probability by 2**-52), which in practice changes nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from framework.datagen import common

SAMPLE_CORPUS_SIZE = 64 << 20
SAMPLE_CORPUS_DIRNAME = "sample-corpus-64MiB-v1"

# A word's "punctuation code": 0 plain ("word "), 1 comma, 2 full stop, 3 semicolon. The last word of a line
# takes code 0 or 2 and has its final space turned into a newline ("word\n", "word.\n").
_FULL_STOP = 2
# Out of 1024: inside a line 90% plain space, 6% comma, 3% full stop, 1% semicolon; a line ends 40% bare, 60% ".".
_PUNCTUATION = np.repeat(np.arange(4, dtype=np.int32), [922, 61, 31, 10])
_LINE_END = np.repeat(np.array([0, _FULL_STOP], dtype=np.int32), [410, 614])
_PUNCTUATION_BYTES = np.frombuffer(b" ,.;", dtype=np.uint8)
ALL_CAPS_SHARE = 0.004  # of word positions; only ASCII words there are written in capitals

_LITTLE_ENDIAN = sys.byteorder == "little"
_CHUNK_WORDS = 1 << 16  # words per generated chunk: keeps the temporary arrays in the L2 cache


@dataclass(frozen=True)
class _Script:
    """Words of one writing system: first syllable, further syllables, then a coda.

    Within a script every syllable is one run of "consonant" letters then one run of "vowel" letters and a coda
    is consonants only (or every piece is a single character), so a word splits back into its pieces in exactly
    one way: distinct piece sequences are distinct words, and word `j` of a script (numbered in mixed radix) is
    unique by construction.
    """

    name: str
    share: float
    first: tuple[str, ...]
    rest: tuple[str, ...]
    codas: tuple[str, ...]
    ascii: bool


def _syllables(onsets: str, nuclei: str) -> tuple[str, ...]:
    return tuple(o + n for o in onsets.split() for n in nuclei.split())


_LATIN_ACCENTED_VOWELS = "á é í ó ú à è ò ü ö ä â ê ô ã õ"
_SCRIPTS = (
    _Script(
        "ascii", 0.945,
        first=_syllables("b c d f g h j k l m n p r s t v w z th ch sh st br tr pl gr", "a e i o u ai ea ou ee oo"),
        rest=_syllables("b c d f g h j k l m n p r s t v w z th ch sh st br tr pl gr", "a e i o u ai ea ou ee oo"),
        codas=("", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck"),
        ascii=True,
    ),
    _Script(
        "number", 0.005, first=tuple("123456789"), rest=tuple("0123456789"), codas=("",), ascii=True,
    ),
    _Script(
        # The first syllable always has an accented vowel, so no word of this script is plain ASCII.
        "latin", 0.02,
        first=_syllables("b c d f g l m n p r s t v ç ñ", _LATIN_ACCENTED_VOWELS),
        rest=_syllables("b c d f g l m n p r s t v ç ñ", "a e i o u " + _LATIN_ACCENTED_VOWELS),
        codas=("", "n", "r", "s", "l"),
        ascii=False,
    ),
    _Script(
        # No sigma: its final form would make lower(upper(word)) differ from word.
        "greek", 0.01,
        first=_syllables("β γ δ ζ θ κ λ μ ν ξ π ρ τ φ χ ψ", "α ε η ι ο υ ω ά έ ή ί ό ύ ώ"),
        rest=_syllables("β γ δ ζ θ κ λ μ ν ξ π ρ τ φ χ ψ", "α ε η ι ο υ ω ά έ ή ί ό ύ ώ"),
        codas=("", "ν", "ρ"),
        ascii=False,
    ),
    _Script(
        "cyrillic", 0.015,
        first=_syllables("б в г д ж з к л м н п р с т ф х ц ч ш щ", "а е и о у ы э ю я"),
        rest=_syllables("б в г д ж з к л м н п р с т ф х ц ч ш щ", "а е и о у ы э ю я"),
        codas=("", "й", "н", "т", "в", "л"),
        ascii=False,
    ),
    _Script(
        # 2000 ideographs spread over the CJK Unified Ideographs block (all assigned, all \p{Lo}).
        "cjk", 0.005,
        first=tuple(chr(0x4E00 + 7 * i) for i in range(2000)),
        rest=tuple(chr(0x4E00 + 7 * i) for i in range(2000)),
        codas=("",),
        ascii=False,
    ),
)
_ASCII_HEAD = 16  # the most frequent words are always ASCII, as in any Latin-script text


def _script_words(script: _Script, n: int, gen: np.random.Generator) -> pa.Array:
    """The first `n` words of `script`, shortest first, as a string array."""
    if n == 0:
        return pa.array([], pa.string())
    # Shuffle the syllable tables so that the most frequent words are not simply "ba", "be", ...
    first, rest, codas = (
        [table[i] for i in np.argsort(common.raw_bits(gen, len(table)), kind="stable")]
        for table in (script.first, script.rest, script.codas)
    )
    n_first, n_rest, n_coda = len(first), len(rest), len(codas)

    tier_starts = [0]  # index of the first word with 1, 2, 3, ... syllables
    while tier_starts[-1] < n:
        tier_starts.append(tier_starts[-1] + n_first * n_rest ** (len(tier_starts) - 1) * n_coda)
    j = np.arange(n, dtype=np.int64)
    nsyl = np.searchsorted(np.array(tier_starts[1:], dtype=np.int64), j, side="right") + 1
    rem = j - np.array(tier_starts, dtype=np.int64)[nsyl - 1]

    coda = rem % n_coda
    rem //= n_coda
    first_digit = rem % n_first
    rem //= n_first
    rest_digits = []
    for _ in range(int(nsyl.max()) - 1):
        rest_digits.append(rem % n_rest)
        rem //= n_rest
    # Triangular mixing (the first syllable shifted by the other digits, which stay as they are) keeps the map
    # one-to-one while making consecutive words differ in their first syllable rather than only their ending.
    mix = 7 * coda + sum((13 * (p + 1) * d for p, d in enumerate(rest_digits)), np.zeros(n, np.int64))
    first_digit = (first_digit + mix) % n_first

    # Piece ids into the table [first..., rest..., codas...]; word w owns pieces start[w] .. start[w] + nsyl[w].
    pieces_per_word = nsyl + 1
    start = np.cumsum(pieces_per_word) - pieces_per_word
    ids = np.empty(int(pieces_per_word.sum()), dtype=np.int32)
    ids[start] = first_digit
    for p, d in enumerate(rest_digits, start=1):
        has = nsyl > p
        ids[start[has] + p] = n_first + d[has]
    ids[start + nsyl] = n_first + n_rest + coda

    table = pa.array(first + rest + codas, pa.string())
    table_bytes = np.diff(np.asarray(table.buffers()[1]).view(np.int32)[: len(table) + 1])
    pieces = table.take(pa.array(ids))
    word_bytes = np.add.reduceat(table_bytes[ids].astype(np.int64), start)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(word_bytes, out=offsets[1:])
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pieces.buffers()[2])


def _script_of_rank(vocabulary: int, seed: int) -> np.ndarray:
    gen = common.rng(seed, common.stream_key("zipf-vocabulary-scripts"))
    shares = np.cumsum([s.share for s in _SCRIPTS])
    script = np.searchsorted(shares / shares[-1], common.uniforms(gen, vocabulary), side="right")
    script = np.minimum(script, len(_SCRIPTS) - 1)
    script[:_ASCII_HEAD] = 0
    return script


def build_vocabulary(vocabulary: int = 1_000_000, seed: int = 0) -> pa.StringArray:
    """`vocabulary` distinct lower-case words; element `r` is the word of Zipf rank `r` (0 = most frequent)."""
    if vocabulary < 1:
        raise ValueError(f"vocabulary must be at least 1, got {vocabulary}")
    script = _script_of_rank(vocabulary, seed)
    parts, position, base = [], np.empty(vocabulary, dtype=np.int64), 0
    for k, spec in enumerate(_SCRIPTS):
        ranks = np.flatnonzero(script == k)
        parts.append(_script_words(spec, len(ranks), common.rng(seed, common.stream_key("zipf-vocabulary-" + spec.name))))
        position[ranks] = base + np.arange(len(ranks))
        base += len(ranks)
    return pa.concat_arrays(parts).take(pa.array(position))


def _ascii_ranks(vocabulary: int, seed: int) -> np.ndarray:
    """Boolean per rank: the word is ASCII (only those are ever written in ALL CAPS)."""
    return np.array([s.ascii for s in _SCRIPTS])[_script_of_rank(vocabulary, seed)]


def zipf_probabilities(vocabulary: int, exponent: float) -> np.ndarray:
    """P(rank r) for r in 0..vocabulary-1 under the bounded Zipf law (r + 1) ** -exponent, normalised."""
    weights = np.arange(1, vocabulary + 1, dtype=np.float64) ** -float(exponent)
    return weights / weights.sum()


class _RankSampler:
    """Draws Zipf ranks with Walker's alias method: one raw draw, one gather and one comparison per rank.

    The table has 2**k columns (k = bits to index the vocabulary; columns past the vocabulary have zero mass and
    always alias), so a draw's top k bits pick the column with no multiplication and no bias, and its low 32
    bits are compared with the column's threshold. The distribution is quantised to integer masses summing to
    exactly 2**k * 2**32 (an error below 2**-32 in each probability) and the table is built in integers, so it
    represents the quantised distribution exactly.

    The table is built without a Python loop. In Vose's algorithm the current "large" column (mass above one
    column's worth) tops up "small" columns in turn until it falls below one column itself, and is then topped up
    by the next large one. Zipf masses are sorted, so the large columns are a prefix, and by induction small k is
    topped up by the large j whose prefix sum of excesses satisfies X[j] < C[k-1] <= X[j+1] (C: prefix sums of
    the smalls' deficits), while large j falls short by C[k_j] - X[j+1], k_j being the first small with
    C[k_j] > X[j+1]. Both are `searchsorted` calls.
    """

    UNIT = 1 << 32

    def __init__(self, vocabulary: int, exponent: float):
        unit = self.UNIT
        self.bits = max(1, (vocabulary - 1).bit_length())
        if self.bits > 30:
            raise ValueError(f"vocabulary too large: {vocabulary}")
        columns = 1 << self.bits
        mass = np.zeros(columns, dtype=np.int64)
        mass[:vocabulary] = np.floor(zipf_probabilities(vocabulary, exponent) * (float(columns) * unit))
        mass[0] += columns * unit - int(mass.sum())
        threshold = np.full(columns, unit, dtype=np.int64)
        alias = np.arange(columns, dtype=np.int64)
        n_large = int(np.count_nonzero(mass >= unit))
        if 0 < n_large < columns:
            excess = np.concatenate(([0], np.cumsum(mass[:n_large] - unit)))
            deficit = np.concatenate(([0], np.cumsum(unit - mass[n_large:])))
            alias[n_large:] = np.searchsorted(excess[1:n_large], deficit[:-1], side="left")
            threshold[n_large:] = mass[n_large:]
            first_small_past = np.minimum(np.searchsorted(deficit, excess[1:n_large], side="right"), len(deficit) - 1)
            threshold[: n_large - 1] = unit - (deficit[first_small_past] - excess[1:n_large])
            alias[: n_large - 1] = np.arange(1, n_large)
        full = threshold >= unit  # never aliased: point the alias at itself so the threshold fits 32 bits
        alias[full] = np.flatnonzero(full)
        threshold[full] = unit - 1
        # One uint64 per column, threshold in the high half and alias in the low half: a draw is one gather.
        self.table = (threshold.astype(np.uint64) << np.uint64(32)) | alias.astype(np.uint64)

    def ranks(self, raw: np.ndarray) -> np.ndarray:
        """Ranks (uint32) for raw 64-bit draws: the top `bits` bits pick the column, the low 32 bits are compared
        with its threshold. Bits 32-41 stay unused when `bits` <= 22."""
        column = raw >> np.uint64(64 - self.bits)
        entry = self.table[column.view(np.intp)]
        if _LITTLE_ENDIAN:
            # 32-bit halves as strided views, without arithmetic passes: [low, high] per uint64.
            own = raw.view(np.uint32)[::2] < entry.view(np.uint32)[1::2]
            return np.where(own, column.view(np.uint32)[::2], entry.view(np.uint32)[::2])
        own = (raw & np.uint64(0xFFFFFFFF)) < (entry >> np.uint64(32))  # pragma: no cover
        return np.where(own, column, entry & np.uint64(0xFFFFFFFF)).astype(np.uint32)  # pragma: no cover


def _line_length_cdf(words_per_line: float) -> np.ndarray:
    """CDF of words per line: P(L) ~ L * exp(-L / theta) for L >= 1 (a discrete gamma of shape 2), theta fitted
    so the mean is `words_per_line`. Lines are mostly near the mean with a long tail of long ones."""
    if words_per_line <= 1:
        return np.array([1.0])
    lengths = np.arange(1, int(words_per_line * 8) + 8, dtype=np.float64)
    lo, hi = 1e-3, float(words_per_line)
    for _ in range(60):
        theta = (lo + hi) / 2
        pmf = lengths * np.exp(-lengths / theta)
        if (pmf * lengths).sum() / pmf.sum() < words_per_line:
            lo = theta
        else:
            hi = theta
    cdf = np.cumsum(pmf)
    return cdf / cdf[-1]


class _CorpusWriter:
    """Everything precomputed for one (vocabulary, exponent, seed): word views, rank sampler and line model."""

    def __init__(self, vocabulary: int, exponent: float, seed: int, words_per_line: float):
        if words_per_line < 1:
            raise ValueError(f"words_per_line must be at least 1, got {words_per_line}")
        self.vocabulary = vocabulary
        self.seed = seed
        words = build_vocabulary(vocabulary, seed)
        # The vocabulary as Arrow string views ("word "): 16 bytes per word, the word inline when up to 12 bytes.
        # Gathering those with numpy and casting to a plain string array is about twice as fast as `take` on the
        # string array, and inline words can have their punctuation added in the view itself.
        spaced = pc.binary_join_element_wise(words, pa.scalar(" "), "").cast(pa.string_view())
        self.views = np.frombuffer(spaced.buffers()[1], dtype="V16", count=vocabulary)
        self.view_data = spaced.buffers()[2:]
        self._keep = spaced
        self.ascii = _ascii_ranks(vocabulary, seed)
        self.sampler = _RankSampler(vocabulary, exponent)
        line_cdf = _line_length_cdf(words_per_line)
        self.line_lengths = (np.searchsorted(line_cdf, (np.arange(1 << 16) + 0.5) / (1 << 16), side="right") + 1)
        self.mean_line = float(self.line_lengths.mean())
        word_bytes = np.diff(np.asarray(words.buffers()[1]).view(np.int32)[: vocabulary + 1])
        self.mean_word_bytes = float(zipf_probabilities(vocabulary, exponent) @ word_bytes) + 1.1

    def chunk(self, gen: np.random.Generator, approx_words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Whole lines of about `approx_words` words: (text bytes, byte offset of each word, index of line ends)."""
        n_lines = max(1, round(approx_words / self.mean_line))
        line_ends = np.cumsum(self.line_lengths[(common.raw_bits(gen, n_lines) >> np.uint64(48)).astype(np.intp)])
        line_ends -= 1
        n = int(line_ends[-1]) + 1

        raw = common.raw_bits(gen, n)
        ranks = self.sampler.ranks(raw)
        # Bits 32-41, which the sampler leaves alone, pick the punctuation (from a draw of their own when the
        # vocabulary is too large to leave them free).
        spare = raw if self.sampler.bits <= 22 else common.raw_bits(gen, n)
        pick = ((spare >> np.uint64(32)) & np.uint64(1023)).view(np.intp)
        code = _PUNCTUATION[pick]
        code[line_ends] = _LINE_END[pick[line_ends]]

        views = self.views[ranks]
        view_bytes = views.view(np.uint8).reshape(n, 16)
        length = views.view(np.int32).reshape(n, 4)[:, 0]
        # Punctuation goes in front of the trailing space of inline words (bytes 4.. of a view), growing them by
        # one byte; the rare word too long to stay inline keeps a plain space.
        marked = np.flatnonzero(code != 0)
        fits = length[marked] <= 11
        code[marked[~fits]] = 0
        marked = marked[fits]
        end = length[marked] + 3
        view_bytes[marked, end] = _PUNCTUATION_BYTES[code[marked]]
        view_bytes[marked, end + 1] = ord(" ")
        length[marked] += 1

        text_array = pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), *self.view_data])
        taken = text_array.cast(pa.string())
        offsets = np.frombuffer(taken.buffers()[1], dtype=np.int32, count=n + 1)
        text = np.frombuffer(taken.buffers()[2], dtype=np.uint8, count=int(offsets[-1])).copy()
        text[offsets[line_ends + 1] - 1] = ord("\n")

        # Capitalise the first word of each line and sentence (when its first letter is ASCII).
        capital = np.zeros(n, dtype=bool)
        capital[1:] = code[:-1] == _FULL_STOP
        capital[0] = True
        capital[line_ends[:-1] + 1] = True
        first = offsets[np.flatnonzero(capital)]
        first = first[(text[first] >= ord("a")) & (text[first] <= ord("z"))]
        text[first] -= 32

        caps = np.unique(common.uniform_ints(gen, 0, n - 1, int(n * ALL_CAPS_SHARE)))
        caps = caps[self.ascii[ranks[caps]]]
        if len(caps):
            begin, length = offsets[caps], offsets[caps + 1] - offsets[caps]
            pos = np.repeat(begin - np.cumsum(length) + length, length) + np.arange(int(length.sum()))
            pos = pos[(text[pos] >= ord("a")) & (text[pos] <= ord("z"))]
            text[pos] -= 32
        return text, offsets, line_ends

    def write_file(self, path: str, target_bytes: int, file_index: int) -> int:
        """Write whole lines totalling at most `target_bytes` (at least one line) to `path`; returns bytes written."""
        gen = common.rng(self.seed, common.stream_key("zipf-text"), file_index)
        written = 0
        with open(path, "wb") as out:
            while written < target_bytes:
                remaining = target_bytes - written
                want = int(remaining / self.mean_word_bytes * 1.03) + 2 * int(self.mean_line) + 16
                text, offsets, line_ends = self.chunk(gen, min(_CHUNK_WORDS, want))
                if len(text) > remaining:
                    line_stop = offsets[line_ends + 1]  # byte where each line ends, increasing
                    fit = int(np.searchsorted(line_stop, remaining, side="right"))
                    if fit == 0 and written > 0:
                        break
                    cut = int(line_stop[max(fit, 1) - 1])
                    out.write(memoryview(text[:cut]))
                    written += cut
                    break
                out.write(memoryview(text))
                written += len(text)
        return written


def generate_corpus(
    out_dir: str,
    size_bytes: int,
    vocabulary: int = 1_000_000,
    exponent: float = 1.1,
    files: int = 4,
    seed: int = 0,
    words_per_line: float = 12,
) -> list[str]:
    """Write `files` UTF-8 text files `part-000.txt`, ... under `out_dir` totalling about `size_bytes`.

    Each file gets an equal share of `size_bytes` and is cut at the last line boundary within it (but holds at
    least one line when its share is positive), so the total is slightly below `size_bytes`, by under one line
    per file. Word ranks follow
    the bounded Zipf law over `vocabulary` words with the given `exponent` (any value > 0, including <= 1);
    lines hold `words_per_line` words on average. Returns the file paths in order.
    """
    size_bytes = common.parse_size(size_bytes)
    if files < 1:
        raise ValueError(f"files must be at least 1, got {files}")
    if exponent <= 0:
        raise ValueError(f"exponent must be positive, got {exponent}")
    os.makedirs(out_dir, exist_ok=True)
    writer = _CorpusWriter(vocabulary, exponent, seed, words_per_line)
    paths = []
    for i in range(files):
        target = size_bytes // files + (1 if i < size_bytes % files else 0)
        path = os.path.join(out_dir, f"part-{i:03d}.txt")
        writer.write_file(path, target, i)
        paths.append(path)
    return paths


def sample_corpus(cache_dir: str | None = None) -> str:
    """The folder of the default ~64 MiB sample corpus (4 files, default vocabulary and exponent, seed 0).

    Generated once into `cache_dir` (default `$PAXFLOW_CACHE` or `~/.cache/paxflow`) and reused afterwards. It is
    written to a temporary folder beside the final one and renamed into place, so a reader never sees a partial
    corpus and concurrent callers are safe: whichever rename lands first wins and the others discard their copy.
    """
    root = os.path.abspath(os.path.expanduser(cache_dir)) if cache_dir else common.default_cache_dir()
    final = os.path.join(root, SAMPLE_CORPUS_DIRNAME)
    if os.path.isdir(final):
        return final
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{SAMPLE_CORPUS_DIRNAME}.tmp-", dir=root)
    try:
        generate_corpus(tmp, SAMPLE_CORPUS_SIZE, files=4, seed=0)
        try:
            os.rename(tmp, final)
        except OSError:
            if not os.path.isdir(final):
                raise
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The zipf generator's command-line options (shared with `generate.py zipf`)."""
    parser.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--size", type=common.size_arg, default="512MiB",
                        help="total size, e.g. 512MiB, 64M, 1G (default 512MiB)")
    parser.add_argument("--vocabulary", type=common.count_arg, default=1_000_000, help="distinct words (default 1M)")
    parser.add_argument("--exponent", type=float, default=1.1, help="Zipf exponent s, P(r) ~ r**-s (default 1.1)")
    parser.add_argument("--files", type=int, default=4, help="number of part files (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--words-per-line", type=float, default=12, help="mean words per line (default 12)")


def run(args: argparse.Namespace) -> list[str]:
    """Generate a corpus from parsed command-line `args` and print a one-line summary."""
    start = time.perf_counter()
    paths = generate_corpus(
        args.out, args.size, vocabulary=args.vocabulary, exponent=args.exponent,
        files=args.files, seed=args.seed, words_per_line=args.words_per_line,
    )
    elapsed = time.perf_counter() - start
    total = sum(os.path.getsize(p) for p in paths)
    print(f"zipf: wrote {len(paths)} files, {common.format_size(total)} in {elapsed:.2f} s "
          f"({total / elapsed / 1e6:.0f} MB/s) to {args.out}")
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="zipf.py", description="Generate a Zipf-distributed text corpus.")
    add_arguments(parser)
    run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
