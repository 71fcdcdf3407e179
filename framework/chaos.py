"""Fault injection users can run: `--chaos kill-leader@50%` kills the master leader when the job is half done.

`kill-store@P%` kills one of the job's shuffle stores (picked by `--chaos-seed`); the job re-creates what only that
store held (or reads it from a replica with `--replicas 2`).

A rehearsal of real failures (and how the failover tests drive them): `kill-leader@P%` and `kill-follower@P%`
`ray.kill` the named master replica once P% of the job's tasks are done; its peers start it again and it reloads
its WAL, as after a crash. Repeat the option for several faults; `--chaos-seed` picks which follower.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

from framework.errors import UsageError

KINDS = ("kill-leader", "kill-follower", "kill-store")
_SPEC = re.compile(r"^(?P<kind>[a-z-]+)@(?P<pct>\d+(?:\.\d+)?)%?$")


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float  # fraction of the job's tasks done, 0..1


def parse_chaos(specs: list[str]) -> list[Fault]:
    """`kill-leader@50%` -> Fault("kill-leader", 0.5); a malformed spec is a UsageError."""
    faults = []
    for spec in specs:
        m = _SPEC.match(spec.strip())
        if not m or m["kind"] not in KINDS or not 0 <= float(m["pct"]) <= 100:
            raise UsageError(f"--chaos wants KIND@P% with KIND one of {', '.join(KINDS)} and P in 0..100, got {spec!r}")
        faults.append(Fault(m["kind"], float(m["pct"]) / 100))
    return sorted(faults, key=lambda f: f.at)


@dataclass
class ChaosMonkey:
    """Fires each fault once the job's progress reaches it (called with every status the client sees)."""

    faults: list[Fault]
    group: object  # framework.master.group.GroupClient
    seed: int = 0
    fired: list = field(default_factory=list)
    stores: list = field(default_factory=list)  # names of the job's shuffle stores (kill-store picks one)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.pending = list(self.faults)

    def observe(self, status: dict) -> None:
        if not self.pending or not status or status.get("status") != "running":
            return
        done = status.get("all_done", 0) / max(1, status.get("all_total", 1))
        while self.pending and done >= self.pending[0].at:
            self._fire(self.pending.pop(0))

    def _fire(self, fault: Fault) -> None:
        import ray

        if fault.kind == "kill-store":
            from framework.cluster import NAMESPACE

            live = []
            for name in self.stores:
                try:
                    live.append((name, ray.get_actor(name, namespace=NAMESPACE)))
                except ValueError:
                    continue
            if live:
                name, handle = self.rng.choice(live)
                ray.kill(handle)
                self.fired.append({"fault": fault.kind, "at": fault.at, "store": name, "time": time.time()})
            return

        infos = []
        handles = self.group.handles
        for i, handle in enumerate(handles):
            try:
                if handle is not None:
                    infos.append((i, ray.get(handle.info.remote(), timeout=5)))
            except ray.exceptions.RayError:
                continue
        leaders = [i for i, info in infos if info["role"] == "leader"]
        followers = [i for i, info in infos if info["role"] != "leader"]
        targets = leaders if fault.kind == "kill-leader" else followers
        if not targets:
            return
        victim = targets[0] if fault.kind == "kill-leader" else self.rng.choice(targets)
        ray.kill(handles[victim])
        self.fired.append({"fault": fault.kind, "at": fault.at, "replica": victim, "time": time.time()})
