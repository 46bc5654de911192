"""Workload generators, one file per kind; presets live in the top-level workloads/ folder."""

from __future__ import annotations

from orchestrator.generators.base import Generator
from orchestrator.generators.closed_loop import ClosedLoop

GENERATORS: dict[str, type[Generator]] = {g.kind: g for g in (ClosedLoop,)}
