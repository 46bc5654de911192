"""A run's state laid out from what its strategy and workload declared (sim/engine.py): how big
each array starts, what it holds, and how it grows when the engine runs out of room."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Collection

import numpy as np

from orchestrator.sim import ops, state
from orchestrator.sim.rng import seed_states
from orchestrator.sim.state import BIG, K_MUTEX, K_RWSEM, State, new_state, resized
from orchestrator.sim.streams import ENGINE

if TYPE_CHECKING:
    from orchestrator.sim.engine import Engine

TRACED_GRANTS = 1024  # grants a --check run keeps, in the order made (Measurements.grants)
SPARE = 1024          # room for lines and VMAs made during the run: this, plus 64 per CPU


def allocate(world: Engine) -> State:
    """The state a run starts from: the arrays FIELDS lists, with what was declared in them."""
    return new_state(sizes(world), {**machine_arrays(world), **lock_arrays(world), **tree_arrays(world),
                                    "reg": registers(world), "fparam": parameters(world),
                                    "home": world.line_homes, "rng": generator_states(world)})


def sizes(world: Engine) -> dict[str, int]:
    """The length of each named axis of the state (state.FIELDS)."""
    slots = len(world.streams)
    kinds = [lock.kind for lock in world.locks]
    return {
        "slots": slots, "nodes": world.machine.nodes, "siblings": widest(world.machine.siblings),
        "mates": widest(world.machine.mates), "cpus": len(world.machine.cpu_node),
        "threads": widest(cpu_threads(world.machine)), "node_width": widest(node_cpus(world.machine)),
        # cache lines; the lines that see cmpxchg loops get their rows as the encoder meets them
        "lines": len(world.line_homes) + len(world.preloads) + 64 * slots + SPARE, "words": -(-slots // state.BITS),
        "lockrefs": 0, "rmws": slots + 1,
        # locks
        "locks": len(world.locks), "counters": sum(len(lock.counters) for lock in world.locks),
        "held": max(1, kinds.count(K_RWSEM) + kinds.count(K_MUTEX)),  # write holds owner_on_cpu tracks
        "stat_rows": stat_rows(world), "grants": TRACED_GRANTS if world.check else 0,
        # trees and VMAs
        "trees": len(world.tree_roots), "levels": world.kernel.tree_hot_levels,
        "members": int(tree_capacity(world).sum()), "vmas": len(world.preloads) + 64 * slots + SPARE,
        "tables": max(len(world.tables), 1), "table_width": widest(world.tables),
        # programs (a refill is about encoder.CHUNK rows, or one iteration), the event heap, the time series
        "program": 256, "pool": 64, "heap": 8 * slots + 64, "windows": world.end_ns // world.window_ns + 1,
        # iteration programs (sim/iterate.py): their tables, and each copy's chain, process and freed ids
        "programs": 4, "code": 4096, "steps": 64, "chain": 2, "olds": 64, "freed": 64,
    }


def widest(rows: list) -> int:
    return max([1, *map(len, rows)])


def padded(rows: list, width: int) -> list[list[int]]:
    return [list(row) + [-1] * (width - len(row)) for row in rows]


def registers(world: Engine) -> np.ndarray:
    k, costs = world.kernel, world.machine.topology.costs_ns
    reg = np.zeros(state.NREG, dtype=np.int64)
    reg[state.END_NS], reg[state.WARMUP_NS], reg[state.WINDOW_NS] = world.end_ns, world.warmup_ns, world.window_ns
    reg[state.LOCK_OP], reg[state.WAKEUP] = costs.lock_op, costs.wakeup
    reg[state.RETRY_LIMIT] = k.lockref_retry_limit
    reg[state.SPIN_RULE] = {"need_resched": state.RULE_NEED_RESCHED, "hazard": state.RULE_HAZARD,
                            "fixed": state.RULE_FIXED}[k.spin_rule]
    reg[state.SLICE_LATENCY], reg[state.SLICE_MIN] = slice_ns(k.version, world.machine.topology.cpu_count)
    reg[state.TICK_NS], reg[state.BACKGROUND] = 1_000_000_000 // k.hz, k.background_tasks
    reg[state.PATH_WRITES] = k.tree_path_writes
    reg[state.MIGRATE], reg[state.MIGRATE_NS] = world.machine.migrate, k.migration_ns
    latency = world.machine.topology.latency_ns
    reg[state.LAT_SMT], reg[state.LAT_L3] = latency.smt or 0, latency.l3 or 0
    reg[state.SPIN_LIMIT] = -1 if k.spin_limit_ns is None else k.spin_limit_ns
    reg[state.RSPIN_BASE], reg[state.RSPIN_PER] = k.reader_owned_spin_base_ns, k.reader_owned_spin_per_reader_ns
    reg[state.RSPIN_MAX], reg[state.MAX_WOKEN] = k.reader_owned_spin_max_ns, k.max_readers_woken
    reg[state.HANDOFF_NS] = k.handoff_ns
    reg[state.HOME_EFFECT] = world.machine.home_node_effect
    reg[state.CHECK] = world.check
    reg[state.NLINES] = len(world.line_homes)
    reg[state.LEVEL_NS], reg[state.RMAP_VMA_NS] = costs.tree_level, costs.rmap_vma
    reg[state.NEIGHBOR_WRITES], reg[state.ROOT_WRITES] = k.tree_neighbor_writes, k.tree_root_writes
    reg[state.RESUME_SLOT] = -1
    return reg


def parameters(world: Engine) -> np.ndarray:
    k = world.kernel
    fparam = np.zeros(state.NFPARAM)
    fparam[state.SMT_SLOWDOWN] = world.machine.topology.costs_ns.smt_slowdown
    fparam[state.SMT_SPIN_SLOWDOWN] = world.machine.topology.costs_ns.smt_spin_slowdown
    fparam[state.SPIN_SCALE] = k.spin_mean_ns / math.gamma(1 + 1 / k.spin_shape)
    fparam[state.SPIN_SHAPE] = k.spin_shape
    fparam[state.HANDOFF_TRANSFERS] = k.handoff_line_transfers
    fparam[state.COST_SCALE] = k.cost_scale
    return fparam


def machine_arrays(world: Engine) -> dict:
    m = world.machine
    occupant = [-1] * len(m.cpu_node)
    for slot, cpu in enumerate(m.cpus):
        occupant[cpu] = slot
    threads, per_node = cpu_threads(m), node_cpus(m)
    return {"node": m.node, "latency": m.latency, "to_node": m.to_node,
            "siblings": padded(m.siblings, widest(m.siblings)), "mates": padded(m.mates, widest(m.mates)),
            "slot_cpu": m.cpus, "cpu_slot": occupant, "cpu_node": m.cpu_node, "cpu_core": m.cpu_core,
            "cpu_l3": m.cpu_l3, "cpu_threads": padded(threads, widest(threads)),
            "node_cpus": padded(per_node, widest(per_node)),
            "node_idle": [sum(occupant[c] < 0 for c in cpus) for cpus in per_node],
            "node_lat": m.node_latency, "exec_nodes": m.exec_nodes}


def cpu_threads(m) -> list[list[int]]:
    """Each CPU's SMT siblings (the other CPUs of its core)."""
    members: dict[int, list[int]] = {}
    for cpu, core in enumerate(m.cpu_core):
        if core >= 0:
            members.setdefault(core, []).append(cpu)
    return [[c for c in members.get(core, []) if c != cpu] for cpu, core in enumerate(m.cpu_core)]


