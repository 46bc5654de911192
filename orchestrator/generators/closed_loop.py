"""closed-loop: think, then one access to a lock; repeat. The validation workload (tests/test_queueing.py).

An iteration is one lock access; its response time is wait + hold.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from orchestrator.generators.base import BATCH, Generator, World
from orchestrator.sim import ops
from orchestrator.sim.locks import RWSEM


class ClosedLoop(Generator):
    kind = "closed-loop"
    summary = "think Z, then hold one of K locks for S (read or write); validates the engine"

    def declare(self, world: World) -> None:
        spec = self.spec
        self.locks = [world.lock(f"closed-loop.lock{k}", "closed-loop", RWSEM, k % self.ctx.nodes)
                      for k in range(spec.locks)]

    def _times(self, rng: np.random.Generator, mean: int) -> np.ndarray:
        if self.spec.distribution == "fixed" or mean == 0:
            return np.full(BATCH, mean, dtype=np.int64)
        return np.rint(rng.exponential(mean, BATCH)).astype(np.int64)

    def batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        spec = self.spec
        locks = self.locks
        pinned = locks[slot % len(locks)]
        start = (ops.START,)
        # the lock ops of one (lock, mode) never change: build each tuple once
        acquire = {(lk, m): (ops.ACQUIRE, lk, m) for lk in locks for m in (ops.WRITE_MODE, ops.READ_MODE)}
        release = {(lk, m): (ops.RELEASE, lk, m) for lk in locks for m in (ops.WRITE_MODE, ops.READ_MODE)}
        end = {m: (ops.END, m) for m in (ops.WRITE_MODE, ops.READ_MODE)}
        while True:
            think = self._times(rng, spec.think_ns).tolist()
            hold = self._times(rng, spec.hold_ns).tolist()
            read_hold = self._times(rng, spec.read_hold_ns).tolist()
            reads = (rng.random(BATCH) < spec.read_fraction).tolist()
            if spec.lock_choice == "random":
                choice = [locks[i] for i in rng.integers(0, len(locks), BATCH).tolist()]
            else:
                choice = [pinned] * BATCH
            batch: list[tuple] = []
            for i in range(BATCH):
                lock = choice[i]
                mode = ops.READ_MODE if reads[i] else ops.WRITE_MODE
                batch += [(ops.DELAY, think[i]), start, acquire[lock, mode],
                          (ops.HOLD, read_hold[i] if reads[i] else hold[i]), release[lock, mode], end[mode]]
            yield batch
