"""The unit of work, the same on every backend: a batch of runs in, their tables and
acknowledgements out. One run is run_one; run_batch runs several in one task (or one call) and
concatenates their tables, or writes them into the dataset itself (writers near the workers)."""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from orchestrator.results.schema import TABLES
from orchestrator.results.tables import failed_tables, to_tables
from orchestrator.simulate import simulate
from orchestrator.spec.run import RunSpec

FAULTS_ENV = "ORCH_INJECT_FAULTS"  # testing aid: JSON {"crash_once": [run ids], "fail": [...], "dir": path}


class InjectedFailure(RuntimeError):
    pass


def _inject_faults(run_id: str, may_crash: bool) -> None:
    faults = json.loads(os.environ.get(FAULTS_ENV) or "{}")
    if run_id in faults.get("fail", []):
        raise InjectedFailure(f"injected failure of run {run_id}")
    if may_crash and run_id in faults.get("crash_once", []):
        marker = Path(faults["dir"]) / f"crashed-{run_id}"
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies: Ray must retry the task


def run_one(spec_json: dict, sweep_id: str, may_crash: bool = False, streams=None
            ) -> tuple[str, dict[str, pa.Table] | None, str | None]:
    """(run id, tables, None) or (run id, None, one-line error). Never raises for a bad run."""
    spec = RunSpec.model_validate(spec_json)
    run_id = spec.run_id()
    try:
        _inject_faults(run_id, may_crash)
        return run_id, to_tables(simulate(spec, streams=streams), sweep_id), None
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


@dataclass(frozen=True)
class Sink:
    """Where a task writes its batch itself: a dataset every worker reaches (an object store, a
    shared path), owned by the sweep process `writer` (see results/dataset.py)."""
    uri: str
    sweep: str
    spec: dict
    writer: str


def run_batch(spec_jsons: list[dict], sweep_id: str, may_crash: bool = False, sink: Sink | None = None) -> Batch:
    """Run several runs in this (warm) process; a failed run is a row of runs with its error."""
    began = time.perf_counter()
    acks, parts = [], []
    for spec_json in spec_jsons:
        run_id, tables, error = run_one(spec_json, sweep_id, may_crash)
        if error is not None:
            tables = failed_tables(RunSpec.model_validate(spec_json), error, sweep_id)
        acks.append((run_id, error))
        parts.append(tables)
    tables = {name: pa.concat_tables([p[name] for p in parts]) for name in TABLES}
    if sink is not None:
        from orchestrator.results.dataset import Dataset

        Dataset(sink.uri, sink.sweep).write_batch(tables, sink.spec, writer=sink.writer)
        tables = None
    return Batch(acks, time.perf_counter() - began, tables)
