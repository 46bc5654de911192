"""execl (UnixBench src/execl.c): each copy execl()s itself in a loop; an iteration is one exec.

The benchmark is linked dynamically (its Makefile has no -static), so every exec tears down the
old image (binary, ld.so, libc), has the kernel map the binary and ld.so, and ld.so map
/etc/ld.so.cache and libc: 33 i_mmap write acquisitions per exec from 6.11, 45 before, whose
teardown unlinks one VMA per acquisition (docs/model.md, Workloads). UnixBench does not pin its
copies; the run's placement (migrate by default) stands for the scheduler.
"""

from __future__ import annotations

from orchestrator.generators.immap import Copy, ImmapGenerator, Process
from orchestrator.spec.workload import Execl as ExeclSpec


class Execl(ImmapGenerator):
    kind = "execl"
    summary = "UnixBench execl: a dynamic binary execs itself in a loop (binary, ld.so, ld.so.cache, libc)"
    spec: ExeclSpec

    def iteration(self, copy: Copy, process: Process, scale: float) -> tuple[list[tuple], Process]:
        return self.exec_program(copy, process, scale)
