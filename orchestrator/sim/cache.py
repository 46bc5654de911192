"""Whether this machine has the engine compiled: a first run compiles it for tens of seconds
(sim/jit.py says where the code is cached), which orch says rather than sit silent."""

from __future__ import annotations

import sys
from pathlib import Path

COMPILING = "orch: compiling the engine (the first run on this machine, ~40 s)..."


def loop_index() -> Path | None:
    """The cache file a run looks up first: the index of the compiled loop (None when nothing is
    compiled, as under NUMBA_DISABLE_JIT=1)."""
    from orchestrator.sim.loop import run

    cache = getattr(run, "_cache", None)  # numba's FunctionCache for this install's sim/ folder
    return Path(cache._cache_file._index_path) if cache is not None else None


def say_if_compiling(index: Path | None = None) -> None:
    """One line on stderr when the next run here compiles the engine (a new machine, a new
    version of orch): no index of the compiled loop in the cache."""
    index = index or loop_index()
    if index is not None and not index.exists():
        print(COMPILING, file=sys.stderr, flush=True)
