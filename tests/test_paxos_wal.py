"""Tests of the write-ahead log, the snapshot files and the storages built on them.

Recovery must return exactly the records before the first damage: every byte offset of a torn tail, and a flipped
byte at every offset of the last records, are tried one by one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framework.paxos import (NOOP, Ballot, Config, CorruptFile, DurableState, Entry, FileStorage, HardState,
                             MemoryStorage, Proposal, Ready, Replica, Snapshot, WriteAheadLog)
from framework.paxos.wal import decode_records, encode_record, read_snapshot_file, write_snapshot_file

RECORDS: list[Any] = [
    {"hs": {"promised": [1, 1], "commit": 0, "recovering": False}},
    {"e": {"slot": 1, "ballot": [1, 1], "value": [["c", 1, {"type": "TaskDone", "job_id": "j"}]]}},
    {"e": {"slot": 2, "ballot": [1, 1], "value": None}},
    {"text": "unicode: naïve café ✓", "n": [1, 2.5, True, None]},
    {"hs": {"promised": [2, 3], "commit": 2, "recovering": False}},
]


def frames(records: list[Any]) -> list[bytes]:
    return [encode_record(r) for r in records]


def recover(path: Path, data: bytes) -> tuple[list[Any], int]:
    path.write_bytes(data)
    with WriteAheadLog(path, fsync=False) as wal:
        return wal.recovered, path.stat().st_size


def test_records_round_trip_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wal.log"
    with WriteAheadLog(path, fsync=False) as wal:
        wal.append(RECORDS[:2])
        wal.append(RECORDS[2:])
    with WriteAheadLog(path, fsync=False) as wal:
        assert wal.recovered == RECORDS and wal.truncated_bytes == 0


def test_the_payload_is_utf8_json_framed_by_length_and_crc() -> None:
    data = encode_record({"a": "é"})
    assert int.from_bytes(data[:4], "little") == len(data) - 8
    assert data[8:].decode("utf-8") == '{"a":"é"}'


def test_recovery_at_every_byte_offset_of_a_torn_tail(tmp_path: Path) -> None:
    parts = frames(RECORDS)
    data = b"".join(parts)
    ends = [sum(len(p) for p in parts[:i + 1]) for i in range(len(parts))]
    path = tmp_path / "wal.log"
    for cut in range(len(data) + 1):
        whole = sum(1 for end in ends if end <= cut)
        recovered, size = recover(path, data[:cut])
        assert recovered == RECORDS[:whole], f"cut at byte {cut}"
        assert size == (ends[whole - 1] if whole else 0), f"tail not truncated at byte {cut}"


def test_recovery_with_a_corrupted_byte_at_every_offset_of_the_last_two_records(tmp_path: Path) -> None:
    parts = frames(RECORDS)
    data = b"".join(parts)
    starts = [sum(len(p) for p in parts[:i]) for i in range(len(parts))]
    path = tmp_path / "wal.log"
    for offset in range(starts[-2], len(data)):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[offset] ^= flip
            record = max(i for i, start in enumerate(starts) if start <= offset)
            recovered, size = recover(path, bytes(damaged))
            assert recovered == RECORDS[:record], f"byte {offset} ^ {flip:#x}"
            assert size == starts[record]


def test_everything_after_a_damaged_record_is_dropped(tmp_path: Path) -> None:
    parts = frames(RECORDS)
    damaged = bytearray(b"".join(parts))
    damaged[len(parts[0]) + 10] ^= 0x55  # inside the second record
    recovered, _ = recover(tmp_path / "wal.log", bytes(damaged))
    assert recovered == RECORDS[:1]


def test_appends_after_recovery_follow_the_valid_prefix(tmp_path: Path) -> None:
    path = tmp_path / "wal.log"
    data = b"".join(frames(RECORDS))
    path.write_bytes(data[:-3])
    with WriteAheadLog(path, fsync=False) as wal:
        assert wal.truncated_bytes == len(frames(RECORDS)[-1]) - 3
        wal.append([{"after": 1}])
    with WriteAheadLog(path, fsync=False) as wal:
        assert wal.recovered == RECORDS[:-1] + [{"after": 1}]


@settings(max_examples=60, deadline=None)
@given(records=st.lists(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=8), max_size=3),
                        min_size=1, max_size=6),
       cut=st.integers(min_value=0), noise=st.binary(max_size=12))
def test_any_truncation_or_garbage_tail_recovers_a_prefix(records: list[Any], cut: int, noise: bytes) -> None:
    data = b"".join(frames(records))
    cut %= len(data) + 1
    recovered, valid = decode_records(data[:cut] + noise)
    assert recovered == records[:len(recovered)]
    assert valid == sum(len(f) for f in frames(recovered)) and valid <= cut


def test_fsync_happens_per_synced_batch_and_can_be_switched_off(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    with WriteAheadLog(tmp_path / "on.log", fsync=True) as wal:
        calls.clear()
        wal.append([{"a": 1}, {"b": 2}])
        assert len(calls) == 1
        wal.append([{"c": 3}], sync=False)
        assert len(calls) == 1
    calls.clear()
    with WriteAheadLog(tmp_path / "off.log", fsync=False) as wal:
        wal.append([{"a": 1}])
        wal.rewrite([{"b": 2}])
    write_snapshot_file(tmp_path / "snap.bin", {"x": 1}, fsync=False)
    assert calls == []


def test_snapshot_files_are_replaced_atomically_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.bin"
    assert read_snapshot_file(path) is None
    write_snapshot_file(path, {"index": 1}, fsync=False)
    (tmp_path / "snapshot.bin.tmp").write_bytes(b"half a snapshot from a crash")  # ignored
    write_snapshot_file(path, {"index": 2}, fsync=False)
    assert read_snapshot_file(path) == {"index": 2}
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CorruptFile, match="snapshot"):
        read_snapshot_file(path)


def test_rewrite_replaces_the_log(tmp_path: Path) -> None:
    path = tmp_path / "wal.log"
    with WriteAheadLog(path, fsync=False) as wal:
        wal.append(RECORDS)
        wal.rewrite(RECORDS[-1:])
        wal.append([{"next": True}])
    with WriteAheadLog(path, fsync=False) as wal:
        assert wal.recovered == RECORDS[-1:] + [{"next": True}]


# ---- storages ------------------------------------------------------------------------------------------------


def ready(hard: HardState | None = None, entries: tuple[Entry, ...] = (), snapshot: Snapshot | None = None,
          sync: bool = True) -> Ready:
    return Ready(hard, entries, snapshot, None, (), (), (), sync)


def entry(slot: int, rnd: int = 1, value: Any = "x") -> Entry:
    return Entry(slot, Ballot(rnd, 1), (Proposal("c", slot, {"v": value}),))


WRITES = [
    ready(HardState(Ballot(1, 1), 0)),
    ready(None, (entry(1), entry(2))),
    ready(HardState(Ballot(1, 1), 2), (entry(3, value=[1, 2]),)),
    ready(HardState(Ballot(2, 2), 2), (entry(3, rnd=2, value="later"), Entry(4, Ballot(2, 2), NOOP))),
]
EXPECTED = DurableState(HardState(Ballot(2, 2), 2),
                        (entry(1), entry(2), entry(3, rnd=2, value="later"), Entry(4, Ballot(2, 2), NOOP)))


@pytest.mark.parametrize("make", [lambda d: MemoryStorage(), lambda d: MemoryStorage(json_roundtrip=True),
                                  lambda d: FileStorage(d, fsync=False)], ids=["memory", "memory-json", "file"])
def test_storages_keep_the_latest_hard_state_and_entry_per_slot(tmp_path: Path, make: Any) -> None:
    storage = make(tmp_path)
    assert storage.load().is_empty()
    for r in WRITES:
        storage.persist(r)
    assert storage.load() == EXPECTED


def test_file_storage_reloads_what_it_persisted(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    for r in WRITES:
        storage.persist(r)
    storage.close()
    assert FileStorage(tmp_path, fsync=False).load() == EXPECTED


def test_a_snapshot_truncates_the_wal(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    for r in WRITES:
        storage.persist(r)
    snap = Snapshot(3, {"state": [1, 2, 3]}, (("c", 3, 3),))
    storage.persist(ready(None, (entry(5),), snap))
    storage.close()
    size = (tmp_path / "wal.log").stat().st_size
    reopened = FileStorage(tmp_path, fsync=False)
    assert reopened.load() == DurableState(HardState(Ballot(2, 2), 2), (Entry(4, Ballot(2, 2), NOOP), entry(5)), snap)
    assert size < sum(len(encode_record(r)) for r in RECORDS)  # rewritten: only what the snapshot does not cover


def test_a_crash_between_snapshot_and_wal_rewrite_loses_nothing(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    for r in WRITES:
        storage.persist(r)
    storage.close()
    snap = Snapshot(2, "app", ())
    write_snapshot_file(tmp_path / "snapshot.bin", {"index": 2, "value": "app", "clients": []}, fsync=False)
    state = FileStorage(tmp_path, fsync=False).load()  # the old WAL still holds slots 1-2: they are dropped
    assert state.snapshot == snap and [e.slot for e in state.entries] == [3, 4]


def test_file_storage_truncates_a_torn_last_write(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path, fsync=False)
    for r in WRITES:
        storage.persist(r)
    storage.close()
    wal = tmp_path / "wal.log"
    wal.write_bytes(wal.read_bytes()[:-5])
    reopened = FileStorage(tmp_path, fsync=False)
    assert reopened.truncated_bytes > 0
    # the last batch was entries 3 and 4 then the hard state: the torn hard state is gone, its entries are not
    assert reopened.load() == DurableState(HardState(Ballot(1, 1), 2), EXPECTED.entries)


def test_a_replica_restarts_from_file_storage(tmp_path: Path) -> None:
    config = Config((1,), election_ticks_min=3, election_ticks_max=4, lease_ticks=2)
    storage = FileStorage(tmp_path, fsync=True)
    node = Replica(config, 1, rng=random.Random(0), durable=storage.load())
    applied: list[Any] = []
    for step in range(12):
        node.tick()
        if step > 5:
            node.propose("c", step, {"step": step})
        while node.has_ready():
            r = node.ready()
            storage.persist(r)
            applied += [c.command for c in r.committed]
            node.advance(r)
    node.compact(3, {"applied": applied[:3]})
    r = node.ready()
    storage.persist(r)
    node.advance(r)
    storage.close()
    storage = FileStorage(tmp_path)
    again = Replica(config, 1, rng=random.Random(1), durable=storage.load())
    first = again.ready()
    assert first.restore is not None and first.restore.value == {"applied": applied[:3]}
    assert first.restore.value["applied"] + [c.command for c in first.committed] == applied
    assert again.ballot() == node.ballot() and len(applied) == 6
