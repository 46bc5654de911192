"""The one execution seam: every command that runs work in parallel hands it to an Executor.

An executor runs a function over work items and streams what finished: `stream(fn, items)`
draws items lazily (at most `in_flight` at once, so a sweep of 100,000 runs never holds them),
and yields a Done per item, in the order they finish. `map(fn, items)` is the ordered, all-or-
error form. Each executor owns what differs by backend:

- retries: a worker that dies (killed, out of memory, a fault in compiled code) is retried; an
  item whose worker keeps dying comes back as Done.crash, and the caller decides (a sweep runs
  a batch's runs alone to find the culprit; calibrate names it);
- cancellation at safe points: the wait for results looks at the stop flag (stopping.check)
  every POLL_S, so a stop signal ends the stream in orch's own code, never inside a library;
- placement: an item may ask for a machine and its CPUs (Placement; Ray only);
- the Ray session: a Ray executor starts a local Ray or joins a cluster, and leaves it on close.

Implementations: InProcess (one worker: this process), ProcessPool (local worker processes),
and, in their own modules, RayTasks (one task per item) and RayActors (a run as Ray actors). A
new backend is one more subclass and one more case in runners/backends.py's open_executor().
"""

from __future__ import annotations

import collections
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Self

from orchestrator.runners import stopping


@dataclass(frozen=True)
class Placement:
    """Run an item on this machine (a Ray node id), reserving this many of its CPUs."""
    node: str
    cpus: float


@dataclass
class Done:
    index: int                    # the item's place in the order items were drawn (again(): a new one)
    item: Any
    value: Any = None
    error: BaseException | None = None   # the item's own exception, as it was raised
    crash: str | None = None             # its worker died, retries included: why

    @property
    def ok(self) -> bool:
        return self.error is None and self.crash is None


class ItemCrashed(RuntimeError):
    def __init__(self, index: int, reason: str):
        super().__init__(f"item {index}: {reason}")
        self.index = index
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.index, self.reason)


class Stream:
    """What an executor works through: items drawn from a source, after any given back with again()."""

    def __init__(self, items: Iterable[Any]):
        self.source = iter(items)
        self.retry: collections.deque[tuple[int, Any]] = collections.deque()
        self.drawn = 0
        self.exhausted = False

    def again(self, item: Any) -> None:
        """Run `item` once more (as a new index), before the rest of the source."""
        self.retry.append((self.drawn, item))
        self.drawn += 1

    def take(self) -> tuple[int, Any] | None:
        if self.retry:
            return self.retry.popleft()
        if self.exhausted:
            return None
        try:
            item = next(self.source)
        except StopIteration:
            self.exhausted = True
            return None
        self.drawn += 1
        return self.drawn - 1, item

    @property
    def empty(self) -> bool:
        return not self.retry and self.exhausted


class Executor:
    workers = 1

    def stream(self, fn: Callable[[Any], Any], items: Stream | Iterable[Any],
               placement: Callable[[Any], Placement | None] | None = None,
               in_flight: int | None = None) -> Iterator[Done]:
        """fn over items as they finish; at most in_flight at once (default twice the workers)."""
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """fn over items, results in item order; an item's exception is raised as it was, a crash
        as ItemCrashed naming the item's index."""
        results: dict[int, Any] = {}
        for done in self.stream(fn, list(items)):
            if done.error is not None:
                raise done.error
            if done.crash is not None:
                raise ItemCrashed(done.index, done.crash)
            results[done.index] = done.value
        return [results[i] for i in range(len(results))]

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def as_stream(items: Stream | Iterable[Any]) -> Stream:
    return items if isinstance(items, Stream) else Stream(items)


class InProcess(Executor):
    """One worker: this process, item after item (a stop is seen between items)."""

    def stream(self, fn, items, placement=None, in_flight=None) -> Iterator[Done]:
        work = as_stream(items)
        while (taken := work.take()) is not None:
            stopping.check()
            index, item = taken
            try:
                yield Done(index, item, value=fn(item))
            except Exception as exc:  # noqa: BLE001 - the item's error is the caller's to judge
                yield Done(index, item, error=exc)


class ProcessPool(Executor):
    """Local worker processes, spawned (no lock or thread state of this process is inherited).
    When a worker dies, the items then in flight are run again one at a time, so that one that
    kills its worker again is known: it comes back as a crash."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = self._start()

    def _start(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_start, initargs=(os.getpid(),))

    def _restart(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = self._start()

    def stream(self, fn, items, placement=None, in_flight=None) -> Iterator[Done]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        work = as_stream(items)
        running: dict = {}  # future -> (index, item, alone)
        suspects: collections.deque[tuple[int, Any]] = collections.deque()  # in flight when a worker died
        while True:
            alone = bool(suspects) or any(a for _, _, a in running.values())  # finding a culprit: one at a time
            while len(running) < (1 if alone else in_flight or 2 * self.workers):
                taken = (suspects.popleft() if suspects else None) if alone else work.take()
                if taken is None:
                    break
                running[self.pool.submit(fn, taken[1])] = (*taken, alone)
            if not running:
                return
            finished, _ = wait(list(running), timeout=stopping.POLL_S, return_when=FIRST_COMPLETED)
            stopping.check()
            broken = False
            for future in finished:
                index, item, was_alone = running.pop(future)
                try:
                    value = future.result()
                except BrokenProcessPool:
                    broken = True
                    if was_alone:
                        yield Done(index, item, crash="its worker process died, twice")
                    else:
                        suspects.append((index, item))
                    continue
                except Exception as exc:  # noqa: BLE001 - the item's error is the caller's to judge
                    yield Done(index, item, error=exc)
                    continue
                yield Done(index, item, value=value)
            if broken:  # every other item in flight died with the pool: each runs again, alone
                suspects.extend((index, item) for index, item, _ in running.values())
                running.clear()
                self._restart()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _worker_start(parent: int) -> None:
    """A pool worker leaves stopping to its parent (a Ctrl-C reaches the whole process group) and
    dies with it: killed, the parent cannot shut the pool down, and a worker left behind would
    hold its output open."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_follow, args=(parent,), daemon=True).start()


def _follow(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGKILL)
