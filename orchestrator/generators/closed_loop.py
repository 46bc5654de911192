"""closed-loop: think, then one access to a lock; repeat. The validation workload (tests/test_queueing.py).

An iteration is one lock access; its response time is wait + hold.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from orchestrator.generators.base import BATCH, Generator, World
from orchestrator.sim import ops
from orchestrator.sim.ops import RWSEM

CALLER = ops.CALLER_CODE["closed_loop"]  # an encoded ACQUIRE row names its caller in column 4


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

    def batches(self, slot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """Batches of BATCH iterations, already encoded (ops.ROW): six rows each, built by numpy."""
        spec = self.spec
        locks = np.array(self.locks, dtype=np.int64)
        pinned = locks[slot % len(locks)]
        while True:
            think = self._times(rng, spec.think_ns)
            hold = self._times(rng, spec.hold_ns)
            read_hold = self._times(rng, spec.read_hold_ns)
            reads = rng.random(BATCH) < spec.read_fraction
            if spec.lock_choice == "random":
                lock = locks[rng.integers(0, len(locks), BATCH)]
            else:
                lock = np.full(BATCH, pinned, dtype=np.int64)
            mode = np.where(reads, ops.READ_MODE, ops.WRITE_MODE)
            rows = np.zeros((BATCH, 6, ops.ROW), dtype=np.int64)
            rows[:, 0, :2] = np.column_stack([np.full(BATCH, ops.DELAY), think])
            rows[:, 1, 0] = ops.START
            rows[:, 2, :5] = np.column_stack([np.full(BATCH, ops.ACQUIRE), lock, mode, np.ones(BATCH),  # HOLD next
                                              np.full(BATCH, CALLER)])
            rows[:, 3, :2] = np.column_stack([np.full(BATCH, ops.HOLD), np.where(reads, read_hold, hold)])
            rows[:, 4, :3] = np.column_stack([np.full(BATCH, ops.RELEASE), lock, mode])
            rows[:, 5, :2] = np.column_stack([np.full(BATCH, ops.END), mode])
            yield rows.reshape(BATCH * 6, ops.ROW)
