"""The master replica's rooms on their own, without Ray: the consensus room on one asyncio loop with an in-memory
transport, and the module layering (no import circles; the replica does not load pyarrow)."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys

import pytest

from framework.master.consensus import ConsensusNode, LocalTransport, NotLeaderError
from framework.master.state import JobCancelled

pytestmark = pytest.mark.timeout(60)


def _group(tmp_path, n: int = 3):
    transport = LocalTransport()
    events: dict[int, list] = {i: [] for i in range(n)}
    nodes = {}
    for i in range(n):
        nodes[i] = transport.nodes[i] = ConsensusNode(
            i, list(range(n)), str(tmp_path / f"r{i}"), transport, fsync=False,
            on_apply=lambda cmd, i=i: events[i].append(("apply", cmd.job_id)),
            on_leading=lambda leading, i=i: events[i].append(("leading", leading)))
    return transport, nodes, events


async def _until(condition, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_a_new_group_elects_at_once_and_replicates(tmp_path):
    async def main():
        transport, nodes, events = _group(tmp_path)
        for node in nodes.values():
            node.start()
        for i in nodes:  # a failure detector reached every peer: the lowest id campaigns without waiting
            for j in nodes:
                if i != j:
                    nodes[i].peer_up(j)
        await _until(lambda: any(n.is_leader() for n in nodes.values()), 0.5)  # well under the 0.8 s timeout
        leader = next(n for n in nodes.values() if n.is_leader())
        assert leader.id == 0 and ("leading", True) in events[0]
        await leader.propose([JobCancelled("probe-1", "probe")])
        await _until(lambda: all(("apply", "probe-1") in events[i] for i in nodes), 2)
        with pytest.raises(NotLeaderError):
            await nodes[1].propose([JobCancelled("probe-2", "probe")])
        # the leader's process dies: its peers are told, the next lowest campaigns, and the log goes on
        transport.down.add(0)
        leader.ticker.cancel()
        for i in (1, 2):
            nodes[i].leader_lost(0)
        await _until(lambda: nodes[1].is_leader() or nodes[2].is_leader(), 3)
        new = nodes[1] if nodes[1].is_leader() else nodes[2]
        await new.propose([JobCancelled("probe-3", "probe")])
        await _until(lambda: all(("apply", "probe-3") in events[i] for i in (1, 2)), 2)
        assert max(n.max_lag for n in nodes.values()) < 0.25
        for node in nodes.values():
            node.ticker.cancel()

    asyncio.run(main())


def test_a_replica_with_history_never_campaigns_early(tmp_path):
    async def main():
        transport, nodes, events = _group(tmp_path)
        for node in nodes.values():
            node.start()
            for j in nodes:
                if j != node.id:
                    node.peer_up(j)
        await _until(lambda: nodes[0].is_leader(), 1)
        await nodes[0].propose([JobCancelled("probe", "probe")])
        await _until(lambda: all(("apply", "probe") in events[i] for i in nodes), 2)
        for node in nodes.values():
            node.ticker.cancel()
        # replica 1 restarts from its WAL while 0 still leads: being the lowest it sees up does not make it campaign
        restarted = ConsensusNode(1, [0, 1, 2], str(tmp_path / "r1"), transport, fsync=False)
        restarted.peer_up(2)
        assert restarted.core.status()["role"] == "follower"

    asyncio.run(main())


FRAMEWORK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "framework")


def _top_level_imports() -> dict[str, set[str]]:
    """module -> the framework modules it imports at module level (not inside functions)."""
    graph: dict[str, set[str]] = {}
    for root, _, files in os.walk(FRAMEWORK):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, os.path.dirname(FRAMEWORK))[:-3].replace(os.sep, ".")
            module = rel[: -len(".__init__")] if rel.endswith(".__init__") else rel
            deps = set()
            for node in ast.parse(open(path).read()).body:
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("framework"):
                    deps.add(node.module)
                elif isinstance(node, ast.Import):
                    deps.update(a.name for a in node.names if a.name.startswith("framework"))
            graph[module] = deps
    return graph


def test_no_import_circles_at_module_level():
    graph = _top_level_imports()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert "framework.master.group" not in graph["framework.cluster"]
    assert "framework.cli" not in graph["framework.job"]


def test_a_master_replica_process_does_not_load_pyarrow_or_pandas():
    code = ("import sys, framework.master.replica, framework.master.group; "
            "print(sorted(m for m in ('pyarrow', 'pandas', 'polars') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_lease_holds_for_the_leader_alone_and_ends_when_its_loop_stalls(tmp_path):
    """`holds_lease` (read by a commit's thread): true on the leader while a majority acknowledges it; false once
    the loop has not ticked for the lease's length, before the core itself noticed anything."""
    import time

    async def main():
        transport, nodes, _ = _group(tmp_path)
        for node in nodes.values():
            node.start()
        for i in nodes:
            for j in nodes:
                if i != j:
                    nodes[i].peer_up(j)
        await _until(lambda: any(n.is_leader() for n in nodes.values()), 2)
        leader = next(n for n in nodes.values() if n.is_leader())
        await leader.propose([JobCancelled("probe-1", "probe")])
        await _until(leader.holds_lease, 2)
        assert not any(n.holds_lease() for n in nodes.values() if n is not leader)
        time.sleep(13 * 0.05)  # the loop stalls past the 12-tick lease: nothing ticked, yet the lease is gone
        assert leader.is_leader() and not leader.holds_lease()
        for node in nodes.values():
            node.ticker.cancel()

    asyncio.run(main())
