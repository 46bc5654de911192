"""Machine shape: NUMA nodes, optional cache hierarchy, SLIT distances, cache-line latencies.

SLIT only says which tier a pair of nodes is in; the latency table
gives the cost, because measured cache-line latencies do not follow SLIT numerically.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Any

from pydantic import Field, NonNegativeInt, Strict, model_validator

from orchestrator.errors import FieldError
from orchestrator.spec.base import MAX_CPUS, MAX_NODES, Spec, plausible
from orchestrator.spec.cpulist import CpuList, cpulist_size, format_cpulist

LOCAL_DISTANCE = 10  # ACPI SLIT: a node's distance to itself


class Node(Spec):
    cpus: CpuList


class Hierarchy(Spec):
    """Optional detail inside and above nodes. CPUs not listed in a group stand alone."""

    sockets: list[list[NonNegativeInt]] | None = Field(
        None, description="node indices of each socket; every node in exactly one socket")
    l3_groups: list[CpuList] | None = Field(
        None, description="CPUs sharing one last-level cache (CCX); each group inside one node")
    smt_siblings: list[CpuList] | None = Field(
        None, description="hardware threads of one core; each group inside one L3 group and node")


class Latency(Spec):
    """One-way cache-line transfer latency per topology tier, in nanoseconds."""

    smt: NonNegativeInt | None = Field(None, description="between SMT siblings of one core")
    l3: NonNegativeInt | None = Field(None, description="between cores sharing an L3")
    node: NonNegativeInt | None = Field(
        None, description="same NUMA node, different L3 (omit with latency_matrix_ns)")
    # keys come back from JSON (a run's config as workers receive it) as strings: accept those
    remote: dict[Annotated[int, Strict(False)], NonNegativeInt] | None = Field(
        None, description="other node, by SLIT distance value (omit with latency_matrix_ns)")


class Costs(Spec):
    """Fixed CPU and scheduler costs of the machine, in nanoseconds (orch docs sources)."""

    lock_op: NonNegativeInt = Field(
        10, description="uncontended lock or unlock, no line transfer ('down_write + up_write ~ 10-20 ns')",
        json_schema_extra=plausible(10, 20, "ns", "M: down_write + up_write"))
    wakeup: NonNegativeInt = Field(
        5_000, description="cross-CPU wakeup to running ('~5 us (4-9)'); paid by a sleeping waiter",
        json_schema_extra=plausible(4_000, 9_000, "ns", "M: cross-CPU wakeup latency"))
    tree_level: NonNegativeInt = Field(
        4, description="one level of a cached interval-tree descent (hot 6000-node erase + insert ~110 ns)")
    rmap_vma: NonNegativeInt = Field(
        150, description="an rmap walk's work per VMA mapping the page (page_vma_mapped_walk, PTE "
                         "check and clear); no published figure, assumed (L)",
        json_schema_extra=plausible(50, 300, "ns", "L: assumed"))
    smt_slowdown: float = Field(
        1.5, ge=1.0, description="work (critical sections included) of a CPU whose SMT sibling runs or "
                                 "spins takes this many times longer: two threads give a core 1 - 1.33x "
                                 "the throughput of one (H. Wong, 'Hyper-Threading Performance', 2011), "
                                 "so 1.5 - 2.0; 1.5 assumes the high end of that yield",
        json_schema_extra=plausible(1.5, 2.0, "x", "M: Wong 2011, SMT yield 1 - 1.33x"))
    smt_spin_slowdown: float = Field(
        1.05, ge=1.0, description="work of a CPU whose SMT sibling spins on a lock (cpu_relax, PAUSE) takes this "
                                  "many times longer: PAUSE de-pipelines the spin loop and frees the core for the "
                                  "sibling, its latency raised to ~140 cycles from Skylake for that purpose (Intel "
                                  "64 and IA-32 Architectures Optimization Reference Manual, on spin-wait loops); no "
                                  "published slowdown figure: 1 - 1.2 assumed (L)",
        json_schema_extra=plausible(1.0, 1.2, "x", "L: Intel Optimization Reference Manual, PAUSE; assumed"))


SHAPE = ("nodes", "distance", "hierarchy")  # what a machine is; latencies and costs are what the model assumes


def shape_digest(topology: dict) -> str:
    """Digest of a machine's shape (of a Topology's JSON dump): its nodes, CPUs, distances and
    caches, leaving out the name and prose and the latencies and costs a profile or a sweep may
    set, so a measured host and the model's copy of it match whatever each assumes."""
    shape = {k: topology.get(k) for k in SHAPE}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


