"""Parse `numactl --hardware` text into a topology spec."""

from __future__ import annotations

import re
from typing import Any

from orchestrator.errors import UserError
from orchestrator.spec.cpulist import format_cpulist
from orchestrator.spec.default_latency import default_latency
from orchestrator.spec.loader import validate
from orchestrator.spec.topology import Topology

_CPUS = re.compile(r"^node\s+(\d+)\s+cpus:(.*)$")
_ROW = re.compile(r"^\s*(\d+):\s*(.*)$")


def _smt_siblings(cpus: dict[int, list[int]], threads: int, source: str) -> list[list[int]]:
    """SMT groups for `threads` threads per core; numactl output says nothing about SMT.

    Linux on x86 numbers the first thread of every core before any second thread, so
    with C CPUs and N = threads, cpu i, i + C/N, i + 2C/N ... are one core's threads (i < C/N).
    """
    if threads < 1:
        raise UserError(source, "--threads-per-core", f"must be at least 1, got {threads}")
    if threads == 1:
        return []
    node_of = {c: n for n, node in cpus.items() for c in node}
    ordered = sorted(node_of)  # = 0..C-1 when no CPU is offline
    if len(ordered) % threads:
        raise UserError(source, "--threads-per-core",
                        f"{len(ordered)} CPUs do not split into cores of {threads} threads")
    cores = len(ordered) // threads
    groups = [ordered[i::cores] for i in range(cores)]
    for group in groups:
        if len({node_of[c] for c in group}) > 1:
            raise UserError(source, "--threads-per-core",
                            f"CPUs {format_cpulist(group)} would be one core but sit in nodes "
                            f"{sorted({node_of[c] for c in group})}: not Linux's x86 SMT numbering")
    return groups


def parse_numactl(text: str, source: str, name: str = "imported",
                  notes: list[str] | None = None, threads_per_core: int = 1) -> Topology:
    notes = notes if notes is not None else []
    cpus: dict[int, list[int]] = {}
    header: list[int] | None = None
    rows: dict[int, list[int]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        where = f"line {lineno}"
        if m := _CPUS.match(line.strip()):
            try:
                cpus[int(m.group(1))] = [int(c) for c in m.group(2).split()]
            except ValueError:
                raise UserError(source, where, f"bad CPU list: {m.group(2).strip()!r}") from None
        elif line.strip().startswith("node distances"):
            header = []
        elif header == [] and line.strip().startswith("node"):
            try:
                header = [int(v) for v in line.split()[1:]]
            except ValueError:
                raise UserError(source, where, "bad distance header") from None
        elif header and (m := _ROW.match(line)):
            try:
                rows[int(m.group(1))] = [int(v) for v in m.group(2).split()]
            except ValueError:
                raise UserError(source, where, "bad distance row") from None
    if not cpus:
        raise UserError(source, "node N cpus", "no 'node N cpus:' lines: is this `numactl --hardware` output?")
    if not header:
        raise UserError(source, "node distances", "missing the 'node distances:' table")
    for node in cpus:
        if node not in header:
            raise UserError(source, "node distances", f"no column for node {node}")
        if len(rows.get(node, [])) != len(header):
            raise UserError(source, "node distances", f"row of node {node} is missing or has the wrong length")
    keep = sorted(n for n in cpus if cpus[n])
    if len(keep) < len(cpus):
        notes.append(f"left out {len(cpus) - len(keep)} node(s) without CPUs (memory only)")
    col = {n: header.index(n) for n in keep}
    distance = [[rows[i][col[j]] for j in keep] for i in keep]
    smt = _smt_siblings({n: cpus[n] for n in keep}, threads_per_core, source)
    smt_note = (f"SMT siblings assumed from --threads-per-core {threads_per_core} (Linux x86 numbering)"
                if smt else "no SMT siblings (numactl output has none: see --threads-per-core)")
    notes.append(f"no socket or L3 data in numactl output; {smt_note}; latencies are the default tiers "
                 "of orch docs sources (SLIT <= 16 taken as same socket): edit latency_ns")
    spec: dict[str, Any] = {
        "name": name,
        "description": f"Imported from numactl --hardware output ({source})",
        "sources": [f"numactl --hardware ({source}); default latency tiers (core-to-core-latency result files)"],
        "nodes": [{"cpus": cpus[n]} for n in keep],
        "distance": distance,
        "latency_ns": default_latency(distance, None, smt=bool(smt), l3=False),
    }
    if smt:
        spec["hierarchy"] = {"smt_siblings": smt}
        spec["sources"].append(f"SMT siblings from --threads-per-core {threads_per_core} (Linux x86 numbering)")
    return validate(Topology, spec, source)
