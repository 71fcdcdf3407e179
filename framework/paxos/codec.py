"""JSON forms of the core's types: what the WAL writes and what a transport may send. No pickle anywhere.

Every `*_to_json` returns plain dicts/lists/str/int/None; `*_from_json` is its inverse. Commands pass through
untouched: they are JSON values already.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable

from framework.paxos.ballot import Ballot
from framework.paxos.messages import MESSAGE_TYPES, Message
from framework.paxos.records import Entry, HardState, Proposal, Snapshot, Value

__all__ = ["entry_from_json", "entry_to_json", "hard_state_from_json", "hard_state_to_json", "message_from_json",
           "message_to_json", "snapshot_from_json", "snapshot_to_json"]


def ballot_to_json(ballot: Ballot) -> list[int]:
    return [ballot.round, ballot.replica_id]


def ballot_from_json(data: Any) -> Ballot:
    rnd, replica_id = data
    return Ballot(int(rnd), int(replica_id))


def value_to_json(value: Value) -> list[list[Any]] | None:
    return None if value is None else [[p.client_id, p.seq, p.command] for p in value]


def value_from_json(data: Any) -> Value:
    return None if data is None else tuple(Proposal(str(c), int(s), cmd) for c, s, cmd in data)


def entry_to_json(entry: Entry) -> dict[str, Any]:
    return {"slot": entry.slot, "ballot": ballot_to_json(entry.ballot), "value": value_to_json(entry.value)}


def entry_from_json(data: dict[str, Any]) -> Entry:
    return Entry(int(data["slot"]), ballot_from_json(data["ballot"]), value_from_json(data["value"]))


def hard_state_to_json(hard: HardState) -> dict[str, Any]:
    return {"promised": ballot_to_json(hard.promised), "commit": hard.commit, "recovering": hard.recovering}


def hard_state_from_json(data: dict[str, Any]) -> HardState:
    return HardState(ballot_from_json(data["promised"]), int(data["commit"]), bool(data["recovering"]))


def snapshot_to_json(snapshot: Snapshot) -> dict[str, Any]:
    return {"index": snapshot.index, "value": snapshot.value, "clients": [list(row) for row in snapshot.clients]}


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    clients = tuple((str(c), int(seq), int(slot)) for c, seq, slot in data["clients"])
    return Snapshot(int(data["index"]), data["value"], clients)


def _identity(x: Any) -> Any:
    return x


def _optional(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: None if x is None else fn(x)


# Message fields that are not plain ints, by name: (to_json, from_json).
_FIELDS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "ballot": (ballot_to_json, ballot_from_json),
    "promised": (ballot_to_json, ballot_from_json),
    "entries": (lambda es: [entry_to_json(e) for e in es], lambda xs: tuple(entry_from_json(x) for x in xs)),
    "slots": (list, tuple),
    "snapshot": (_optional(snapshot_to_json), _optional(snapshot_from_json)),
}
_PLAIN: tuple[Callable[[Any], Any], Callable[[Any], Any]] = (_identity, _identity)


def message_to_json(msg: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(msg).__name__}
    for f in fields(msg):
        out[f.name] = _FIELDS.get(f.name, _PLAIN)[0](getattr(msg, f.name))
    return out


def message_from_json(data: dict[str, Any]) -> Message:
    cls = MESSAGE_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown message type in {data!r}")
    return cls(**{f.name: _FIELDS.get(f.name, _PLAIN)[1](data[f.name]) for f in fields(cls)})
