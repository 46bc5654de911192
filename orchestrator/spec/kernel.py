"""Kernel policy knobs of the lock model (docs/model.md): rules, not costs. Costs live in the topology."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from orchestrator.spec.base import (
    MAX_BACKGROUND_TASKS,
    MAX_COST_SCALE,
    MAX_LINE_TRANSFERS,
    MAX_TREE_LINES,
    Spec,
    plausible,
)


class KernelSpec(Spec):
    # kernel/locking/rwsem.c (H)
    handoff_ns: PositiveInt = Field(
        4_000_000, description="a first waiter that has waited this long reserves the lock (handoff): "
                               "RWSEM_WAIT_TIMEOUT, HZ/250 rounded up, checked with time_after: "
                               "4 - 5 ms at HZ=1000, 4 - 8 ms at HZ=250",
        json_schema_extra=plausible(4_000_000, 8_000_000, "ns", "H: RWSEM_WAIT_TIMEOUT by HZ"))
    max_readers_woken: PositiveInt = Field(256, description="readers woken at once (MAX_READERS_WAKEUP)")
    reader_owned_spin_base_ns: NonNegativeInt = Field(
        10_000, description="a writer spins on a reader-owned rwsem for base + per_reader x readers")
    reader_owned_spin_per_reader_ns: NonNegativeInt = Field(500, description="(10 + readers/2) us")
    reader_owned_spin_max_ns: NonNegativeInt = Field(25_000, description="... at most 25 us")
    # When a spinning writer gives up and sleeps (docs/model.md, "When a spinner sleeps"): an
    # optimistic spinner (osq_lock, rwsem_spin_on_owner) stops on need_resched(), when the owner is
    # off its CPU, or on a handoff. need_resched() comes only when another task is runnable on the
    # CPU: the fair class's tick asks for it once the task has run its slice, and only then
    # (kernel/sched/fair.c: entity_tick calls check_preempt_tick only with nr_running > 1 before
    # 6.6; update_deadline reschedules only with nr_running > 1 from 6.6).
    spin_rule: Literal["need_resched", "hazard", "fixed"] = Field(
        "need_resched", description="need_resched: a spinner sleeps only when another task is runnable on "
                                    "its CPU, once the scheduler's slice is used up (at a tick); hazard: at a "
                                    "random time (Weibull, spin_mean_ns, spin_shape), model version 3's rule; "
                                    "fixed: after spin_limit_ns, model version 2's")
    migration_ns: NonNegativeInt = Field(
        5_000, description="what sched_exec's move costs the task (placement migrate): stop_one_cpu wakes the "
                           "stopper on the old CPU, which moves it (migration_cpu_stop); L, 2 - 20 us",
        json_schema_extra=plausible(2_000, 20_000, "ns", "L: assumed; a cross-CPU wakeup and two context switches"))
    hz: Literal[100, 250, 300, 1000] = Field(
        250, description="CONFIG_HZ, the scheduler tick (Kconfig's default is 250; many distributions "
                         "build 1000): need_resched is noticed at a tick")
    background_tasks: NonNegativeInt = Field(
        0, le=MAX_BACKGROUND_TASKS, description="other runnable tasks on every CPU besides the run's own (the "
                                                "rest of the machine's load): with any, a spinner is asked "
                                                "to reschedule once its slice is used up")
    spin_mean_ns: PositiveInt = Field(
        1_000_000, description="spin_rule hazard: mean time a writer spins before need_resched() "
                               "(plausible 0.1 - 4 ms)",
        json_schema_extra=plausible(100_000, 4_000_000, "ns", "L: scheduler ticks every 1 - 4 ms; no published "
                                                              "spin-time distribution"))
    spin_shape: float = Field(
        1.0, ge=1.0, le=10.0, description="spin_rule hazard: Weibull shape of that time: 1 = exponential (a "
                                          "constant hazard); above 1 the hazard grows with time spun (plausible 1 - 3)",
        json_schema_extra=plausible(1.0, 3.0, "", "L: assumed"))
    spin_limit_ns: NonNegativeInt | None = Field(
        1_000_000, description="spin_rule fixed: a spinning waiter sleeps after this long; none = never")
    handoff_line_transfers: float = Field(
        1.0, ge=0, le=MAX_LINE_TRANSFERS,
        description="lock-word transfers the next osq spinner pays to take the lock (its "
                    "read that sees it free, then its cmpxchg; plausible 1 - 3). The "
                    "releaser's pull from the polling spinner and the MCS node handed to "
                    "the spinner after it are counted apart",
        json_schema_extra=plausible(1.0, 3.0, "transfers", "L: prototype sensitivity study"))
    # exec's global locks outside i_mmap (orchestrator/generators/mm.py lists them per release)
    release: str = Field(
        "6.18", pattern=r"^[1-9][0-9]*\.[0-9]+$",
        description="kernel release (major.minor): the scheduler's slice (EEVDF from 6.6), what i_mmap's "
                    "critical sections hold (the maple-tree store left mmap's in 6.6), unlink batching "
                    "(6.11), the callers' names, and the global locks exec takes when it allocates and frees "
                    "an mm (per-CPU counters since 6.2, grouped since 6.6)")
    # mm/vma.c: what vma_prepare .. vma_complete hold under i_mmap_rwsem besides the interval tree
    maple_store_ns: NonNegativeInt = Field(
        150, description="the maple-tree store of a VMA change (vma_iter_store, preallocated nodes): held "
                         "under i_mmap_rwsem by a split or merge (vma_complete), and by a plain mmap before "
                         "6.6 (6852c46c783d moved mmap's out of the lock); L, 0.05 - 0.4 us",
        json_schema_extra=plausible(50, 400, "ns", "L: assumed; a maple-tree store of a preallocated node"))
    anon_vma_ns: NonNegativeInt = Field(
        100, description="anon_vma_lock_write and the anon_vma interval-tree update that vma_prepare does "
                         "under i_mmap_rwsem for a VMA with anonymous pages (a private file mapping that was "
                         "written: data, RELRO); uncontended, per process; L, 0.03 - 0.3 us",
        json_schema_extra=plausible(30, 300, "ns", "L: assumed; an uncontended rwsem and a small tree update"))
    pcpu_alloc_hold_ns: NonNegativeInt = Field(
        1_000, description="pcpu_alloc_mutex hold per alloc_percpu, pcpu_lock part included. Derived "
                           "(M): 133.5k execs/s at 26 cores with four allocations per exec (Guzik, "
                           "14ef95be6f55) bounds an allocation and its free at ~1.9 us; plausible 0.3 - 2 us",
        json_schema_extra=plausible(300, 2_000, "ns", "M: derived from 14ef95be6f55's figures"))
    pcpu_lock_hold_ns: NonNegativeInt = Field(
        400, description="pcpu_lock hold per allocation (area search) and per free_percpu (L; 0.1 - 1 us)",
        json_schema_extra=plausible(100, 1_000, "ns", "L: assumed"))
    pgd_lock_hold_ns: NonNegativeInt = Field(
        200, description="pgd_lock hold in pgd_alloc (pgd_ctor copies the kernel half of the PGD, "
                         "2 KiB) and pgd_free (L; 0.05 - 0.5 us)",
        json_schema_extra=plausible(50, 500, "ns", "L: assumed"))
    cost_scale: float = Field(
        1.0, gt=0, le=MAX_COST_SCALE,
        description="multiplies every critical-section cost (holds and tree work under a lock): the "
                    "serialized cost per exec is the least certain quantity of the model",
        json_schema_extra=plausible(0.7, 2.0, "x", "L: prototype sensitivity study; a ~51k execs/s peak "
                                                   "implies ~20 us serialized per exec"))
    # lib/lockref.c: CMPXCHG_LOOP gives up after 100 failed cmpxchg and takes the spinlock (H)
    lockref_retry_limit: PositiveInt = Field(
        100, description="failed cmpxchg attempts before a lockref takes its spinlock")
    # Tree model (docs/sources.md, "Trees": a handful of hot lines per tree plus a per-level cost).
    # The per-level cost is the topology's costs_ns.tree_level.
    tree_hot_levels: NonNegativeInt = Field(
        2, le=MAX_TREE_LINES, description="top levels read as real lines on every descent")
    tree_neighbor_writes: NonNegativeInt = Field(
        2, le=MAX_TREE_LINES,
        description="lines of other VMAs an erase writes (the successor taking its place, rebalancing)")
    tree_root_writes: NonNegativeInt = Field(
        1, le=MAX_TREE_LINES, description="writes of the root line per erase (the rb_root_cached)")
    tree_path_writes: NonNegativeInt = Field(
        2, le=MAX_TREE_LINES,
        description="lines an insert writes on the path of VMAs that share its start offset: equal keys go "
                    "right (interval_tree_generic.h), so every copy's VMA of one segment lands on the same "
                    "rightmost path, and the new node's parent and grandparent are rewritten by the "
                    "red-black fix-up (plausible 1 - 3)",
        json_schema_extra=plausible(1, 3, "lines", "M: include/linux/interval_tree_generic.h, lib/rbtree.c"))

    @field_validator("release", mode="before")
    @classmethod
    def _release_is_text(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"{value!r} is a number: write the release as text, e.g. kernel.release='6.10' "
                             "(as a number, 6.10 reads as 6.1)")
        return value

    @property
    def version(self) -> tuple[int, int]:
        """release as (major, minor), for comparisons."""
        major, minor = self.release.split(".")[:2]
        return int(major), int(minor)

    @property
    def unlink_batch(self) -> int:
        """VMAs of one file unlinked under one lock hold at teardown: 8 since 3577dbb19241 ("mm: batch
        unlink_file_vma calls in free_pgd_range", 6.11), one at a time before."""
        return 8 if self.version >= (6, 11) else 1
