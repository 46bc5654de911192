"""Finished runs gathered into a few large parts: a sweep of 100,000 short runs leaves a few
files per table, not one per run.

The buffer is written as one batch (Dataset.write_batch) once it holds `rows` rows over all
tables, or `mib` MiB of Arrow data, or its oldest run has waited `seconds`; and at the end of the
sweep, on an interrupt too. A kill -9 loses at most the buffer: those runs are not in `runs`, so
a rerun computes them again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa

from orchestrator.results.dataset import Dataset
from orchestrator.results.schema import TABLES


@dataclass(frozen=True)
class Bounds:
    rows: int = 250_000     # about 1,700 short runs (runs, locks, ~100 time windows, ~50 histogram bins)
    mib: float = 64.0       # the driver's memory: the buffer is most of it
    seconds: float = 60.0   # what a kill -9 may cost to compute again


class PartBuffer:
    def __init__(self, dataset: Dataset, spec: dict, bounds: Bounds = Bounds()):
        self.dataset, self.spec, self.bounds = dataset, spec, bounds
        self.parts: list[dict[str, pa.Table]] = []
        self.rows = self.bytes = 0
        self.since = 0.0
        self.written = 0  # runs in the dataset, by us or by the tasks that wrote their own parts

    def add(self, runs: int, tables: dict[str, pa.Table] | None) -> None:
        """A batch of finished runs: its tables, or None if its task wrote them itself."""
        if tables is None:
            self.written += runs
            return
        if not self.parts:
            self.since = time.monotonic()
        self.parts.append(tables)
        self.rows += sum(t.num_rows for t in tables.values())
        self.bytes += sum(t.nbytes for t in tables.values())
        if (self.rows >= self.bounds.rows or self.bytes >= self.bounds.mib * 2**20
                or time.monotonic() - self.since >= self.bounds.seconds):
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        tables = {name: pa.concat_tables([p[name] for p in self.parts]) for name in TABLES}
        self.dataset.write_batch(tables, self.spec)
        self.written += tables["runs"].num_rows
        self.parts, self.rows, self.bytes = [], 0, 0
