"""sysexec: UnixBench's `syscall exec` test (src/syscall.c, case 'e'; LKP runs it as "sysexec"):
fork; the child execl()s /bin/true; the parent waitpid()s. An iteration is one child.

The parent runs UnixBench's syscall binary (`parent_binary`), the child maps /bin/true, a file
other than the parent's: fork duplicates the parent's 15 file VMAs, the child's exec tears that
copy down (3 acquisitions from 6.11) and maps /bin/true, ld.so, the cache and libc (30), and
its exit tears that image down (3): 51 i_mmap write acquisitions from 6.11 (docs/model.md).
"""

from __future__ import annotations

from orchestrator.generators.immap import Copy, ImmapGenerator, Process
from orchestrator.spec.workload import MappedFile
from orchestrator.spec.workload import Sysexec as SysexecSpec


class Sysexec(ImmapGenerator):
    kind = "sysexec"
    summary = "UnixBench syscall exec: fork, the child execs /bin/true and exits, the parent waits"
    spec: SysexecSpec
    forks = True

    def image_files(self) -> list[MappedFile]:
        """The parent's image: its own binary, with the interpreter and libraries the child maps."""
        return [self.spec.parent_binary, *(f for f in self.spec.files[1:] if f.loader != "transient")]

    def iteration(self, copy: Copy, parent: Process, scale: float) -> tuple[list[tuple], Process]:
        spec = self.spec
        fork, child = self.fork_program(copy, parent, spec.fork_ns * scale)
        exec_, child = self.exec_program(copy, child, scale)
        return fork + exec_ + self.exit_program(copy, child, spec.exit_ns * scale), parent
