"""orch compact: rewrite a dataset into few large parts, every row kept as it was.

Per sweep, whole committed batches are merged into new batches of up to `rows` rows (over all
tables). A new batch is committed like any other (its runs part last) before the batches it
holds are removed, runs part first; a run is in two batches only in between, and reconcile
removes the old batch if compact is killed there (Dataset.reconcile). Run it when no sweep is
writing into the dataset.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.results.dataset import Dataset, batch_name
from orchestrator.results.schema import TABLES


def compact(uri: str, rows: int) -> tuple[int, int]:
    """Returns (parts before, parts after), over every table and sweep."""
    before = after = 0
    for sweep in Dataset(uri).sweeps():
        dataset = Dataset(uri, sweep)
        dataset.remove_temp_files()
        dataset.runs(["run_id"])  # an unreadable part is a one-line error here, before anything moves
        dataset.reconcile()
        groups = _groups(dataset, rows)
        before += len(TABLES) * sum(len(g) for g in groups)
        for group in groups:
            if len(group) > 1:
                _merge(dataset, group)
            after += len(TABLES)
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


def _merge(dataset: Dataset, group: list[str]) -> None:
    tables: dict[str, pa.Table] = {}
    meta: dict[str, str] = {}
    for table in TABLES:
        parts = []
        for name in group:
            with dataset.fs.open_input_file(f"{dataset.folder(table)}/{name}") as handle:
                parts.append(pq.read_table(handle))
        meta = meta or {k.decode(): v.decode() for k, v in (parts[0].schema.metadata or {}).items()}
        tables[table] = pa.concat_tables([p.replace_schema_metadata(None) for p in parts], promote_options="default")
    # the spec and provenance of the first batch: the files' metadata, not their rows, may differ
    name = f"part-{batch_name(tables['runs'].column('run_id').to_pylist())}.parquet"
    dataset.commit(name, tables, meta)
    for old in group:
        if old != name:
            dataset.remove_batch(old)