def node_cpus(m) -> list[list[int]]:
    return [[cpu for cpu, node in enumerate(m.cpu_node) if node == n] for n in range(m.nodes)]


def stat_rows(world: Engine) -> int:
    """A row per lock class, mode and caller (ops.CALLERS)."""
    return 2 * len(world.lock_classes) * len(ops.CALLERS)


def slice_ns(version: tuple[int, int], cpus: int) -> tuple[int, int]:
    """(latency, minimum) of the fair scheduler's slice, in ns: a task on a CPU with k - 1 others
    runnable is asked to reschedule after max(latency / k, minimum) of its own run time, at the
    next tick (kernel/sched/fair.c). Both scale by 1 + ilog2(min(cpus, 8)) (the default
    SCHED_TUNABLESCALING_LOG). Before 6.6, CFS: sysctl_sched_latency 6 ms, min_granularity
    0.75 ms (__sched_period, sched_slice, check_preempt_tick). From 6.6, EEVDF (147f3efaa241):
    one base slice whatever k, sysctl_sched_base_slice 0.75 ms, 0.70 ms from 6.15 (2ae891b82695)."""
    factor = 1 + int(math.log2(min(max(cpus, 1), 8)))
    if version < (6, 6):
        return 6_000_000 * factor, 750_000 * factor
    base = (700_000 if version >= (6, 15) else 750_000) * factor
    return base, base


