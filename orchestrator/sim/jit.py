"""The one compiler switch: numba's nopython JIT, with compiled code cached on disk, once per
machine for every install of orch.

numba files a function's cache under a folder named by the absolute path of its source, and
checks it against that one source file, not the files it calls. So orch files the engine's
compiled code itself (EngineCache): in one folder named by a digest of every source in sim/,
whatever the path orch is installed at. An edit to the engine compiles afresh; an unchanged
engine starts from the cache in every process of the machine: a second checkout, a wheel in
another virtualenv, a Ray worker or a submitted job's runtime environment. The folder is in
the user's cache ($XDG_CACHE_HOME/orch/numba, or $NUMBA_CACHE_DIR when that is set).
Run with NUMBA_DISABLE_JIT=1 to execute the same source as plain Python (pdb, prints,
coverage); results are the same, only slower.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from numba import njit as _njit

from orchestrator.compat import first_numba_locator, numba_locator_base

HERE = Path(__file__).resolve().parent


def engine_digest() -> str:
    """A digest of the engine's sources: every module of sim/ (compiled functions, and the
    constants they fold in)."""
    digest = hashlib.sha256()
    for source in sorted(HERE.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def cache_folder() -> Path:
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orch" / "numba"
    return Path(os.environ.get("NUMBA_CACHE_DIR") or user) / DIGEST


class EngineCache(numba_locator_base()):  # type: ignore[misc]  # numba's _CacheLocator, found at run time
    """Where numba caches a function of the engine: the digest's folder, fresh while the digest
    matches (numba's own locators key on the source's path)."""

    def __init__(self, py_func):
        self._lineno = py_func.__code__.co_firstlineno

    def ensure_cache_path(self) -> None:
        FOLDER.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=FOLDER).close()  # writable

    def get_cache_path(self) -> str:
        return str(FOLDER)

    def get_source_stamp(self) -> str:
        return DIGEST

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != HERE:
            return None  # not the engine's: numba's own locators decide
        locator = cls(py_func)
        try:
            locator.ensure_cache_path()
        except OSError:  # no writable cache: numba compiles without one
            return None
        return locator


DIGEST = engine_digest()
FOLDER = cache_folder()
first_numba_locator(EngineCache)

njit = _njit(cache=True)
