"""spawn: fork, exec and exit in a loop (UnixBench spawn plus an exec); an iteration is one child.

fork's dup_mmap inserts a child VMA next to each file VMA of the parent, one lock acquisition
each; the child then execs (tearing down the inherited VMAs) and exits (tearing down its
new image). The parent, the copy itself, keeps its image mapped from before the run.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from orchestrator.generators.execl import ITERATIONS_PER_BATCH, Execl
from orchestrator.generators.immap import (
    IMAGE_IDS,
    Ids,
    final_image,
    teardown,
    think_scale,
)
from orchestrator.sim import ops
from orchestrator.spec.workload import Spawn as SpawnSpec


class Spawn(Execl):
    kind = "spawn"
    summary = "fork + exec + exit: dup_mmap of every file VMA, then the execl path, then teardown"
    spec: SpawnSpec

    def parent_image(self, slot: int) -> dict[str, list]:
        return {f.name: [(IMAGE_IDS + (slot << 20) + (index << 8) + k, first, last)
                         for k, (first, last) in enumerate(final_image(f))]
                for index, f in enumerate(self.spec.files)}

    def own_images(self, f, index: int) -> list[tuple[int, int, int, int, int]]:
        return [(vma, first, last, self.ctx.slot_node[slot], self.ctx.slot_cpu[slot])
                for slot in range(self.ctx.copies)
                for vma, first, last in self.parent_image(slot)[f.name]]

    def copy_batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        spec = self.spec
        ids = Ids(slot)
        parent = self.parent_image(slot)
        start, end = (ops.START,), (ops.END, 0)
        while True:
            batch: list[tuple] = []
            for scale in think_scale(rng, spec.think_cv, ITERATIONS_PER_BATCH):
                child: dict[str, list] = {}
                batch += [start, (ops.DELAY, int(spec.fork_ns * scale)), *self.mm_alloc_ops()]  # dup_mm
                for f in spec.files:
                    child[f.name] = []
                    for vma in parent[f.name]:
                        copy = (ids(), vma[1], vma[2])
                        batch.append((ops.IMMAP, ops.DUP, self.files[f.name], vma, copy))
                        child[f.name].append(copy)
                batch += self.exec_ops(ids, child, scale)
                for f in spec.files:
                    batch += teardown(self.files[f.name], child[f.name], spec.unlink_batch)
                batch += [*self.writecount_op(), *self.lockref(spec.files[0].name), *self.mm_free_ops(),
                          (ops.DELAY, int(spec.exit_ns * scale)), end]
            yield batch
