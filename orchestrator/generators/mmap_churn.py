"""mmap-churn (will-it-scale style): mmap one shared file, munmap it, repeat; an iteration is one pair."""

from __future__ import annotations

from itertools import islice
from typing import Iterator

import numpy as np

from orchestrator.generators.immap import ImmapGenerator
from orchestrator.generators.vmas import Ids
from orchestrator.sim import ops
from orchestrator.sim.programs import ThinkScales
from orchestrator.spec.workload import MappedFile
from orchestrator.spec.workload import MmapChurn as MmapChurnSpec


class MmapChurn(ImmapGenerator):
    kind = "mmap-churn"
    summary = "will-it-scale style mmap + munmap of one shared file in a loop"
    spec: MmapChurnSpec

    def image_files(self) -> list[MappedFile]:
        return []  # the loop maps nothing else of its files

    def copy_batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        spec = self.spec
        ids = Ids(slot)
        file = self.files[spec.files[0].name]
        start, end = (ops.START,), (ops.END, 0)
        scales = ThinkScales(rng, spec.think_cv)
        while True:
            batch: list[tuple] = []
            for scale in islice(scales, 256):
                vma = (ids(), 0, spec.map_pages - 1)
                work = int(spec.syscall_ns * scale)
                batch += [start, (ops.DELAY, work), (ops.IMMAP, ops.LINK, file, vma), (ops.DELAY, work),
                          (ops.IMMAP, ops.UNLINK_BATCH, file, (vma,)), end]
            yield batch
