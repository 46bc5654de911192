"""Pages outside i_mmap that every exec and fork touches: the page allocator's zone lock and the
struct page lines of the file folios an exec maps.

The zone lock (mm/page_alloc.c): a CPU allocates from and frees to its per-CPU page lists;
rmqueue_bulk refills an empty list and free_pcppages_bulk drains a full one, pcp->batch pages
(63 on any zone of 1 GiB or more, zone_batchsize) under one hold of zone->lock. A copy counts
the pages its iterations allocate and free (SharedState.zone_pages_per_exec, _per_fork) and
takes the lock once per batch of each.

Folios: an exec's page faults map pages of the shared files (filemap_map_pages, fault-around):
per folio a folio_ref_add and a mapcount update (folio_add_file_rmap_ptes), and at teardown
(zap_pte_range) folio_remove_rmap_ptes and a folio_put: atomics on the folio's struct page line,
which every copy shares. filemap_map_pages is the third hottest symbol in a published perf
profile of UnixBench execl at 128 copies on a 2-socket Xeon.
"""

from __future__ import annotations

from orchestrator.sim import ops
from orchestrator.sim.programs import DRAINS, REFILLS, Count, repeated

W = ops.WRITE_MODE


class CountedPages:
    """A copy's per-CPU page lists while its program is made: each count of zone->lock holds is
    noted, and decided per iteration (sim/iterate.py, holds) from the pages counted so far."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, int]] = []

    def refills(self, pages: int) -> Count:
        """rmqueue_bulk calls for `pages` more pages."""
        self.counts.append((REFILLS, pages))
        return Count(len(self.counts) - 1)

    def drains(self, pages: int) -> Count:
        """free_pcppages_bulk calls for `pages` more pages freed."""
        self.counts.append((DRAINS, pages))
        return Count(len(self.counts) - 1)


def zone_lock_ops(zone: int, hold_ns: int, count: Count, caller: str) -> list[tuple]:
    """`count` holds of zone->lock by rmqueue_bulk or free_pcppages_bulk (a program's count is
    decided per iteration: sim/programs.py)."""
    return repeated([(ops.ACQUIRE, zone, W, caller), (ops.HOLD, hold_ns), (ops.RELEASE, zone, W)], count)


def folio_atomics(folios: list[int]) -> list[tuple]:
    """Two atomics per folio on its struct page line: folio_ref_add and folio_add_file_rmap_ptes
    when fault-around maps it, or folio_remove_rmap_ptes and folio_put when zap_pte_range unmaps it."""
    return [(ops.ATOMIC, line) for line in folios for _ in range(2)]
