"""Kernel policy knobs of the lock model (DESIGN 4.3): rules, not costs. Costs live in the topology."""

from __future__ import annotations

from pydantic import Field, NonNegativeInt, PositiveInt

from orchestrator.spec.base import Spec


class KernelSpec(Spec):
    # kernel/locking/rwsem.c, via CALIBRATION.md "rw_semaphore and scheduler" (H)
    handoff_ns: PositiveInt = Field(
        4_000_000, description="a sleeper waiting this long gets the lock handed off (HZ/250)")
    max_readers_woken: PositiveInt = Field(256, description="readers woken at once (MAX_READERS_WAKEUP)")
    reader_owned_spin_base_ns: NonNegativeInt = Field(
        10_000, description="a writer spins on a reader-owned rwsem for base + per_reader x readers")
    reader_owned_spin_per_reader_ns: NonNegativeInt = Field(500, description="(10 + readers/2) us")
    reader_owned_spin_max_ns: NonNegativeInt = Field(25_000, description="... at most 25 us")
    # Rule (a) of DESIGN 4.3: when a spinner gives up. need_resched() ends a spin after some time on
    # a busy machine; CALIBRATION.md gives 0.1 - 4 ms as the plausible range (L).
    spin_limit_ns: NonNegativeInt | None = Field(
        1_000_000, description="a spinning waiter sleeps after this long (need_resched); none = never")
    handoff_line_transfers: float = Field(
        2.0, ge=0, description="line transfers of a handoff to a spinner: lock word + osq node "
                               "(CALIBRATION.md range 1 - 3)")
    # Rule (b) of DESIGN 4.3: a cmpxchg retry loop (lockref) on a contended line.
    cmpxchg_retry_transfers: float = Field(
        1.0, ge=0, description="extra line transfers a cmpxchg loop pays under heavy contention "
                               "(scaled by k/(k+1) for k other RMWs in flight)")
    # Tree model (DESIGN 4.4; CALIBRATION.md "Tree operations": "model a handful of hot lines per
    # tree plus a per-level cost"). The per-level cost is the topology's costs_ns.tree_level.
    tree_hot_levels: NonNegativeInt = Field(2, description="top levels read as real lines on every descent")
    tree_neighbor_writes: NonNegativeInt = Field(
        2, description="lines of other VMAs a link or unlink writes (linking, rebalancing, subtree_last)")
    tree_root_writes: NonNegativeInt = Field(1, description="writes of the root line per link or unlink")
