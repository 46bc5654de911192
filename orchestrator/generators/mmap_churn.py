"""mmap-churn (will-it-scale style): mmap one shared file, munmap it, repeat; an iteration is one pair."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from orchestrator.generators.immap import ImmapGenerator
from orchestrator.generators.vmas import Ids
from orchestrator.sim import ops
from orchestrator.spec.workload import MappedFile
from orchestrator.spec.workload import MmapChurn as MmapChurnSpec


class MmapChurn(ImmapGenerator):
    kind = "mmap-churn"
    summary = "will-it-scale style mmap + munmap of one shared file in a loop"
    spec: MmapChurnSpec

    def image_files(self) -> list[MappedFile]:
        return []  # the loop maps nothing else of its files

    def copy_batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        from orchestrator.sim.rng import think_scales  # numba loads when a run needs it, not for orch --help

        spec = self.spec
        ids = Ids(slot)
        file = self.files[spec.files[0].name]
        start, end = (ops.START,), (ops.END, 0)
        think = np.array([rng.bit_generator.random_raw()], dtype=np.uint64)  # as a program's copy draws (sim/rng.py)
        while True:
            batch: list[tuple] = []
            with np.errstate(over="ignore"):  # uint64 arithmetic wraps (numpy warns of it with the JIT off)
                scales = think_scales(think, 0, spec.think_cv, 256).tolist()
            for scale in scales:
                vma = (ids(), 0, spec.map_pages - 1)
                work = int(spec.syscall_ns * scale)
                batch += [start, (ops.DELAY, work), (ops.IMMAP, ops.LINK, file, vma), (ops.DELAY, work),
                          (ops.IMMAP, ops.UNLINK_BATCH, file, (vma,)), end]
            yield batch
