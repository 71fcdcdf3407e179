"""A write-ahead log file and atomically written snapshot files, on local disk.

Record framing: `length (u32 LE) | crc32 (u32 LE) | payload`, where the payload is UTF-8 JSON and the CRC covers
the length bytes and the payload. Nothing read back from disk is unpickled.

Recovery reads records until the first one that is torn (the file ends inside it) or corrupt (CRC or JSON fails),
truncates the file there, and returns the records before it: a crash mid-append loses at most the batch being
written, and everything after a damaged record is dropped rather than trusted.

Snapshot files hold one framed record and are replaced atomically: write a temporary file, fsync it, rename it over
the old one, fsync the directory. `rewrite()` replaces the whole WAL the same way (after a snapshot, to drop the
entries it covers).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Iterable

from framework.paxos.errors import ConsensusError

__all__ = ["CorruptFile", "WriteAheadLog", "decode_records", "encode_record", "read_snapshot_file",
           "write_file_atomic", "write_snapshot_file"]

_HEADER = struct.Struct("<II")
_MAX_RECORD = 1 << 30


class CorruptFile(ConsensusError):
    """A file that is replaced atomically (a snapshot) does not decode: the disk, not a crash, damaged it."""


def encode_record(payload: Any) -> bytes:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    length = struct.pack("<I", len(body))
    return length + struct.pack("<I", zlib.crc32(body, zlib.crc32(length))) + body


def decode_records(data: bytes) -> tuple[list[Any], int]:
    """The records of `data` up to the first torn or corrupt one, and the byte length of that valid prefix."""
    records: list[Any] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if length > _MAX_RECORD or end > len(data):
            break
        body = data[pos + _HEADER.size:end]
        if zlib.crc32(body, zlib.crc32(data[pos:pos + 4])) != crc:
            break
        try:
            records.append(json.loads(body.decode("utf-8")))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError both
            break
        pos = end
    return records, pos


class WriteAheadLog:
    """An append-only record file. Opening it recovers: `recovered` holds the valid records found."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        existed = self.path.exists()
        data = self.path.read_bytes() if existed else b""
        self.recovered, valid = decode_records(data)
        self.truncated_bytes = len(data) - valid
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if self.truncated_bytes:
            os.ftruncate(self._fd, valid)
            self._sync_file()
        if not existed:
            self._sync_dir()

    def append(self, payloads: Iterable[Any], *, sync: bool = True) -> None:
        """Write a batch of records; with `sync` (and fsync enabled) they are on disk when this returns."""
        data = b"".join(encode_record(p) for p in payloads)
        if data:
            _write_all(self._fd, data)
            if sync:
                self._sync_file()

    def rewrite(self, payloads: Iterable[Any]) -> None:
        """Atomically replace the log's contents with `payloads`."""
        os.close(self._fd)
        write_file_atomic(self.path, b"".join(encode_record(p) for p in payloads), fsync=self.fsync)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND, 0o644)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "WriteAheadLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync_file(self) -> None:
        if self.fsync:
            os.fsync(self._fd)

    def _sync_dir(self) -> None:
        if self.fsync:
            _fsync_dir(self.path.parent)


def write_file_atomic(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Replace `path` with `data` so a crash leaves either the old file or the new one, never a mix."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        _fsync_dir(path.parent)


def write_snapshot_file(path: str | os.PathLike[str], payload: Any, *, fsync: bool = True) -> None:
    write_file_atomic(path, encode_record(payload), fsync=fsync)


def read_snapshot_file(path: str | os.PathLike[str]) -> Any | None:
    """The payload of a snapshot file, None when there is none; CorruptFile when it does not decode."""
    path = Path(path)
    if not path.exists():
        return None
    data = path.read_bytes()
    records, valid = decode_records(data)
    if len(records) != 1 or valid != len(data):
        raise CorruptFile(f"{path}: snapshot file is damaged ({len(data)} bytes, {valid} valid)")
    return records[0]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
