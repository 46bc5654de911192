"""stress-ng-spawn: stress-ng's spawn stressor (stress-spawn.c): every bogo op posix_spawn()s
stress-ng itself with --exec-exit, so the child exits as soon as it has started; the parent waits.

glibc's posix_spawn clones with CLONE_VM | CLONE_VFORK: no dup_mmap, and the child's exec lets go
of the parent's mm without tearing it down. The child maps stress-ng, ld.so, the cache, libm and
libc (stress-ng links more libraries; libm stands for them, an assumption) and its exit tears
them down.
"""

from __future__ import annotations

from orchestrator.generators.immap import Copy, ImmapGenerator, Process
from orchestrator.spec.workload import StressNgSpawn as StressNgSpawnSpec


class StressNgSpawn(ImmapGenerator):
    kind = "stress-ng-spawn"
    summary = "stress-ng --spawn --exec-exit: posix_spawn (vfork) of itself, which exits at once"
    spec: StressNgSpawnSpec
    forks = True

    def iteration(self, copy: Copy, parent: Process, scale: float) -> tuple[list[tuple], Process]:
        spec = self.spec
        spawn = self.vfork_program(spec.spawn_ns * scale)
        exec_, child = self.exec_program(copy, None, scale)
        return spawn + exec_ + self.exit_program(copy, child, spec.exit_ns * scale), parent
