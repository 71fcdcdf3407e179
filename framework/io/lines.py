"""Line-oriented input shared by Text and JsonLines: byte-range splits, line-aligned reading, vectorised splitting.

The rule that makes byte-range splits exact: a split [start, end) owns the lines whose first byte lies in
[start, end), where a line starts at offset 0 or right after a `\\n`. A reader skips the partial line at its start
(the previous split owns it) and reads past `end` to finish its own last line, so whatever the split sizes every
line of the file is read exactly once. Compressed files (.gz, .bz2, .zst) cannot be entered in the middle and are
read whole by one split.

Nothing here loops over lines in Python on the fast path: newlines are found by Arrow's `split_pattern`, UTF-8 is
validated once per block by a cast, and Python's decoder only runs on the error path (to find the bad byte) or to
replace bad bytes when asked.

Skip mode (a `BadRecords` given): a block that fails the cast is scanned by Python's UTF-8 decoder in windows, from
one bad byte to the next, so the work is one pass over the block plus one short decode per bad line (no Python loop
over the good lines); the bad lines are dropped (Text) or blanked (JsonLines). `LineCounter` gives their line
numbers, reading a split's file head at most once.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from framework.errors import InputError
from framework.io.badrecords import BadRecords
from framework.io.paths import FileEntry, compression_of, resolve, read_error
from framework.io.splits import Split

#: bytes handed to the parser at a time (one record batch per block for Text). A word-count map's numpy and Arrow
#: temporaries are many times its block: measured on a service, 512 MiB word count, 64 MiB splits: 32 MiB blocks
#: peak at 760 MB RSS per task worker and 2.04 GB PSS in all, 8 MiB blocks at 550 MB and 1.64-1.72 GB, no slower
#: (13.1 vs 14.9 s)
BLOCK_BYTES = 8 << 20
_PROBE_BYTES = 64 << 10  # first read when looking for the next newline
_NL = 10
_CR = 13


def byte_range_splits(files: Sequence[FileEntry], target_bytes: int) -> list[Split]:
    """Cut each file into even byte ranges of at most `target_bytes`; a compressed file is one whole-file split."""
    out = []
    for f in files:
        if compression_of(f.path) or f.size == 0:
            out.append(Split(f.path, 0, -1, size=f.size))
            continue
        n = math.ceil(f.size / target_bytes)
        step = math.ceil(f.size / n)
        out.extend(Split(f.path, s, min(s + step, f.size), size=min(step, f.size - s)) for s in range(0, f.size, step))
    return out


def iter_line_blocks(split: Split, block_bytes: int | None = None) -> Iterator[tuple[int, pa.Buffer]]:
    """Yield (offset, block) pairs covering exactly the lines `split` owns.

    Each block holds whole lines and ends with `\\n`, except the file's last block when the file does not end with a
    newline. `offset` is the block's absolute offset in the file (in the decompressed stream for compressed files).
    """
    block = block_bytes or BLOCK_BYTES
    fs, inner = resolve(split.path)
    codec = compression_of(split.path)
    try:
        if codec:
            if split.start != 0:
                raise ValueError(f"a compressed file cannot be split: {split.describe()}")
            with fs.open_input_stream(inner, compression=codec) as stream:
                yield from _stream_blocks(stream, block)
        else:
            with fs.open_input_file(inner) as f:
                yield from _range_blocks(f, split, block)
    except OSError as e:
        raise read_error(split.path, e) from None


def _range_blocks(f: pa.NativeFile, split: Split, block: int) -> Iterator[tuple[int, pa.Buffer]]:
    size = f.size()
    end = size if split.end < 0 else min(split.end, size)
    if split.start >= end:
        return
    if split.start == 0:
        begin = 0
    else:
        # The first owned line starts right after the first newline at or after start-1 (and before end).
        q = _find_newline(f, split.start - 1, end - 1)
        if q < 0:
            return
        begin = q + 1
    q = _find_newline(f, end - 1, size)  # the newline that ends the last owned line
    stop = size if q < 0 else q + 1
    p = begin
    while p < stop:
        n = min(block, stop - p)
        buf = _read_at(f, p, n)
        if p + n < stop:
            cut = _last_newline(buf)
            if cut >= 0:
                buf = buf.slice(0, cut + 1)
            else:  # a line longer than the block: read it whole
                q = _find_newline(f, p + n, stop)
                buf = _read_at(f, p, (q + 1 if q >= 0 else stop) - p)
        yield p, buf
        p += len(buf)


def _stream_blocks(stream: pa.NativeFile, block: int) -> Iterator[tuple[int, pa.Buffer]]:
    offset = 0
    carry: list[bytes] = []  # the start of a line not yet ended, possibly in several pieces
    while True:
        chunk = stream.read(block)
        if not chunk:
            break
        cut = chunk.rfind(b"\n")
        if cut < 0:
            carry.append(chunk)
            continue
        data = b"".join([*carry, chunk[: cut + 1]]) if carry else chunk[: cut + 1]
        carry = [chunk[cut + 1 :]] if cut + 1 < len(chunk) else []
        yield offset, pa.py_buffer(data)
        offset += len(data)
    if carry:
        yield offset, pa.py_buffer(b"".join(carry))


def _read_at(f: pa.NativeFile, offset: int, n: int) -> pa.Buffer:
    f.seek(offset)
    buf = f.read_buffer(n)
    if len(buf) != n:
        raise OSError(f"the file changed while it was read (expected {n} bytes at offset {offset})")
    return buf


def _find_newline(f: pa.NativeFile, lo: int, hi: int) -> int:
    """Absolute position of the first newline in [lo, hi), or -1; reads in growing chunks."""
    step = _PROBE_BYTES
    while lo < hi:
        buf = f.read_at(min(step, hi - lo), lo)
        if not len(buf):
            break
        hit = np.flatnonzero(np.frombuffer(buf, np.uint8) == _NL)
        if hit.size:
            return lo + int(hit[0])
        lo += len(buf)
        step = min(step * 4, BLOCK_BYTES)
    return -1


def _last_newline(buf: pa.Buffer) -> int:
    """Index of the last newline in `buf`, or -1; scans backwards from the end in growing windows."""
    a = np.frombuffer(buf, np.uint8)
    hi, width = len(a), _PROBE_BYTES
    while hi > 0:
        lo = max(0, hi - width)
        hit = np.flatnonzero(a[lo:hi] == _NL)
        if hit.size:
            return lo + int(hit[-1])
        hi, width = lo, width * 4
    return -1


def _one_value(buf: pa.Buffer) -> pa.Array:
    """The whole buffer as a one-element large_binary array, without copying."""
    offsets = pa.py_buffer(np.array([0, len(buf)], np.int64))
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buf])


def is_utf8(buf: pa.Buffer) -> bool:
    """Whether `buf` is valid UTF-8 (one Arrow cast, no copy)."""
    try:
        _one_value(buf).cast(pa.large_string())
        return True
    except pa.ArrowInvalid:
        return False


def ensure_utf8(
    buf: pa.Buffer,
    path: str,
    offset: int,
    *,
    errors: str = "strict",
    hint: str = "",
    bad: BadRecords | None = None,
    lines: LineCounter | None = None,
) -> pa.Buffer:
    """`buf` if it is valid UTF-8; else, with errors="replace", a copy with bad bytes replaced by U+FFFD; else, with
    `bad` (and the split's `lines` counter), a copy without the lines that hold invalid UTF-8, each reported to
    `bad`; else InputError naming the absolute offset of the first bad byte."""
    if is_utf8(buf):
        return buf
    if errors == "replace":
        # Newlines are ASCII and never part of a bad sequence, so replacing over the whole block is the same as
        # replacing line by line.
        return pa.py_buffer(buf.to_pybytes().decode("utf-8", "replace").encode("utf-8"))
    if bad is not None:
        assert lines is not None, "skipping bad lines needs the split's LineCounter"
        kept = _drop_invalid_lines(buf, path, offset, bad, lines)
        if kept is not None:
            return kept
    raw = buf.to_pybytes()
    try:
        raw.decode("utf-8")
        first, detail = 0, ""
    except UnicodeDecodeError as e:
        first, detail = e.start, f" ({e.reason}: byte 0x{raw[e.start]:02x})"
    raise InputError(path, f"invalid UTF-8{detail}" + (f"; {hint}" if hint else ""), offset=offset + first)


@dataclass(frozen=True)
class BadLine:
    """A line of a block that is not valid UTF-8: its index in the block (0-based), its bytes [start, end) in the
    block (the newline included), the block position of its first bad byte, and the reason."""

    index: int
    start: int
    end: int
    pos: int
    reason: str


_DECODE_WINDOW = 64 << 10


def newline_positions(buf: pa.Buffer) -> np.ndarray:
    """Positions of the newlines in `buf` (numpy; the skip path's line index)."""
    return np.flatnonzero(np.frombuffer(buf, np.uint8) == _NL)


def invalid_utf8_lines(buf: pa.Buffer, newlines: np.ndarray, most: int | None = None) -> list[BadLine]:
    """The lines of `buf` that hold invalid UTF-8, in order (at most `most` of them); `newlines` is
    `newline_positions(buf)`.

    Python's decoder runs over the block in windows of 64 KiB from one bad byte to the next: one pass over the
    block in C and one short decode per bad line, never a Python loop over good lines. A bad sequence never spans a
    newline (a newline is ASCII, never a continuation byte), so a line is bad exactly when the block's decode fails
    inside it, and decoding goes on at the next line.
    """
    view = memoryview(buf).cast("B")  # a pa.Buffer's view is of signed chars
    n, pos, out = len(view), 0, []
    while pos < n and (most is None or len(out) < most):
        stop = min(pos + _DECODE_WINDOW, n)
        try:
            _, used = codecs.utf_8_decode(view[pos:stop], "strict", stop == n)
            pos += used
            continue
        except UnicodeDecodeError as e:
            at, why = pos + e.start, e.reason
        index = int(np.searchsorted(newlines, at))  # newlines before the bad byte
        start = int(newlines[index - 1]) + 1 if index else 0
        end = int(newlines[index]) + 1 if index < len(newlines) else n
        reason = f"invalid UTF-8 ({why}: byte 0x{view[at]:02x})"
        out.append(BadLine(index, start, end, at, reason))
        pos = end
    return out


def _drop_invalid_lines(
    buf: pa.Buffer, path: str, offset: int, bad: BadRecords, lines: LineCounter
) -> pa.Buffer | None:
    """`buf` without its invalid UTF-8 lines, each reported to `bad` with its file line; None if the decoder
    finds nothing to drop (Arrow and Python disagree: the caller raises as in strict mode)."""
    newlines = newline_positions(buf)
    found = invalid_utf8_lines(buf, newlines, most=bad.room)
    if not found:
        return None
    before = lines.at(offset, len(newlines), len(buf))
    for b in found:
        bad.skip(path, b.reason, line=before + b.index + 1, offset=offset + b.pos)
    view, pieces, pos = memoryview(buf), [], 0
    for b in found:
        pieces.append(view[pos : b.start])
        pos = b.end
    pieces.append(view[pos:])
    kept = pa.py_buffer(b"".join(pieces))
    return kept if is_utf8(kept) else None


def lines_array(buf: pa.Buffer) -> pa.Array:
    """The lines of a block of valid UTF-8 (under 2 GiB) as a string array: split on `\\n`, one trailing `\\r`
    stripped per line, no extra empty line after a final newline."""
    if not len(buf):
        return pa.array([], pa.string())
    values = pc.split_pattern(_one_value(buf), "\n").values
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset : values.offset + len(values) + 1]
    data_buf = values.buffers()[2]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    last = np.frombuffer(buf, np.uint8)[-1]
    if last == _NL:
        offsets = offsets[:-1]  # "a\nb\n" splits into a, b and an empty remainder that is not a line
    data = data[offsets[0] : offsets[-1]]
    offsets = offsets - offsets[0]
    starts, ends = offsets[:-1], offsets[1:]
    if data.size:
        cr = (ends > starts) & (data[np.maximum(ends - 1, 0)] == _CR)
        if cr.any():
            keep = np.ones(data.size, bool)
            keep[ends[cr] - 1] = False
            data = data[keep]
            offsets = offsets - np.concatenate(([0], np.cumsum(cr)))
    # The block was validated as a whole and is only cut at ASCII bytes, so every line is valid UTF-8.
    return pa.Array.from_buffers(
        pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    )


def count_newlines_before(split: Split, offset: int) -> int:
    """Number of newlines in the file before `offset` (error path only: reads the file's head)."""
    fs, inner = resolve(split.path)
    codec = compression_of(split.path)
    count, pos = 0, 0
    with fs.open_input_stream(inner, compression=codec) as stream:
        while pos < offset:
            chunk = stream.read(min(BLOCK_BYTES, offset - pos))
            if not chunk:
                break
            count += chunk.count(b"\n")
            pos += len(chunk)
    return count


class LineCounter:
    """Newlines before an offset of one split's file, for the line numbers of skipped records (skip path only).

    Counting is incremental: the first call reads the file from its start up to the offset (as
    `count_newlines_before` does), a later call with a larger offset reads on from where the last one stopped, and
    `at` steps over a block whose newlines the caller counted in memory. So however many of a split's blocks hold
    bad records, the file head is read once. Compressed files are read through a second decompressing stream.
    """

    def __init__(self, split: Split):
        self._path = split.path
        self._codec = compression_of(split.path)
        self._pos = 0  # newlines before _pos are known: _count
        self._count = 0
        self._file: pa.NativeFile | None = None
        self._file_pos = 0  # where a compressed stream stands

    def before(self, offset: int) -> int:
        """Number of newlines in the file before `offset`."""
        if offset < self._pos:
            self.close()
            self._pos = self._count = 0
        if offset > self._pos:
            try:
                self._count += self._count_range(self._pos, offset)
            except OSError as e:
                raise read_error(self._path, e) from None
            self._pos = offset
        return self._count

    def at(self, offset: int, newlines: int, length: int) -> int:
        """Newlines before `offset`, where a block of `length` bytes holding `newlines` newlines starts; the counter
        then stands after that block without reading it."""
        before = self.before(offset)
        self._pos, self._count = offset + length, before + newlines
        return before

    def _count_range(self, lo: int, hi: int) -> int:
        fs, inner = resolve(self._path)
        count = 0
        if not self._codec:
            if self._file is None:
                self._file = fs.open_input_file(inner)
            while lo < hi:
                chunk = self._file.read_at(min(BLOCK_BYTES, hi - lo), lo)
                if not chunk:
                    break
                count += chunk.count(b"\n")
                lo += len(chunk)
            return count
        if self._file is None or self._file_pos > lo:
            self.close()
            self._file = fs.open_input_stream(inner, compression=self._codec)
            self._file_pos = 0
        while self._file_pos < hi:
            chunk = self._file.read(min(BLOCK_BYTES, hi - self._file_pos))
            if not chunk:
                break
            skip = max(0, lo - self._file_pos)
            if skip < len(chunk):
                count += chunk.count(b"\n", skip)
            self._file_pos += len(chunk)
        return count

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._file_pos = 0
