"""Whole partition folders swapped in place, for orch compact on a local filesystem.

Readers of a dataset glob its files (DuckDB's and Polars' `ROOT/**/*.parquet` match hidden
folders too) and honour no manifest, so a rewrite must never leave a merged part beside the
parts it replaces. orch compact therefore writes each table's new sweep folder in a staging
folder beside ROOT (outside every glob of the dataset), then swaps whole folders:

  1. stage:   STAGING/table=T/ holds the new parts and a MARK file, for every table T;
  2. journal: ROOT/.orch-compact.json names STAGING and the sweep (written atomically);
  3. swap:    each ROOT/table=T/sweep=S is exchanged with STAGING/table=T (one renameat2
              RENAME_EXCHANGE: readers see the old folder or the new one, never neither);
  4. clean:   STAGING (now holding the old folders) goes, then the journal.

A kill before 2 leaves only STAGING, which the next writer deletes (roll back); a kill after 2
leaves the journal, and the next writer finishes 3 and 4 (roll forward): a staged folder still
holding MARK has not been swapped in. Where the filesystem cannot exchange two folders, the swap
is two renames and a kill between them leaves the table's folder missing until the next orch
command restores it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil

JOURNAL = ".orch-compact.json"  # in ROOT: hidden and not .parquet, so no reader's glob takes it
MARK = ".orch-staged"           # in a staged folder until it is swapped in
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2  # linux/fcntl.h, linux/fs.h


def staging_folder(root: str) -> str:
    """Beside ROOT, hidden, on ROOT's filesystem as long as ROOT is not a mount point."""
    real = os.path.realpath(root)
    return os.path.join(os.path.dirname(real), f".{os.path.basename(real)}.orch-compact")


def can_stage(root: str) -> str | None:
    """Why compact cannot stage beside ROOT, or None: a rename cannot cross filesystems."""
    real = os.path.realpath(root)
    parent = os.path.dirname(real)
    if os.stat(parent).st_dev != os.stat(real).st_dev:
        return f"{real} is a mount point: orch compact swaps folders by rename and stages beside the dataset"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write beside the dataset in {parent}, where orch compact stages its new parts"
    return None


def live_folder(root: str, table: str, sweep: str) -> str:
    return os.path.join(root, f"table={table}", f"sweep={sweep}")


def staged_folder(staging: str, table: str) -> str:
    return os.path.join(staging, f"table={table}")


def begin(root: str, tables: tuple[str, ...]) -> str:
    """A fresh staging folder with an empty marked folder per table; returns its path."""
    staging = staging_folder(root)
    shutil.rmtree(staging, ignore_errors=True)  # a compact killed before its journal: nothing of it is live
    for table in tables:
        folder = staged_folder(staging, table)
        os.makedirs(folder)
        open(os.path.join(folder, MARK), "w").close()
    return staging


def commit(root: str, sweep: str, tables: tuple[str, ...]) -> None:
    """Swap every staged table folder in, after the journal that lets a kill be rolled forward."""
    staging = staging_folder(root)
    try:
        _write_journal(root, {"sweep": sweep, "staging": staging, "tables": list(tables)})
    except OSError:  # a full disk: without its journal the compact never happened
        abandon(root)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(root, JOURNAL + ".tmp"))
        raise
    finish(root)


def abandon(root: str) -> None:
    """Remove what a compact that failed before its journal staged (a full disk)."""
    shutil.rmtree(staging_folder(root), ignore_errors=True)


def recover(root: str) -> bool:
    """Finish a compact killed after its journal, or drop one killed before it; True if there was
    one. Call it holding the dataset's writer lock."""
    if os.path.exists(os.path.join(root, JOURNAL)):
        finish(root)
        return True
    if os.path.isdir(staging_folder(root)):
        abandon(root)
        return True
    return False


def finish(root: str) -> None:
    """Steps 3 and 4 from wherever a kill left them: each one is done at most once."""
    with open(os.path.join(root, JOURNAL)) as handle:
        journal = json.load(handle)
    for table in journal["tables"]:
        staged = staged_folder(journal["staging"], table)
        if os.path.exists(os.path.join(staged, MARK)):  # not swapped in yet
            _swap(staged, live_folder(root, table, journal["sweep"]))
    for table in journal["tables"]:
        mark = os.path.join(live_folder(root, table, journal["sweep"]), MARK)
        if os.path.exists(mark):
            os.remove(mark)
    shutil.rmtree(journal["staging"], ignore_errors=True)
    os.remove(os.path.join(root, JOURNAL))


def _swap(staged: str, live: str) -> None:
    """Put `staged` at `live`, and what was at `live` (if anything) at `staged`."""
    if not os.path.exists(live):  # the second rename of an interrupted fallback swap
        os.rename(staged, live)
    elif not _exchange(staged, live):
        old = staged + ".old"
        os.rename(live, old)
        os.rename(staged, live)
        os.rename(old, staged)


def _exchange(a: str, b: str) -> bool:
    """renameat2(RENAME_EXCHANGE): both names swapped in one step. False where the C library or
    the filesystem has no such call (glibc < 2.28, some network filesystems)."""
    function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), a)


def _write_journal(root: str, journal: dict) -> None:
    temp = os.path.join(root, JOURNAL + ".tmp")
    with open(temp, "w") as handle:
        json.dump(journal, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temp, os.path.join(root, JOURNAL))
