"""One run as a unit of work, the same on every backend: spec in, tables (or an error) out."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

import pyarrow as pa

from orchestrator.results.tables import to_tables
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