def lock_arrays(world: Engine) -> dict:
    declared = world.locks
    stats = np.zeros((stat_rows(world), state.NSTAT), dtype=np.int64)
    stats[:, state.ST_WAIT_MIN] = stats[:, state.ST_HOLD_MIN] = BIG
    return {"lk_kind": [lock.kind for lock in declared], "lk_cls": [lock.cls for lock in declared],
            "lk_line": [lock.line for lock in declared], "lk_wait": [lock.wait_lock for lock in declared],
            "lk_handoff_ns": [world.kernel.handoff_ns if lock.kind == K_RWSEM else 0 for lock in declared],
            "lk_counters": np.cumsum([0] + [len(lock.counters) for lock in declared])[:-1],
            "pc_lines": [line for lock in declared for line in lock.counters], "stats": stats}


def tree_capacity(world: Engine) -> np.ndarray:
    """Room for each tree's members: twice its preloaded VMAs, and 64."""
    preloaded = np.bincount(world.preloads[:, 0], minlength=len(world.tree_roots))
    return preloaded.astype(np.int64) * 2 + 64


def tree_arrays(world: Engine) -> dict:
    capacity = tree_capacity(world)
    return {"tr_root": world.tree_roots, "tr_top": world.tree_tops, "tr_path": world.tree_paths, "tr_cap": capacity,
            "tr_start": np.cumsum(capacity) - capacity, "tables": padded(world.tables, widest(world.tables))}


def generator_states(world: Engine) -> np.ndarray:
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps (numpy warns of it with the JIT off)
        return seed_states(np.uint64(world.seed & (2**64 - 1)), ENGINE, len(world.streams))


# ---- growing ----------------------------------------------------------------------------------

def with_room(S: State, **needed: int) -> State:
    """S with each named axis doubled until it holds the entries needed."""
    for axis, count in needed.items():
        size = state.size(S, axis)
        if count > size:
            size = max(size, 1)
            while size < count:
                size *= 2
            S = resized(S, axis, size)
    return S


def with_tree_moved(S: State, tree: int) -> State:
    """S with the tree's members moved to the end of `members`, with twice the room."""
    start, count, capacity = S.tr_start[tree], S.tr_size[tree], 2 * S.tr_cap[tree]
    end = len(S.members)
    S = resized(S, "members", end + capacity)
    S.members[end:end + count] = S.members[start:start + count]
    S.tr_start[tree], S.tr_cap[tree] = end, capacity
    return S


def with_lockrefs(S: State, lines: Collection[int]) -> State:
    """S where the k-th of `lines` owns row k of the RMWs in flight (cx_*): `lines` are the lines
    that see cmpxchg loops, in the order the encoder first met them (it only ever appends)."""
    if len(lines) > state.size(S, "lockrefs"):
        S = resized(S, "lockrefs", len(lines))
        S.cx_of[list(lines)] = np.arange(len(lines))
    return S
