"""Faults for tests, handed to the executors as the function that computes a run (never through
the environment or production code): a run that fails, and one that kills its worker once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestrator.runners.work import simulate_run


class Faults:
    """Computes runs as the sweep does, except: a run in `fail` raises; a run in `crash_once` kills
    its worker process the first time (a marker file in `folder` remembers it)."""

    def __init__(self, fail=(), crash_once=(), folder: Path | None = None):
        self.fail, self.crash_once, self.folder = set(fail), set(crash_once), folder

    def __call__(self, spec, streams=None):
        run_id = spec.run_id()
        if run_id in self.fail:
            raise RuntimeError(f"injected failure of run {run_id}")
        if run_id in self.crash_once:
            marker = self.folder / f"crashed-{run_id}"
            if not marker.exists():
                marker.touch()
                os._exit(1)  # the worker dies: the executor must retry
        return simulate_run(spec, streams=streams)


def refusing_point(task):
    """A calibration point a worker finds impossible, as a run a topology cannot satisfy is."""
    from orchestrator import calibrate
    from orchestrator.errors import UserError

    if task[2] == 2:  # copies
        raise UserError("workload.yaml", "walkers.reclaim_file", "no such file on this machine")
    return calibrate.simulate_point(task)


def crashing_point(task):
    """A calibration point that kills its worker, every time."""
    from orchestrator import calibrate

    if task[2] == 2:
        os._exit(1)
    return calibrate.simulate_point(task)


def hand_to_workers(monkeypatch, module, name: str, function) -> None:
    """Make `module.name` the function workers run; Ray takes this module by value (its workers
    cannot import tests/)."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(module, name, function)
