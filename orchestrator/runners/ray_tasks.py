"""--layout task (default): one Ray task per run, a bounded number in flight."""

from __future__ import annotations

from typing import Iterator

from orchestrator.runners.work import run_one
from orchestrator.spec.run import RunSpec

RETRIES = 3  # Ray retries a task whose worker died (crash, OOM kill, lost node)


def run_tasks(specs: list[RunSpec], sweep_id: str, workers: int) -> Iterator[tuple]:
    import ray

    task = ray.remote(num_cpus=1, max_retries=RETRIES)(run_one)
    pending = list(reversed(specs))
    in_flight: list = []
    run_of: dict = {}
    # Tasks still in flight when this stops are not cancelled: ray.cancel races their completion
    # and can abort the driver (a Ray check failure); ray_session's shutdown ends our job instead,
    # and Ray kills a finished job's tasks.
    while pending or in_flight:
        while pending and len(in_flight) < 2 * workers:  # bounded: the driver's memory stays flat
            spec = pending.pop()
            ref = task.remote(spec.model_dump(mode="json"), sweep_id, True)
            run_of[ref] = spec.run_id()
            in_flight.append(ref)
        done, in_flight = ray.wait(in_flight, num_returns=1)
        try:
            yield ray.get(done[0])
        except ray.exceptions.RayError as exc:  # retries used up: the worker kept dying
            yield run_of[done[0]], None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        del run_of[done[0]]
