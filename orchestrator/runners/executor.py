"""Executors: run a function over a list of work items in parallel, results in item order.

`local` runs in this process (one worker) or a pool of worker processes; `ray` runs Ray tasks on a
local instance started for the purpose or on the cluster at an address. An item's own exception
(a UserError: orch's exceptions survive pickling) reaches the caller as it was raised. A worker
that dies (killed, out of memory, a fault in compiled code) is retried; one that dies again
running an item alone raises ItemCrashed naming that item.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Callable, Sequence


class ItemCrashed(RuntimeError):
    def __init__(self, index: int, reason: str):
        super().__init__(f"item {index}: {reason}")
        self.index = index
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.index, self.reason)


class InProcess:
    """One worker: this process."""

    Crash = ItemCrashed

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return [fn(item) for item in items]

    def close(self) -> None:
        pass


class ProcessPool:
    """A pool of worker processes (spawned, so no lock or thread state is inherited)."""

    Crash = ItemCrashed

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = self._start(workers)

    @staticmethod
    def _start(workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        from concurrent.futures.process import BrokenProcessPool

        futures = [self.pool.submit(fn, item) for item in items]
        results: list[Any] = [None] * len(items)
        broken = []
        for i, future in enumerate(futures):
            try:
                results[i] = future.result()
            except BrokenProcessPool:
                broken.append(i)
        if broken:  # some item killed its worker: retry the unfinished ones, one at a time, to name it
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = self._start(self.workers)
            for i in broken:
                try:
                    results[i] = self.pool.submit(fn, items[i]).result()
                except BrokenProcessPool:
                    self.pool.shutdown(wait=True, cancel_futures=True)
                    self.pool = self._start(self.workers)
                    raise ItemCrashed(i, "its worker process died, twice") from None
        return results

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayTasks:
    """One Ray task per item, on a Ray instance started for it or the cluster at `address`."""

    Crash = ItemCrashed
    RETRIES = 2

    def __init__(self, workers: int, address: str | None):
        from orchestrator.runners.ray_cluster import ray_session

        self.resources = ExitStack()
        self.resources.enter_context(ray_session(address, workers, 1))

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        import ray

        task = ray.remote(num_cpus=1, max_retries=self.RETRIES)(fn)
        refs = [task.remote(item) for item in items]
        results = []
        for i, ref in enumerate(refs):
            try:
                results.append(ray.get(ref))
            except ray.exceptions.RayTaskError as exc:  # the item's own exception, as raised
                raise exc.cause from None
            except ray.exceptions.RayError as exc:      # its worker died, retries included
                raise ItemCrashed(i, f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        return results

    def close(self) -> None:
        self.resources.close()


def work_pool(backend: str, workers: int, address: str | None = None):
    if backend == "ray":
        return RayTasks(workers, address)
    return InProcess() if workers == 1 else ProcessPool(workers)
