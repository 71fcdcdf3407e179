"""The per-client dedup table: the last applied `seq` of each client and the slot it was applied at.

It is a pure function of the chosen log (so every replica holds the same one), and it travels inside snapshots,
so a retried `(client_id, seq)` is applied once across failovers and restarts. Clients have one request in flight
at a time and number them increasingly: a seq at or below the last applied one is a duplicate.
"""

from __future__ import annotations

from typing import Iterable

from framework.paxos.records import Value

__all__ = ["ClientTable"]


class ClientTable:
    def __init__(self, rows: Iterable[tuple[str, int, int]] = ()) -> None:
        self._last: dict[str, tuple[int, int]] = {c: (seq, slot) for c, seq, slot in rows}

    def is_new(self, client_id: str, seq: int) -> bool:
        last = self._last.get(client_id)
        return last is None or seq > last[0]

    def record(self, client_id: str, seq: int, slot: int) -> bool:
        """Note `(client_id, seq)` applied at `slot`; False (and no change) when it is a duplicate."""
        if not self.is_new(client_id, seq):
            return False
        self._last[client_id] = (seq, slot)
        return True

    def slot_of(self, client_id: str, seq: int) -> int | None:
        """Where `(client_id, seq)` was applied, when it is the client's last applied request."""
        last = self._last.get(client_id)
        return last[1] if last is not None and last[0] == seq else None

    def apply_value(self, slot: int, value: Value) -> None:
        for p in value or ():
            self.record(p.client_id, p.seq, slot)

    def rows(self) -> tuple[tuple[str, int, int], ...]:
        return tuple(sorted((c, seq, slot) for c, (seq, slot) in self._last.items()))

    def copy(self) -> "ClientTable":
        table = ClientTable()
        table._last = dict(self._last)
        return table
