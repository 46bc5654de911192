"""--layout task (default): batches of runs as Ray tasks, a bounded number in flight.

A batch is sized from the run times measured so far so that its task lasts about TARGET_S:
Ray's cost per task (about a millisecond, more with the arguments and results it moves) is then
small next to it, and a worker process, warm with imports and compiled code, runs many runs.
"""

from __future__ import annotations

import itertools
from typing import Iterator

from orchestrator.results.tables import failed_tables
from orchestrator.runners import stopping
from orchestrator.runners.work import TARGET_S, Batch, Sink, Sizer, run_batch
from orchestrator.spec.run import RunSpec

RETRIES = 3     # Ray retries a task whose worker died (crash, OOM kill, lost node)


def run_tasks(specs: Iterator[RunSpec], count: int, sweep_id: str, workers: int, sink: Sink | None = None,
              target_s: float = TARGET_S) -> Iterator[Batch]:
    """The batches of the `count` runs of specs, taken from it as tasks are sent."""
    import ray

    task = ray.remote(num_cpus=1, max_retries=RETRIES)(run_batch)
    alone: list[RunSpec] = []  # runs of a batch whose retries ran out: each alone, to find the culprit
    sizer = Sizer(target_s, workers)
    in_flight: dict = {}       # task -> its runs; bounded, so the driver's memory stays flat
    # Tasks still in flight when this stops are not cancelled: ray.cancel races their completion
    # and can abort the driver (a Ray check failure); ray_session's shutdown ends our job instead,
    # and Ray kills a finished job's tasks.
    while count or alone or in_flight:
        while (count or alone) and len(in_flight) < 2 * workers:
            if alone:
                batch = [alone.pop()]
            else:
                batch = list(itertools.islice(specs, sizer.size(count)))
                count -= len(batch)
            ref = task.remote([spec.model_dump(mode="json") for spec in batch], sweep_id, True, sink)
            in_flight[ref] = batch
        done, _ = ray.wait(list(in_flight), num_returns=1, timeout=stopping.POLL_S)
        stopping.check()
        if not done:
            continue
        batch = in_flight.pop(done[0])
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayError as exc:  # retries used up: the worker kept dying
            if len(batch) > 1:
                alone.extend(batch)
                continue
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            result = Batch([(batch[0].run_id(), error)], 0.0, failed_tables(batch[0], error, sweep_id))
        sizer.record(result)
        yield result
