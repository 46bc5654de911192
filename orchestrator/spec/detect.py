"""Build a topology spec of the running machine from sysfs (/sys/devices/system/{node,cpu})."""

from __future__ import annotations

import os
import re
import socket as socketlib
from pathlib import Path

from orchestrator.errors import UserError
from orchestrator.spec.cpulist import parse_cpulist
from orchestrator.spec.default_latency import default_latency
from orchestrator.spec.loader import validate
from orchestrator.spec.topology import Topology


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpulist(path: Path) -> list[int]:
    text = _read(path)
    return parse_cpulist(text) if text else []


def _groups(cpus: list[int], cpu_root: Path, relative: str) -> list[list[int]]:
    """Distinct multi-CPU groups named by a per-CPU cpulist file, restricted to `cpus`."""
    known, seen, groups = set(cpus), set(), []
    for cpu in cpus:
        members = tuple(c for c in _cpulist(cpu_root / f"cpu{cpu}" / relative) if c in known)
        if len(members) > 1 and members not in seen:
            seen.add(members)
            groups.append(list(members))
    return groups


def _l3_file(cpu_root: Path, cpu: int) -> str | None:
    for index in sorted((cpu_root / f"cpu{cpu}" / "cache").glob("index*")):
        if _read(index / "level") == "3":
            return f"cache/{index.name}/shared_cpu_list"
    return None


def _fits(groups: list[list[int]], node_of: dict[int, int]) -> bool:
    return all(len({node_of[c] for c in g}) == 1 for g in groups)


def detect(sys_root: Path = Path("/sys"), notes: list[str] | None = None) -> Topology:
    """Read the machine's NUMA layout; `notes` collects what had to be assumed."""
    notes = notes if notes is not None else []
    node_root = sys_root / "devices/system/node"
    cpu_root = sys_root / "devices/system/cpu"

    node_dirs = sorted((p for p in node_root.glob("node*") if re.fullmatch(r"node\d+", p.name)),
                       key=lambda p: int(p.name[4:]))
    nodes, distance = [], []
    if node_dirs:
        rows = [[int(v) for v in (_read(d / "distance") or "").split()] for d in node_dirs]
        keep = [i for i, d in enumerate(node_dirs) if _cpulist(d / "cpulist")]
        if len(keep) < len(node_dirs):
            notes.append(f"left out {len(node_dirs) - len(keep)} node(s) without CPUs (memory only)")
        nodes = [_cpulist(node_dirs[i] / "cpulist") for i in keep]
        if all(len(r) == len(node_dirs) for r in rows):
            distance = [[rows[i][j] for j in keep] for i in keep]
        else:
            notes.append("no usable SLIT distances in sysfs: assumed 10 local / 20 remote")
            distance = [[10 if i == j else 20 for j in range(len(keep))] for i in range(len(keep))]
    if not nodes:
        online = _read(cpu_root / "online")
        cpus = parse_cpulist(online) if online else list(range(os.cpu_count() or 1))
        notes.append(f"no NUMA information under {node_root}: one node with all {len(cpus)} online CPUs")
        nodes, distance = [cpus], [[10]]

    all_cpus = [c for node in nodes for c in node]
    node_of = {c: n for n, node in enumerate(nodes) for c in node}
    smt = _groups(all_cpus, cpu_root, "topology/thread_siblings_list")
    l3_rel = _l3_file(cpu_root, all_cpus[0])
    l3 = _groups(all_cpus, cpu_root, l3_rel) if l3_rel else []
    if not _fits(l3, node_of):
        notes.append("an L3 spans several nodes: L3 groups left out")
        l3 = []
    if not _fits(smt, node_of):
        smt = []

    packages = [_read(cpu_root / f"cpu{node[0]}" / "topology/physical_package_id") for node in nodes]
    socket_of_node = None
    known = [p for p in packages if p is not None]
    if len(known) == len(packages):
        ids = sorted(set(known), key=lambda p: int(p))
        socket_of_node = [ids.index(p) for p in known]

    hierarchy: dict = {}
    if socket_of_node is not None:
        hierarchy["sockets"] = [[n for n, s in enumerate(socket_of_node) if s == k]
                                for k in range(max(socket_of_node) + 1)]
    if l3:
        hierarchy["l3_groups"] = l3
    if smt:
        hierarchy["smt_siblings"] = smt
    notes.append("latencies are the default tiers of orch docs sources, not measured here: edit latency_ns")
    spec = {
        "name": "detected-" + re.sub(r"[^A-Za-z0-9_.-]", "-", socketlib.gethostname() or "host"),
        "description": f"Detected from {sys_root} with orch topology detect",
        "sources": [f"{node_root} and {cpu_root} (shape); default latency tiers (core-to-core-latency result files)"],
        "nodes": [{"cpus": cpus} for cpus in nodes],
        "distance": distance,
        "latency_ns": default_latency(distance, socket_of_node, bool(smt), bool(l3)),
    }
    if hierarchy:
        spec["hierarchy"] = hierarchy
    try:
        return validate(Topology, spec, "detect")
    except UserError as exc:
        raise UserError(str(sys_root), exc.field, f"sysfs describes an invalid topology: {exc.message}") from None
