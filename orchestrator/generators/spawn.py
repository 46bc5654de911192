"""spawn (UnixBench src/spawn.c): fork; the child exit()s at once; the parent wait()s. No exec.

An iteration is one child: dup_mmap takes the i_mmap lock once per file VMA of the parent
(binary, ld.so and libc, 5 each: the cache is not mapped any more), the child's exit tears its
copy down (3 acquisitions from 6.11, 15 before), and fork, exit and wait take tasklist_lock and
pidmap_lock (generators/tasks.py).
"""

from __future__ import annotations

from orchestrator.generators.immap import Copy, ImmapGenerator, Process
from orchestrator.spec.workload import Spawn as SpawnSpec


class Spawn(ImmapGenerator):
    kind = "spawn"
    summary = "UnixBench spawn: fork, the child exits at once, the parent waits (dup_mmap of every file VMA)"
    spec: SpawnSpec
    forks = True

    def iteration(self, copy: Copy, parent: Process, scale: float) -> tuple[list[tuple], Process]:
        fork, child = self.fork_program(copy, parent, self.spec.fork_ns * scale)
        return fork + self.exit_program(copy, child, self.spec.exit_ns * scale), parent
