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
    try:
        while pending or in_flight:
            while pending and len(in_flight) < 2 * workers:  # bounded: the driver's memory stays flat
                in_flight.append(task.remote(pending.pop().model_dump(mode="json"), sweep_id, True))
            done, in_flight = ray.wait(in_flight, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
