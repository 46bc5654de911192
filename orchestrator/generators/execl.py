"""execl (UnixBench): each copy execs itself in a loop; an iteration is one exec.

Per exec: path walk of the binary (dentry lockref), deny_write_access; tear down
the old image (one batched unlink per file); map the binary and ld.so as the kernel's ELF
loader does and libc as ld.so does (MAP_FIXED splits and a RELRO mprotect per file); the rest
of exec is think time, split over the phases.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from orchestrator.generators.immap import (
    Ids,
    ImmapGenerator,
    map_image,
    teardown,
    think_scale,
)
from orchestrator.sim import ops
from orchestrator.spec.workload import Execl as ExeclSpec

# Shares of exec_ns: before the old image goes (syscall entry, path walk, bprm set-up), between
# teardown and mapping (ELF parsing, page tables), and after each file is mapped (ld.so and libc
# start-up, the program's own work up to the next execl).
BEFORE, AFTER_TEARDOWN, AFTER_FILES = 0.2, 0.3, 0.5
ITERATIONS_PER_BATCH = 4  # an exec is ~60 ops: generate only a little ahead of the engine


class Execl(ImmapGenerator):
    kind = "execl"
    summary = "UnixBench execl: exec in a loop; teardown, ELF and ld.so mapping of binary, ld.so, libc"
    spec: ExeclSpec

    def exec_ops(self, ids: Ids, image: dict[str, list], scale: float) -> list[tuple]:
        """One exec: tear down `image` (updated in place to the new one) and map the new image."""
        spec = self.spec
        binary = spec.files[0].name
        work = spec.exec_ns * scale
        out: list[tuple] = [(ops.DELAY, int(work * BEFORE)), *self.lockref(binary), *self.writecount_op(),
                            *self.mm_alloc_ops()]  # bprm_mm_init: the new mm
        if self.mm:
            out += self.mm.binfmt_ops()
        if image:
            for f in spec.files:
                out += teardown(self.files[f.name], image[f.name], spec.unlink_batch)
            out += self.writecount_op() + self.lockref(binary)  # the old image lets go of its binary
            out += self.mm_free_ops()  # exec_mmap's mmput of the old mm
        out.append((ops.DELAY, int(work * AFTER_TEARDOWN)))
        share = int(work * AFTER_FILES / len(spec.files))
        for f in spec.files:
            mapped, image[f.name] = map_image(f, self.files[f.name], ids)
            keep_open = f.name == binary  # the binary stays referenced by the new image
            out += self.lockref(f.name) + mapped + ([] if keep_open else self.lockref(f.name))
            out.append((ops.DELAY, share))
        return out + self.zone_ops()

    def copy_batches(self, slot: int, rng: np.random.Generator) -> Iterator[list[tuple]]:
        ids = Ids(slot)
        image: dict[str, list] = {}
        start, end = (ops.START,), (ops.END, 0)
        while True:
            batch: list[tuple] = []
            for scale in think_scale(rng, self.spec.think_cv, ITERATIONS_PER_BATCH):
                batch += [start, *self.exec_ops(ids, image, scale), end]
            yield batch
