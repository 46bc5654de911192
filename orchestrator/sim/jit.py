"""The one compiler switch: numba's nopython JIT, with compiled code cached on disk.

numba checks a cached function against its own source file only, not the files it calls, so
the cache lives in a folder named by a digest of every compiled engine source: any edit to the engine
compiles afresh, and an unchanged engine starts from the cache (also in Ray workers, whose
working directory is a fresh upload: the cache is in the user's home, not beside the code).
Run with NUMBA_DISABLE_JIT=1 to execute the same source as plain Python (pdb, prints,
coverage); results are the same, only slower.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba import njit as _njit

from orchestrator.compat import set_numba_cache_dir

# the modules compiled code comes from (functions, and the constants they fold in)
COMPILED = ("heap", "histogram", "jit", "lines", "locks", "loop", "migrate", "ops", "rng", "state", "trees")


def _cache_dir() -> str:
    digest = hashlib.sha256()
    for name in COMPILED:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orch" / "numba"
    return str(base / digest.hexdigest()[:16])


if not os.environ.get("NUMBA_CACHE_DIR"):  # read when a function is decorated, so set it first
    set_numba_cache_dir(_cache_dir())

njit = _njit(cache=True)
