"""A topology made concrete for one run: which CPU each copy runs on and what transfers cost."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestrator.spec.topology import Topology


def cpu_order(topo: Topology, placement: str) -> list[int]:
    """CPUs in the order copies take them: physical cores before SMT siblings.

    spread: round-robin over nodes, like the scheduler balancing load; compact: fill a node first.
    """
    thread_index: dict[int, int] = {}
    if topo.hierarchy and topo.hierarchy.smt_siblings:
        for group in topo.hierarchy.smt_siblings:
            for i, cpu in enumerate(sorted(group)):
                thread_index[cpu] = i
    per_node = [sorted(node.cpus, key=lambda c: (thread_index.get(c, 0), c)) for node in topo.nodes]
    if placement == "compact":
        return [cpu for cpus in per_node for cpu in cpus]
    order: list[int] = []
    for rank in range(max(len(cpus) for cpus in per_node)):
        order.extend(cpus[rank] for cpus in per_node if rank < len(cpus))
    return order


# node_reclaim_distance (include/linux/topology.h, RECLAIM_DISTANCE 30): sched domains spanning
# nodes farther apart than this lose SD_BALANCE_EXEC (kernel/sched/topology.c), so sched_exec
# moves a task only between nodes this close
RECLAIM_DISTANCE = 30


@dataclass
class Machine:
    topology: Topology
    cpus: list[int]               # physical CPU of each copy (slot)
    node: list[int]               # NUMA node of each slot
    latency: list[list[int]]      # slot x slot one-way line transfer, ns
    to_node: list[list[int]]      # slot x node: transfer between the slot and a line homed there
    siblings: list[tuple[int, ...]]  # slots on SMT siblings of each slot's CPU (they share a core)
    mates: list[tuple[int, ...]]     # other slots on each slot's CPU (a walker beside a copy)
    home_node_effect: bool
    walker_cpus: str = "none"     # where walkers run: "free" CPUs, or "shared" with copies
    migrate: bool = False         # sched_exec may move a copy at exec (placement migrate)
    # every CPU of the topology, for migration: its node, core (SMT group) and L3 group (-1: none)
    cpu_node: list[int] = field(default_factory=list)
    cpu_core: list[int] = field(default_factory=list)
    cpu_l3: list[int] = field(default_factory=list)
    node_latency: list[list[int]] = field(default_factory=list)  # node x node line transfer, ns
    exec_nodes: list[list[bool]] = field(default_factory=list)   # node x node: sched_exec may move between

    @property
    def nodes(self) -> int:
        return len(self.topology.nodes)

    @classmethod
    def build(cls, topo: Topology, copies: int, placement: str, helpers: tuple[int, ...] = ()) -> "Machine":
        """Slots 0..copies-1 run the copies; one more slot per entry of `helpers` runs a kernel
        thread (a walker) on that node: on a CPU of the node no copy or walker occupies, the last
        in placement order; when there is none, it shares the node's least-loaded CPU (the last
        of those), and walker_cpus says "shared". The model does not time-share a CPU: two slots
        on one CPU both run, at no transfer cost between them."""
        order = cpu_order(topo, "spread" if placement == "migrate" else placement)
        node_of = topo.node_of_cpu
        cpus = order[:copies]
        shared = False
        for node in helpers:
            mine = [c for c in order if node_of[c] == node]
            load = {c: cpus.count(c) for c in mine}
            least = min(load.values())
            shared = shared or least > 0
            cpus.append([c for c in mine if load[c] == least][-1])
        h = topo.hierarchy
        smt_group: dict[int, int] = {}
        l3_group: dict[int, int] = {}
        for level, target in (("smt_siblings", smt_group), ("l3_groups", l3_group)):
            for g, group in enumerate(getattr(h, level) or [] if h else []):
                for cpu in group:
                    target[cpu] = g
        lat = topo.latency_ns
        node_lat = [[topo.node_latency_ns(a, b) for b in range(len(topo.nodes))] for a in range(len(topo.nodes))]

        def pairs() -> list[list[int]]:
            """Slot x slot transfer latency: same CPU 0, SMT siblings, same L3, else by nodes."""
            node = np.array([node_of[c] for c in cpus])
            out = np.array(node_lat)[node[:, None], node[None, :]]
            for group, ns in ((l3_group, lat.l3), (smt_group, lat.smt)):
                ids = np.array([group.get(c, -1) for c in cpus])
                out = np.where((ids[:, None] == ids[None, :]) & (ids[:, None] >= 0), ns or 0, out)
            return np.where(np.equal.outer(cpus, cpus), 0, out).tolist()

        nodes = [node_of[c] for c in cpus]
        in_core: dict[int, list[int]] = {}  # SMT group -> its slots
        for slot, cpu in enumerate(cpus):
            if cpu in smt_group:
                in_core.setdefault(smt_group[cpu], []).append(slot)
        siblings = [tuple(s for s in in_core.get(smt_group.get(cpu, -1), ()) if cpus[s] != cpu) for cpu in cpus]
        on_cpu: dict[int, list[int]] = {}  # CPU -> the slots running there
        for slot, cpu in enumerate(cpus):
            on_cpu.setdefault(cpu, []).append(slot)
        return cls(
            topology=topo,
            cpus=cpus,
            node=nodes,
            latency=pairs(),
            to_node=[[node_lat[n][m] for m in range(len(topo.nodes))] for n in nodes],
            siblings=siblings,
            mates=[tuple(other for other in on_cpu[cpu] if other != slot) for slot, cpu in enumerate(cpus)],
            home_node_effect=topo.home_node_effect,
            walker_cpus=("shared" if shared else "free") if helpers else "none",
            migrate=placement == "migrate",
            cpu_node=[node_of.get(c, -1) for c in range(max(node_of) + 1)],
            cpu_core=[smt_group.get(c, -1) for c in range(max(node_of) + 1)],
            cpu_l3=[l3_group.get(c, -1) for c in range(max(node_of) + 1)],
            node_latency=node_lat,
            exec_nodes=[[d <= RECLAIM_DISTANCE for d in row] for row in topo.distance],
        )
