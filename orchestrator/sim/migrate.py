"""Migration at exec (placement migrate): sched_exec() may move the exec'ing task (compiled).

bprm_execve calls sched_exec (kernel/sched/core.c), which asks the fair class for the idlest CPU
of the domains that balance on exec (select_task_rq with WF_EXEC; sched_balance_find_dst_cpu,
formerly find_idlest_cpu) and moves the task there by the stopper (stop_one_cpu). The rule
kept here, after find_idlest_group and find_idlest_group_cpu (kernel/sched/fair.c):
- only nodes within node_reclaim_distance of the task's node are candidates (beyond it the
  NUMA domains lose SD_BALANCE_EXEC);
- the task leaves its node only for one with more idle CPUs (group_has_spare: the local group
  is kept when it has at least as many);
- inside the chosen node, an idle CPU of a core whose every thread is idle comes first (the SMT
  level's groups), then any idle CPU; among equals, the one idle the longest ago loses to the
  one idle most recently (latest_idle_timestamp keeps caches warm);
- with no idle CPU the task stays.
A move updates what the rest of the engine reads per slot: its node, its transfer latencies to
every other slot, its SMT siblings (and those of the cores it leaves and joins).
"""

from __future__ import annotations

from orchestrator.sim.jit import njit
from orchestrator.sim.state import LAT_L3, LAT_SMT, MIGRATE, MIGRATE_NS, MIGRATIONS


@njit
def cpu_latency(S, a, b):
    """One-way line transfer between two CPUs, as sim/machine.py's table has it."""
    if a == b:
        return 0
    if S.cpu_core[a] >= 0 and S.cpu_core[a] == S.cpu_core[b]:
        return S.reg[LAT_SMT]
    if S.cpu_l3[a] >= 0 and S.cpu_l3[a] == S.cpu_l3[b]:
        return S.reg[LAT_L3]
    return S.node_lat[S.cpu_node[a], S.cpu_node[b]]


@njit
def core_idle(S, cpu):
    for other in S.cpu_threads[cpu]:
        if other >= 0 and S.cpu_slot[other] >= 0:
            return False
    return True


@njit
def idlest_cpu(S, node):
    """An idle CPU of `node`: on an idle core first, the most recently idled among equals."""
    best, best_core, best_since = -1, -1, -1
    for cpu in S.node_cpus[node]:
        if cpu < 0 or S.cpu_slot[cpu] >= 0:
            continue
        core = 1 if core_idle(S, cpu) else 0
        since = S.cpu_idle_since[cpu]
        if core > best_core or (core == best_core and since > best_since):
            best, best_core, best_since = cpu, core, since
    return best


@njit
def target_cpu(S, slot):
    here = S.cpu_node[S.slot_cpu[slot]]
    node, spare = here, S.node_idle[here]
    for other in range(len(S.node_idle)):
        if other != here and S.exec_nodes[here, other] and S.node_idle[other] > spare:
            node, spare = other, S.node_idle[other]
    return idlest_cpu(S, node) if spare else -1


@njit
def core_member(S, cpu, k):
    """The k-th CPU of cpu's core (k = -1: cpu itself), or -1."""
    return cpu if k < 0 else S.cpu_threads[cpu, k]


@njit
def resiblings(S, cpu):
    """Rewrite the SMT sibling lists of the slots running on `cpu`'s core."""
    width = S.cpu_threads.shape[1]
    for i in range(-1, width):
        member = core_member(S, cpu, i)
        if member < 0 or S.cpu_slot[member] < 0:
            continue
        slot = S.cpu_slot[member]
        S.siblings[slot, :] = -1
        k = 0
        for j in range(-1, width):
            other = core_member(S, cpu, j)
            if other >= 0 and other != member and S.cpu_slot[other] >= 0 and k < S.siblings.shape[1]:
                S.siblings[slot, k] = S.cpu_slot[other]
                k += 1


@njit
def move(S, slot, cpu, now):
    old = S.slot_cpu[slot]
    S.cpu_slot[old] = -1
    S.cpu_idle_since[old] = now
    S.node_idle[S.cpu_node[old]] += 1
    S.node_idle[S.cpu_node[cpu]] -= 1
    S.cpu_slot[cpu] = slot
    S.slot_cpu[slot] = cpu
    node = S.cpu_node[cpu]
    S.node[slot] = node
    for other in range(len(S.slot_cpu)):
        ns = cpu_latency(S, cpu, S.slot_cpu[other])
        S.latency[slot, other] = ns
        S.latency[other, slot] = ns
    S.to_node[slot, :] = S.node_lat[node, :]
    resiblings(S, old)
    resiblings(S, cpu)


@njit
def sched_exec(S, slot, now):
    """The cost of sched_exec for `slot` at `now`: the stopper's round trip if it moves."""
    if not S.reg[MIGRATE]:
        return 0
    cpu = target_cpu(S, slot)
    if cpu < 0:
        return 0
    move(S, slot, cpu, now)
    S.reg[MIGRATIONS] += 1
    return S.reg[MIGRATE_NS]
