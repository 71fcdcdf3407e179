"""Where Paxflow keeps its files on this machine: `$PAXFLOW_CACHE`, default `~/.cache/paxflow`.

It holds printed jobs' results (`results/`), the master group's WALs (`state/`, or `$PAXFLOW_STATE`), the
generated sample corpus, the service record and log (`service.json`, `service.log`), and tables computed once
per machine (`tables/`).
"""

from __future__ import annotations

import os


def cache_dir(*parts: str) -> str:
    """The cache folder, or a path under it."""
    base = os.environ.get("PAXFLOW_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "paxflow")
    return os.path.join(base, *parts)
