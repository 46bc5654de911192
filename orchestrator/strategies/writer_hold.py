"""writer-hold: the mnt_hold_writers() / mnt_get_write_access() idea from the review.

A change bumps this CPU's counter and checks a hold flag (no shared write when no walk is
running), then takes its subtree's spinlock. A walk sets the hold flag, waits for every CPU's
counter to drain, walks all subtrees and clears the flag. Walkers queue behind each other.
The protocol and subtrees are those of `inverted`; only the file-wide lock differs.
"""

from __future__ import annotations

from orchestrator.sim.ops import PERCPU_RWSEM
from orchestrator.strategies.base import ATOMIC_T, MUTEX
from orchestrator.strategies.inverted import SUBTREE, Inverted


class WriterHold(Inverted):
    name = "writer-hold"
    summary = "per-CPU change counters + hold flag (mnt_hold_writers style); walks drain them"
    main_lock = ("i_mmap_hold", PERCPU_RWSEM)

    def memory_per_inode(self) -> int:
        # an int per possible CPU (alloc_percpu), the subtree array, a mutex serializing walkers;
        # the hold flag is a bit of mapping->flags
        return ATOMIC_T * self.machine.topology.cpu_count + self.k * SUBTREE + MUTEX
