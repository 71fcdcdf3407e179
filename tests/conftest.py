"""Shared fixtures: one local Ray for the whole test session, on loopback, and a private cache directory."""

from __future__ import annotations

import os

import pytest

# Local Ray binds to 127.0.0.1 with this set (measured; see shared/RAY-NOTES.md): test traffic stays on loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session", autouse=True)
def paxflow_cache(tmp_path_factory):
    """Results and sample corpora of this test session go to a temporary cache, not ~/.cache/paxflow."""
    path = tmp_path_factory.mktemp("paxflow-cache")
    old = os.environ.get("PAXFLOW_CACHE")
    os.environ["PAXFLOW_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("PAXFLOW_CACHE", None)
    else:
        os.environ["PAXFLOW_CACHE"] = old


@pytest.fixture(scope="session")
def ray_session():
    """The one Ray of this test session (starting Ray costs seconds: never start one per test)."""
    import ray

    from framework.cluster import local_system_config

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="paxflow",
             configure_logging=False, _system_config=local_system_config(2))
    try:
        addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
        assert addresses == {"127.0.0.1"}, f"Ray must bind to loopback in tests, got {addresses}"
        yield ray
    finally:
        ray.shutdown()
