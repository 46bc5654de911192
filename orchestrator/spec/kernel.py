"""Kernel policy knobs of the lock model (docs/model.md): rules, not costs. Costs live in the topology."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from orchestrator.spec.base import (
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
    # When a spinning writer gives up and sleeps (docs/model.md, "Sleeping that depends on waiting").
    # need_resched() ends an optimistic spin when the scheduler wants the CPU: at a tick (HZ 250 -
    # 1000: every 1 - 4 ms) once another task is runnable, or at a wakeup that preempts. Its time
    # is not published for any workload: 0.1 - 4 ms is the plausible range (L).
    spin_rule: Literal["hazard", "fixed"] = Field(
        "hazard", description="hazard: a spinner sleeps at a random time (Weibull, spin_mean_ns, "
                              "spin_shape); fixed: after spin_limit_ns, the rule of model version 2")
    spin_mean_ns: PositiveInt = Field(
        1_000_000, description="mean time a writer spins before need_resched() (plausible 0.1 - 4 ms)",
        json_schema_extra=plausible(100_000, 4_000_000, "ns", "L: scheduler ticks every 1 - 4 ms; no published "
                                                              "spin-time distribution"))
    spin_shape: float = Field(
        1.0, ge=1.0, le=10.0, description="Weibull shape of that time: 1 = exponential (a constant "
                                          "hazard); above 1 the hazard grows with time spun (plausible 1 - 3)",
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
        description="kernel release (major.minor): selects the global locks exec takes when it "
                    "allocates and frees an mm (per-CPU counters since 6.2, grouped since 6.6)")
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
        description="lines of other VMAs a link or unlink writes (linking, rebalancing, subtree_last)")
    tree_root_writes: NonNegativeInt = Field(
        1, le=MAX_TREE_LINES, description="writes of the root line per link or unlink")
