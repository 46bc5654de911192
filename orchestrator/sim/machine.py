"""A topology made concrete for one run: which CPU each copy runs on and what transfers cost."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class Machine:
    topology: Topology
    cpus: list[int]               # physical CPU of each copy (slot)
    node: list[int]               # NUMA node of each slot
    latency: list[list[int]]      # slot x slot one-way line transfer, ns
    to_node: list[list[int]]      # slot x node: transfer between the slot and a line homed there
    siblings: list[tuple[int, ...]]  # slots on SMT siblings of each slot's CPU (they share a core)
    home_node_effect: bool
    walker_cpus: str = "none"     # where walkers run: "free" CPUs, or "shared" with copies

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
        order = cpu_order(topo, placement)
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
        for field, target in (("smt_siblings", smt_group), ("l3_groups", l3_group)):
            for g, group in enumerate(getattr(h, field) or [] if h else []):
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
        return cls(
            topology=topo,
            cpus=cpus,
            node=nodes,
            latency=pairs(),
            to_node=[[node_lat[n][m] for m in range(len(topo.nodes))] for n in nodes],
            siblings=siblings,
            home_node_effect=topo.home_node_effect,
            walker_cpus=("shared" if shared else "free") if helpers else "none",
        )
