"""The unit of work, the same on every backend: a batch of runs in, their tables and
acknowledgements out. run_batch runs several in one task (or one call) and concatenates their
tables, or writes them into the dataset itself (writers near the workers). How one run is
computed is its `run` argument (simulate_run by default), so that a test can hand every
backend a run that fails or kills its worker, the same way the sweep hands them the real one."""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

from orchestrator.results.schema import TABLES
from orchestrator.results.tables import failed_rows, tables_of, to_rows
from orchestrator.runners import stopping
from orchestrator.simulate import RunResult, simulate
from orchestrator.spec.run import RunSpec

TARGET_S = 1.0  # how long a batch should last: a task's fixed costs stay small next to it


class Retry(RuntimeError):
    """Not the run's failure but its machinery's (a node actor lost): the run is run again, not
    recorded as failed."""


def simulate_run(spec: RunSpec, streams=None) -> RunResult:
    return simulate(spec, streams=streams)


def run_rows(spec_json: dict, sweep_id: str, run: Callable = simulate_run, streams=None
             ) -> tuple[str, dict[str, list[dict]] | None, str | None]:
    """(run id, rows, None) or (run id, None, one-line error). Never raises for a bad run."""
    spec = RunSpec.model_validate(spec_json)
    run_id = spec.run_id()
    try:
        return run_id, to_rows(run(spec, streams=streams), sweep_id), None
    except Retry:
        raise
    except Exception as exc:  # a failed run is data, not a crash of the sweep
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return run_id, None, f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})"


@dataclass
class Batch:
    """What a batch of runs sends back: (run id, error or None) per run, the seconds it took,
    and its tables, or None where the task wrote them into the dataset itself."""
    acks: list[tuple[str, str | None]]
    seconds: float
    tables: dict[str, pa.Table] | None = None
    interrupted: bool = False  # Ctrl-C came in the middle: these are the runs finished before it


@dataclass(frozen=True)
class Sink:
    """Where a task writes its batch itself: a dataset every worker reaches (an object store, a
    shared path), owned by the sweep process `writer` (see results/dataset.py)."""
    uri: str
    sweep: str
    spec: dict
    writer: str


def run_batch(spec_jsons: list[dict], sweep_id: str, sink: Sink | None = None, run: Callable = simulate_run,
              streams=None) -> Batch:
    """Run several runs in this (warm) process; a failed run is a row of runs with its error. A
    stop signal (in orch's own process: the in-process backend) ends the batch early with the runs
    finished so far."""
    began = time.perf_counter()
    acks: list[tuple[str, str | None]] = []
    rows: dict[str, list[dict]] = {name: [] for name in TABLES}
    interrupted = False
    try:
        for spec_json in spec_jsons:
            stopping.check()  # between runs: a no-op in a worker, which takes no stop signals
            run_id, found, error = run_rows(spec_json, sweep_id, run, streams)
            if error is not None:
                found = failed_rows(RunSpec.model_validate(spec_json), error, sweep_id)
            assert found is not None  # run_rows returns rows or an error
            acks.append((run_id, error))
            for name in TABLES:
                rows[name] += found[name]
    except KeyboardInterrupt:
        interrupted = True
    tables = tables_of(rows)  # once for the batch: Arrow's cost per table is paid once
    if sink is not None:
        from orchestrator.results.dataset import Dataset

        Dataset(sink.uri, sink.sweep).write_batch(tables, sink.spec, writer=sink.writer)
    return Batch(acks, time.perf_counter() - began, tables if sink is None else None, interrupted)


class Sizer:
    """How many runs the next batch gets: about target_s of work by the mean seconds per run of
    the batches so far (the first runs alone, to measure), at most a share of what is left so
    that the workers finish together, and at most twice the last size (the first runs of a
    worker include its warm-up)."""

    def __init__(self, target_s: float, workers: int):
        self.target_s, self.workers = target_s, workers
        self.per_run: float | None = None
        self.last = 1

    def record(self, batch: Batch) -> None:
        per_run = batch.seconds / max(1, len(batch.acks))
        self.per_run = per_run if self.per_run is None else (self.per_run + per_run) / 2

    def size(self, left: int) -> int:
        if self.per_run is None:
            return 1
        wanted = self.target_s / max(self.per_run, 1e-6)
        fair = math.ceil(left / (2 * self.workers))
        self.last = max(1, min(int(wanted), 2 * self.last, fair))
        return self.last