class Topology(Spec):
    name: str = Field(min_length=1)
    description: str = ""
    sources: list[str] = Field(default_factory=list, description="where the numbers come from")
    nodes: list[Node] = Field(min_length=1, max_length=MAX_NODES,
                              description="NUMA nodes; a node's id is its index")
    distance: list[list[int]] = Field(description="SLIT matrix, node x node, diagonal 10, symmetric")
    hierarchy: Hierarchy | None = None
    latency_ns: Latency
    latency_matrix_ns: list[list[NonNegativeInt]] | None = Field(
        None, description="explicit node x node latency (diagonal: same node, other L3)")
    costs_ns: Costs = Field(default_factory=Costs)
    home_node_effect: bool = Field(
        False, description="AMD: a transfer between two CPUs both away from the line's home "
                           "node costs max(t(A,B), t(A,home), t(B,home)) (orch docs sources)")

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        """Count CPUs before any cpulist is expanded: a few bytes of YAML can name millions of
        them ("0-8191" in each of 1,024 nodes, or in each of many L3 groups)."""
        if not isinstance(data, dict):
            return data
        nodes = data.get("nodes")
        nodes = nodes if isinstance(nodes, list) else []
        hierarchy = data.get("hierarchy")
        hierarchy = hierarchy if isinstance(hierarchy, dict) else {}
        cpulists = {("nodes",): [node.get("cpus") for node in nodes if isinstance(node, dict)],
                    ("hierarchy", "l3_groups"): hierarchy.get("l3_groups"),
                    ("hierarchy", "smt_siblings"): hierarchy.get("smt_siblings")}
        for path, lists in cpulists.items():
            count = sum(cpulist_size(cpus) for cpus in lists) if isinstance(lists, list) else 0
            if count > MAX_CPUS:
                raise FieldError(path, f"{count:,} CPUs, at most {MAX_CPUS:,} per topology")
        return data

    @model_validator(mode="after")
    def _check(self) -> "Topology":
        self._check_cpus()
        self._check_distance()
        if self.hierarchy is not None:
            self._check_hierarchy()
        self._check_latency()
        return self

    def _check_cpus(self) -> None:
        owner: dict[int, int] = {}
        for n, node in enumerate(self.nodes):
            seen: set[int] = set()
            for cpu in node.cpus:
                if cpu in seen:
                    raise FieldError(("nodes", n, "cpus"), f"CPU {cpu} listed twice")
                if cpu in owner:
                    raise FieldError(("nodes", n, "cpus"), f"CPU {cpu} is also in node {owner[cpu]}")
                seen.add(cpu)
                owner[cpu] = n

    def _check_distance(self) -> None:
        n = len(self.nodes)
        if len(self.distance) != n:
            raise FieldError("distance", f"has {len(self.distance)} rows, expected {n} (one per node)")
        for i, row in enumerate(self.distance):
            if len(row) != n:
                raise FieldError(("distance", i), f"has {len(row)} entries, expected {n} (square matrix)")
            for j, value in enumerate(row):
                if i == j and value != LOCAL_DISTANCE:
                    raise FieldError(("distance", i, j), f"diagonal must be {LOCAL_DISTANCE}, got {value}")
                if value < LOCAL_DISTANCE:
                    raise FieldError(("distance", i, j), f"must be >= {LOCAL_DISTANCE}, got {value}")
                # one tier per pair of nodes: the model has no direction for a distance
                if j < i and value != self.distance[j][i]:
                    raise FieldError(("distance", i, j), f"{value}, but distance.{j}.{i} is "
                                                         f"{self.distance[j][i]}: must be symmetric")

    def _check_hierarchy(self) -> None:
        h = self.hierarchy
        assert h is not None
        if h.sockets is not None:
            where: dict[int, int] = {}
            for s, members in enumerate(h.sockets):
                if not members:
                    raise FieldError(("hierarchy", "sockets", s), "socket has no nodes")
                for node in members:
                    if node >= len(self.nodes):
                        raise FieldError(("hierarchy", "sockets", s), f"no node {node}")
                    if node in where:
                        raise FieldError(("hierarchy", "sockets", s), f"node {node} is also in socket {where[node]}")
                    where[node] = s
            missing = sorted(set(range(len(self.nodes))) - set(where))
            if missing:
                raise FieldError(("hierarchy", "sockets"), f"nodes {missing} are in no socket")
        l3_of = self._check_groups("l3_groups", h.l3_groups, None)
        self._check_groups("smt_siblings", h.smt_siblings, l3_of if h.l3_groups else None)

    def _check_groups(self, field: str, groups: list[list[int]] | None,
                      parent: dict[int, int] | None) -> dict[int, int]:
        """Groups must hold known CPUs, be disjoint and sit inside one node (and one parent group)."""
        node_of = self.node_of_cpu
        group_of: dict[int, int] = {}
        for g, cpus in enumerate(groups or []):
            for cpu in cpus:
                if cpu not in node_of:
                    raise FieldError(("hierarchy", field, g), f"CPU {cpu} is in no node")
                if cpu in group_of:
                    raise FieldError(("hierarchy", field, g), f"CPU {cpu} is also in group {group_of[cpu]}")
                group_of[cpu] = g
            if len({node_of[c] for c in cpus}) > 1:
                raise FieldError(("hierarchy", field, g), "group spans several nodes")
            if parent is not None and len({parent.get(c) for c in cpus}) > 1:
                raise FieldError(("hierarchy", field, g), "group spans several L3 groups")
        return group_of

    def _check_latency(self) -> None:
        lat = self.latency_ns
        h = self.hierarchy
        if h is not None and h.smt_siblings and lat.smt is None:
            raise FieldError(("latency_ns", "smt"), "required: hierarchy lists SMT siblings")
        if h is not None and h.l3_groups and lat.l3 is None:
            raise FieldError(("latency_ns", "l3"), "required: hierarchy lists L3 groups")
        n = len(self.nodes)
        if self.latency_matrix_ns is not None:
            for key in ("node", "remote"):
                if getattr(lat, key) is not None:
                    raise FieldError(("latency_ns", key), "give either this or latency_matrix_ns, not both")
            if len(self.latency_matrix_ns) != n or any(len(r) != n for r in self.latency_matrix_ns):
                raise FieldError("latency_matrix_ns", f"must be {n} x {n} (node x node)")
            return
        if lat.node is None:
            raise FieldError(("latency_ns", "node"), "required (or give latency_matrix_ns)")
        remote = lat.remote or {}
        for i in range(n):
            for j in range(n):
                d = self.distance[i][j]
                if i != j and d not in remote:
                    raise FieldError(("latency_ns", "remote"),
                                     f"no latency for SLIT distance {d} (used by nodes {i} and {j})")

    # ---- derived views -------------------------------------------------------------

    @cached_property
    def node_of_cpu(self) -> dict[int, int]:
        return {cpu: n for n, node in enumerate(self.nodes) for cpu in node.cpus}

    @property
    def cpu_count(self) -> int:
        return sum(len(node.cpus) for node in self.nodes)

    def socket_of_node(self) -> list[int]:
        """Socket index per node; without a hierarchy every node is its own socket."""
        sockets = self.hierarchy.sockets if self.hierarchy and self.hierarchy.sockets else None
        if sockets is None:
            return list(range(len(self.nodes)))
        result = [0] * len(self.nodes)
        for s, members in enumerate(sockets):
            for node in members:
                result[node] = s
        return result

    def node_latency_ns(self, a: int, b: int) -> int:
        """Latency between a CPU on node a and one on node b that share no L3."""
        if self.latency_matrix_ns is not None:
            return self.latency_matrix_ns[a][b]
        if a == b:
            return self.latency_ns.node  # type: ignore[return-value]
        return (self.latency_ns.remote or {})[self.distance[a][b]]

    def tiers(self) -> list[tuple[str, int, str]]:
        """(tier, latency ns, where it applies) for display."""
        lat, h = self.latency_ns, self.hierarchy
        rows: list[tuple[str, int, str]] = []
        if h and h.smt_siblings and lat.smt is not None:
            rows.append(("SMT sibling", lat.smt, f"{len(h.smt_siblings)} cores"))
        if h and h.l3_groups and lat.l3 is not None:
            rows.append(("same L3", lat.l3, f"{len(h.l3_groups)} L3 groups"))
        if self.latency_matrix_ns is not None:
            rows.append(("node pairs", -1, "explicit latency_matrix_ns"))
            return rows
        rows.append(("same node", lat.node or 0, "other L3 group" if h and h.l3_groups else "any two CPUs"))
        pairs: dict[int, int] = {}
        n = len(self.nodes)
        for i in range(n):
            for j in range(i + 1, n):
                pairs[self.distance[i][j]] = pairs.get(self.distance[i][j], 0) + 1
        for d in sorted(pairs):
            rows.append((f"SLIT {d}", (lat.remote or {})[d], f"{pairs[d]} node pairs"))
        return rows

    def summary_cpus(self, node: int) -> str:
        return format_cpulist(self.nodes[node].cpus)
