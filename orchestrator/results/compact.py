"""orch compact: rewrite a dataset into few large parts, every row kept as it was.

Per sweep, whole committed batches are merged into new batches of up to `rows` rows (over all
tables). On a local filesystem each table's sweep folder is rebuilt beside the dataset and
swapped in whole (results/swap.py), so a reader globbing the files sees the old parts or the
new ones, never both, whenever compact is killed or the disk fills. On an object store, where
no folder can be swapped, a merged batch is committed like any other (its runs part last) and
then the batches it holds are removed, runs part first: a glob reader may count those rows
twice until compact finishes, and reconcile removes the old batches if it is killed between.
Compact holds the dataset's writer lock: no sweep writes while it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.errors import UserError
from orchestrator.results import swap
from orchestrator.results.dataset import Dataset, batch_name, write_parquet
from orchestrator.results.schema import TABLES
from orchestrator.runners import stopping


@dataclass
class Progress:
    """What compact has done so far, for the line an interrupted compact prints."""
    compacted: list[str] = field(default_factory=list)  # sweeps whose merged parts are in place
    sweeps: int = 0

    def said(self) -> str:
        if not self.compacted:
            return "nothing compacted, the dataset is as it was"
        return (f"sweep(s) {', '.join(self.compacted)} compacted, {self.sweeps - len(self.compacted)} other(s) "
                "left as they were; every row kept")


def compact(uri: str, rows: int, progress: Progress | None = None) -> tuple[int, int]:
    """Returns (parts before, parts after), over every table and sweep. A stop signal (see
    runners/stopping.py) is taken between sweeps and between merged groups: the sweep in hand is
    left as it was."""
    progress = progress or Progress()
    whole = Dataset(uri)
    sweeps = whole.sweeps()  # not a dataset: one line, before the lock file is made
    progress.sweeps = len(sweeps)
    before = after = 0
    with whole.writing():
        for sweep in sweeps:
            stopping.check()
            dataset = Dataset(uri, sweep)
            dataset.remove_temp_files()
            dataset.runs(["run_id"])  # an unreadable part is a one-line error here, before anything moves
            dataset.reconcile()
            groups = _groups(dataset, rows)
            before += len(TABLES) * sum(len(g) for g in groups)
            after += len(TABLES) * len(groups)
            if all(len(group) == 1 for group in groups):
                progress.sweeps -= 1  # nothing to merge: neither compacted nor left
                continue
            if not dataset.local:  # an object store: no folder to swap
                for group in groups:
                    if len(group) > 1:
                        _commit_merged(dataset, group)
            else:
                _rebuild(dataset, groups)
            progress.compacted.append(sweep)
    return before, after


def _rows(dataset: Dataset, name: str) -> int:
    total = 0
    for table in TABLES:
        with dataset.fs.open_input_file(f"{dataset.folder(table)}/{name}") as handle:
            total += pq.read_metadata(handle).num_rows
    return total


def _groups(dataset: Dataset, rows: int) -> list[list[str]]:
    """Committed batches, in name order, packed into groups of up to `rows` rows."""
    groups: list[list[str]] = []
    size = rows  # the first batch starts a group
    for name in sorted(dataset.run_ids()):
        count = _rows(dataset, name)
        if size + count > rows:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += count
    return groups


def _merged(dataset: Dataset, group: list[str]) -> tuple[str, dict[str, pa.Table], dict[str, str]]:
    """A group of batches as one: its part name, its tables and the first batch's file metadata
    (the spec and provenance: the files' metadata, not their rows, may differ)."""
    tables: dict[str, pa.Table] = {}
    meta: dict[str, str] = {}
    for table in TABLES:
        parts = []
        for name in group:
            with dataset.fs.open_input_file(f"{dataset.folder(table)}/{name}") as handle:
                parts.append(pq.read_table(handle))
        meta = meta or {k.decode(): v.decode() for k, v in (parts[0].schema.metadata or {}).items()}
        tables[table] = pa.concat_tables([p.replace_schema_metadata(None) for p in parts], promote_options="default")
    return f"part-{batch_name(tables['runs'].column('run_id').to_pylist())}.parquet", tables, meta


def _commit_merged(dataset: Dataset, group: list[str]) -> None:
    name, tables, meta = _merged(dataset, group)
    dataset.commit(name, tables, meta)
    for old in group:
        if old != name:
            dataset.remove_batch(old)


def _rebuild(dataset: Dataset, groups: list[list[str]]) -> None:
    """Every table's folder of this sweep written anew beside the dataset, then swapped in."""
    root = dataset.root
    problem = swap.can_stage(root)
    if problem:
        raise UserError(dataset.uri, None, problem)
    try:
        staging = swap.begin(root, TABLES)
        kept = {name for group in groups for name in group}
        for table in TABLES:  # what is not a batch (a user's own file) moves with the folder
            for entry in os.scandir(dataset.folder(table)):
                if entry.name not in kept:
                    _link(entry.path, os.path.join(swap.staged_folder(staging, table), entry.name))
        for group in groups:
            stopping.check()
            if len(group) == 1:
                for table in TABLES:
                    _link(f"{dataset.folder(table)}/{group[0]}",
                          f"{swap.staged_folder(staging, table)}/{group[0]}")
                continue
            name, tables, meta = _merged(dataset, group)
            for table in TABLES:
                write_parquet(dataset.fs, swap.staged_folder(staging, table), name, tables[table], meta)
        stopping.check()  # the last point where a stop changes nothing live
    except (OSError, UserError, KeyboardInterrupt) as exc:
        swap.abandon(root)  # nothing live has changed yet
        if not isinstance(exc, OSError):
            raise
        raise UserError(dataset.uri, None, f"cannot stage the compacted parts: {exc}") from None
    assert dataset.sweep is not None  # compact rebuilds one sweep at a time
    try:
        swap.commit(root, dataset.sweep, TABLES)
    except OSError as exc:  # before the journal: nothing changed; after it: the next command finishes it
        raise UserError(dataset.uri, None, f"cannot swap the compacted parts in: {exc}; no row is lost (the "
                                           "next orch command on this dataset finishes or undoes the swap)") from None


def _link(source: str, target: str) -> None:
    """The same file under a second name: no copy, and the live one stays as it is."""
    try:
        os.link(source, target)
    except OSError:  # a filesystem without hard links
        import shutil

        shutil.copy2(source, target)
