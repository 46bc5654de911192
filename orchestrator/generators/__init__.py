"""Workload generators, one file per kind; presets live in the top-level workloads/ folder."""

from __future__ import annotations

from orchestrator.generators.base import Generator
from orchestrator.generators.closed_loop import ClosedLoop
from orchestrator.generators.doexec import Doexec
from orchestrator.generators.execl import Execl
from orchestrator.generators.mmap_churn import MmapChurn
from orchestrator.generators.spawn import Spawn
from orchestrator.generators.stress_ng_spawn import StressNgSpawn
from orchestrator.generators.sysexec import Sysexec

GENERATORS: dict[str, type[Generator]] = {
    g.kind: g for g in (ClosedLoop, Execl, Spawn, Sysexec, StressNgSpawn, Doexec, MmapChurn)}
