"""The global locks exec takes outside i_mmap when it creates and frees an mm, by kernel release.

Every strategy pays these, so they bound what any i_mmap split can gain (docs/model.md).
On x86-64, each exec and fork allocates an mm (mm_alloc -> mm_init) and each exec and exit
frees one (mmput -> __mmdrop):
- pgd_alloc / pgd_free add and remove the pgd on the global pgd_list under the pgd_lock
  spinlock (arch/x86/mm/pgtable.c), in every release.
- search_binary_handler takes binfmt_lock for read twice (fs/exec.c): four atomics on one
  global line per exec, in every release.
- Since 6.2 (f1a7941243c1, "mm: convert mm's rss stats into percpu_counter") the mm's four
  rss counters are per-CPU: each alloc_percpu takes pcpu_alloc_mutex (a mutex) and, inside it,
  pcpu_lock (a spinlock); each free_percpu takes pcpu_lock (mm/percpu.c); each counter joins
  the global percpu_counters list under percpu_counters_lock (CONFIG_HOTPLUG_CPU).
  Since 6.6 (14ef95be6f55, "kernel/fork: group allocation/free of per-cpu counters for mm
  struct") the four are one allocation and one list insertion.
- Since 6.4 the mm also allocates its per-CPU concurrency ids (mm_cid) with alloc_percpu.
"""

from __future__ import annotations

from orchestrator.generators.base import World
from orchestrator.sim import ops
from orchestrator.sim.ops import MUTEX, SPINLOCK
from orchestrator.spec.kernel import KernelSpec

W = ops.WRITE_MODE


def percpu_allocations(release: str) -> tuple[int, int]:
    """(alloc_percpu calls per mm, percpu_counters list insertions per mm) of a release."""
    version = KernelSpec(release=release).version
    rss = 0 if version < (6, 2) else 4 if version < (6, 6) else 1  # one percpu_counter_init each
    cid = 1 if version >= (6, 4) else 0
    return rss + cid, rss  # each rss allocation puts its counters on the list under one lock hold


class MmLocks:
    """Declares the locks and lines; gives the ops of one mm allocation and one mm free."""

    def __init__(self, world: World, kernel: KernelSpec):
        self.kernel = kernel
        self.allocations, self.counter_lists = percpu_allocations(kernel.release)
        self.pgd_lock = world.lock("pgd_lock", "pgd_lock", SPINLOCK, 0)
        self.binfmt = world.line("binfmt_lock", 0)
        if self.allocations:
            self.pcpu_mutex = world.lock("pcpu_alloc_mutex", "pcpu_alloc_mutex", MUTEX, 0)
            self.pcpu_lock = world.lock("pcpu_lock", "pcpu_lock", SPINLOCK, 0)
        if self.counter_lists:
            self.counters_lock = world.lock("percpu_counters_lock", "percpu_counters_lock", SPINLOCK, 0)

    @staticmethod
    def _held(lock: int, ns: int, caller: str) -> list[tuple]:
        return [(ops.ACQUIRE, lock, W, caller), (ops.HOLD, ns), (ops.RELEASE, lock, W)]

    def alloc_ops(self) -> list[tuple]:
        k = self.kernel
        out = self._held(self.pgd_lock, k.pgd_lock_hold_ns, "pgd_alloc")
        for _ in range(self.allocations):
            out += [(ops.ACQUIRE, self.pcpu_mutex, W, "pcpu_alloc"),
                    *self._held(self.pcpu_lock, k.pcpu_lock_hold_ns, "pcpu_alloc"),
                    (ops.HOLD, max(0, k.pcpu_alloc_hold_ns - k.pcpu_lock_hold_ns)),
                    (ops.RELEASE, self.pcpu_mutex, W)]
        for _ in range(self.counter_lists):  # named after the grouped call of 6.6 in every release
            out += self._held(self.counters_lock, 0, "percpu_counter_init_many")
        return out

    def free_ops(self) -> list[tuple]:
        k = self.kernel
        out = self._held(self.pgd_lock, k.pgd_lock_hold_ns, "pgd_free")
        for _ in range(self.allocations):
            out += self._held(self.pcpu_lock, k.pcpu_lock_hold_ns, "free_percpu")
        for _ in range(self.counter_lists):
            out += self._held(self.counters_lock, 0, "percpu_counter_destroy_many")
        return out

    def binfmt_ops(self) -> list[tuple]:
        """read_lock and read_unlock of binfmt_lock, around the handler search and after it."""
        return [(ops.ATOMIC, self.binfmt)] * 4
