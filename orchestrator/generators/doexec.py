"""doexec: the static-exec loop of 14ef95be6f55 ("kernel/fork: group allocation/free of per-cpu
counters for mm struct", 6.6), built with `cc -static -O2 -o static-doexec doexec.c` and run as
`./static-doexec $(nproc)`: "statically linked binaries, all separate"; at 26 cores the commit
took it from 133,543.63 to 186,061.81 execs/s, after which "the primary bottleneck shifts to page
release handling". doexec.c itself could not be retrieved: the model takes each copy to exec a
statically linked binary of its own in a loop (a file per copy, MappedFile.per_copy), mapped by
the kernel one PT_LOAD at a time (ET_EXEC: no whole-extent mapping), with a RELRO split and a
teardown: 6 i_mmap write acquisitions per exec, none on a shared file. What the copies share is
the mm's global locks, the zone lock and binfmt_lock.
"""

from __future__ import annotations

from orchestrator.generators.execl import Execl
from orchestrator.spec.workload import Doexec as DoexecSpec


class Doexec(Execl):
    kind = "doexec"
    summary = "static-exec loop of 14ef95be6f55: each copy execs a statically linked binary of its own"
    spec: DoexecSpec  # type: ignore[assignment]
